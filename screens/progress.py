"""What is applying now: each running step with its last AWS status and elapsed time, and a
log of every event. Steps that apply at the same time show as one "in parallel" line.

A wait reports the same status every few seconds; the log shows it once, and the running line
counts the repeats and the time since the first, in place."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from rich.markup import escape
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import RichLog, Static

from wizard.checklist import CHECKLIST
from wizard.runner import StepEvent

_ELAPSED = re.compile(r"\s*\(\d+(\.\d+)? s\)$")
"""The elapsed time a waiting status ends with ("creating (12 s)"): the running line has it."""


def without_elapsed(message: str) -> str:
    """A progress message without its trailing elapsed time, to tell a repeat from news."""
    return _ELAPSED.sub("", message)


class ApplyProgress(Vertical):
    """Live progress of the applies running in the background."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.running: dict[str, tuple[float, str]] = {}
        """Each running step: when it started and its last progress message."""
        self.clock: Callable[[], float] = time.monotonic
        """Where elapsed times come from (a picture of this widget fixes it)."""
        self.repeats: dict[str, tuple[int, float]] = {}
        """Each running step's last message: how many times it came, and when it first did."""

    def compose(self) -> ComposeResult:
        yield Static("Nothing is applying.", id="running")
        yield RichLog(id="log", wrap=True, markup=True, max_lines=2000)

    def on_mount(self) -> None:
        self.set_interval(1.0, self._tick)

    def record(self, event: StepEvent) -> None:
        """Show one event of the runner."""
        title = CHECKLIST[event.step]
        if event.kind == "started":
            self.running[event.step] = (self.clock(), "starting")
            self.repeats.pop(event.step, None)
            self._log(f"[{self._colour('accent')}]start[/]   {title}")
        elif event.kind == "progress":
            started, last = self.running.get(event.step, (self.clock(), ""))
            message = without_elapsed(event.message)
            if message == last:  # the same status again: counted on the running line only
                count, first = self.repeats.get(event.step, (1, self.clock()))
                self.repeats[event.step] = (count + 1, first)
            else:
                self.repeats[event.step] = (1, self.clock())
                self._log(f"[dim]…[/]       {title}: {escape(message)}")
            self.running[event.step] = (started, message)
        elif event.kind == "applied":
            self.running.pop(event.step, None)
            self._log(f"[{self._colour('success')}]applied[/] {title} ({event.elapsed:.1f} s)")
        elif event.kind == "failed":
            self.running.pop(event.step, None)
            self._log(f"[{self._colour('error')}]failed[/]  {title}: {escape(event.message)}")
        elif event.kind == "skipped":
            self.running.pop(event.step, None)
            self._log(f"[{self._colour('warning')}]waits[/]   {title}: {escape(event.message)}")
        self._tick()

    def _repeated(self, step: str) -> str:
        """How often, and for how long, a step's last message has come ("" for once)."""
        count, first = self.repeats.get(step, (1, 0.0))
        return f" ({count} times, for {self.clock() - first:.0f} s)" if count > 1 else ""

    def _colour(self, variable: str) -> str:
        """A theme colour for the log's Rich markup (the log is Rich, not Textual, content)."""
        return self.app.theme_variables.get(variable, "default")

    def _log(self, line: str) -> None:
        self.query_one("#log", RichLog).write(line)

    def _tick(self) -> None:
        now = self.clock()
        if not self.running:
            text = "Nothing is applying."
        else:
            header = "Applying in parallel:" if len(self.running) > 1 else "Applying:"
            rows = [
                f"  ◌ {CHECKLIST[name]:<24} {now - started:5.0f} s  {message}{self._repeated(name)}"
                for name, (started, message) in self.running.items()
            ]
            text = "\n".join([header, *rows])
        self.query_one("#running", Static).update(text)
