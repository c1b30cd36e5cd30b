"""The step runner: dependency order, independent steps at the same time, failures isolated."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from wizard.errors import WizardError
from wizard.runner import StepEvent, order, run_steps

# DESIGN.md's graph
GRAPH = {
    "account": [],
    "network": ["account"],
    "iam": ["account"],
    "s3_layout": ["account"],
    "bootstrap": ["s3_layout"],
    "database": ["network"],
    "redis": ["network"],
    "image": ["account"],
    "secrets": ["account"],
    "cluster": ["network", "iam", "bootstrap"],
    "task_definitions": ["secrets", "database", "redis", "image", "iam"],
    "services": ["cluster", "task_definitions"],
}


def test_order_puts_dependencies_first() -> None:
    ordered = order(GRAPH)
    for step, deps in GRAPH.items():
        assert all(ordered.index(dep) < ordered.index(step) for dep in deps)


def test_cycles_and_unknown_dependencies_are_refused() -> None:
    with pytest.raises(WizardError, match="cycle"):
        order({"a": ["b"], "b": ["a"]})
    with pytest.raises(WizardError, match="unknown step"):
        order({"a": ["ghost"]})


def _recorder() -> tuple[list[StepEvent], Callable[[StepEvent], None]]:
    events: list[StepEvent] = []
    lock = threading.Lock()

    def sink(event: StepEvent) -> None:
        with lock:
            events.append(event)

    return events, sink


def test_independent_long_waits_run_at_the_same_time() -> None:
    # database, redis, s3_layout and image each wait for all four to be running at once:
    # if the runner ran them one after another, the barrier would break and the steps fail.
    barrier = threading.Barrier(4, timeout=10)
    applied: list[str] = []

    def apply(name: str, progress: Callable[[str], None]) -> None:
        if name in {"database", "redis", "s3_layout", "image"}:
            progress("waiting for the others")
            barrier.wait()
        applied.append(name)

    events, sink = _recorder()
    result = run_steps(GRAPH, apply, on_event=sink)
    assert result.ok and sorted(result.applied) == sorted(GRAPH)
    assert applied.index("services") == len(GRAPH) - 1
    assert sum(1 for e in events if e.kind == "progress") == 4


def test_a_failure_stops_its_dependents_and_nothing_else() -> None:
    def apply(name: str, progress: Callable[[str], None]) -> None:
        if name == "redis":
            raise WizardError("replication group create failed: quota exceeded")

    events, sink = _recorder()
    result = run_steps(GRAPH, apply, on_event=sink)
    assert set(result.failed) == {"redis"}
    assert sorted(result.skipped) == ["services", "task_definitions"]
    assert "cluster" in result.applied and "database" in result.applied
    skipped = {e.step: e.message for e in events if e.kind == "skipped"}
    assert skipped["task_definitions"] == "waits for redis, which failed"
    assert skipped["services"] == "waits for task_definitions, which did not apply"
    failed = [e for e in events if e.kind == "failed"]
    assert failed[0].message == "replication group create failed: quota exceeded"


def test_done_steps_are_not_run_again_and_only_runs_the_named() -> None:
    ran: list[str] = []
    run_steps(GRAPH, lambda name, _: ran.append(name), done=["account", "network", "iam"])
    assert not {"account", "network", "iam"} & set(ran) and len(ran) == len(GRAPH) - 3
    ran.clear()
    result = run_steps(GRAPH, lambda name, _: ran.append(name), only=["image"], done=["account"])
    assert ran == ["image"] and result.ok
    ran.clear()
    result = run_steps(GRAPH, lambda name, _: ran.append(name), only=["cluster"], done=["account"])
    assert ran == [] and result.skipped == ["cluster"]


def test_once_stopped_no_further_step_starts() -> None:
    stop = threading.Event()
    ran: list[str] = []

    def apply(name: str, progress: Callable[[str], None]) -> None:
        ran.append(name)
        if name == "a":
            stop.set()  # Ctrl-C while a runs: a finishes, nothing after it starts

    events: list[StepEvent] = []
    result = run_steps({"a": [], "b": ["a"], "c": ["b"]}, apply, on_event=events.append, stop=stop)
    assert ran == ["a"] and result.applied == ["a"]
    assert result.skipped == ["b", "c"] and not result.ok
    skipped = [(e.step, e.message) for e in events if e.kind == "skipped"]
    assert skipped == [("b", "not started: interrupted"), ("c", "not started: interrupted")]
