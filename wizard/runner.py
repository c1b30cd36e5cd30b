"""Runs steps in dependency order, independent ones at the same time, and reports events.

A launch takes about as long as its longest chain of AWS waits, not their sum: the S3 layout,
database, Redis and image steps do not wait on each other, and the cluster waits only for what
its instances need at boot. One failed step stops what depends on it; everything independent
of it still finishes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Literal

from wizard.errors import WizardError, failure_text

EventKind = Literal["started", "progress", "applied", "failed", "skipped"]


@dataclass(frozen=True)
class StepEvent:
    """Something that happened to one step, for the CLI's progress or the TUI's log."""

    step: str
    kind: EventKind
    message: str = ""
    elapsed: float = 0.0


EventSink = Callable[[StepEvent], None]
StepFunction = Callable[[str, Callable[[str], None]], None]
"""Applies one step: called with its name and a `progress(message)` callback."""


@dataclass
class RunResult:
    """How a run ended: which steps applied, failed (with why) and were skipped."""

    applied: list[str] = field(default_factory=list)
    failed: dict[str, BaseException] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every step applied."""
        return not self.failed and not self.skipped


def order(graph: Mapping[str, Iterable[str]]) -> list[str]:
    """The steps in an order where each comes after everything it depends on.

    Raises:
        WizardError: a dependency is unknown or the graph has a cycle.
    """
    remaining = {name: set(deps) for name, deps in graph.items()}
    for name, deps in remaining.items():
        unknown = deps - set(remaining)
        if unknown:
            raise WizardError(f"step {name} depends on unknown step(s) {sorted(unknown)}")
    ordered: list[str] = []
    while remaining:
        ready = [name for name, deps in remaining.items() if deps <= set(ordered)]
        if not ready:
            raise WizardError(f"the steps {sorted(remaining)} depend on each other in a cycle")
        for name in ready:  # keep the graph's own order among steps that are ready together
            ordered.append(name)
            del remaining[name]
    return ordered


def run_steps(
    graph: Mapping[str, Iterable[str]],
    apply: StepFunction,
    *,
    only: Iterable[str] | None = None,
    done: Iterable[str] = (),
    on_event: EventSink | None = None,
    max_workers: int = 8,
    stop: threading.Event | None = None,
) -> RunResult:
    """Apply the steps of `graph`, each as soon as everything it depends on has applied.

    Args:
        graph: each step and the steps it depends on.
        apply: applies one step (raises to fail it).
        only: apply just these steps (their dependencies must be done already).
        done: steps already applied in an earlier run: treated as satisfied, not run again.
        on_event: receives every event; called from worker threads, so it must be quick and
            thread-safe (post a message, print a line).
        max_workers: how many steps may run at once.
        stop: once set, no further step starts (those running are left to finish or stop).
    """
    order(graph)  # validates the graph before anything runs
    sink = on_event or (lambda event: None)
    satisfied = set(done)
    wanted = [name for name in graph if name not in satisfied]
    if only is not None:
        chosen = set(only)
        wanted = [name for name in graph if name in chosen]
    deps = {name: set(graph[name]) for name in graph}
    result = RunResult()
    blocked: set[str] = set()
    lock = threading.Lock()
    running: dict[Future[None], str] = {}

    def runnable() -> list[str]:
        if stop is not None and stop.is_set():
            return []
        started = set(running.values())
        return [
            name
            for name in wanted
            if name not in started
            and name not in result.applied
            and name not in result.failed
            and name not in blocked
            and deps[name] <= satisfied
        ]

    def work(name: str) -> None:
        started = time.monotonic()

        def progress(message: str) -> None:
            sink(StepEvent(name, "progress", message, time.monotonic() - started))

        sink(StepEvent(name, "started"))
        apply(name, progress)
        sink(StepEvent(name, "applied", elapsed=time.monotonic() - started))

    with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="step") as pool:
        while True:
            for name in runnable():
                running[pool.submit(work, name)] = name
            if not running:
                break
            finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for future in finished:
                name = running.pop(future)
                error = future.exception()
                with lock:
                    if error is None:
                        result.applied.append(name)
                        satisfied.add(name)
                    else:
                        result.failed[name] = error
                        sink(StepEvent(name, "failed", failure_text(error)))
                        _block_dependents(name, deps, wanted, blocked)
    for name in wanted:
        if name not in result.applied and name not in result.failed:
            result.skipped.append(name)
            reason = (
                "not started: interrupted"
                if stop is not None and stop.is_set()
                else _skip_reason(name, deps, result, satisfied)
            )
            sink(StepEvent(name, "skipped", reason))
    return result


def _block_dependents(
    failed: str, deps: Mapping[str, set[str]], wanted: list[str], blocked: set[str]
) -> None:
    frontier = {failed}
    while frontier:
        newly = {name for name in wanted if deps[name] & frontier and name not in blocked}
        blocked |= newly
        frontier = newly


def _skip_reason(
    name: str, deps: Mapping[str, set[str]], result: RunResult, satisfied: set[str]
) -> str:
    failed = sorted(deps[name] & set(result.failed))
    if failed:
        return f"waits for {', '.join(failed)}, which failed"
    missing = sorted(deps[name] - satisfied)
    return f"waits for {', '.join(missing)}, which did not apply"
