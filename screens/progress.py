"""What is applying now: each running step with its last AWS status and elapsed time, and a
log of every event. Steps that apply at the same time show as one "in parallel" line."""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.markup import escape
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import RichLog, Static

from wizard.checklist import CHECKLIST
from wizard.runner import StepEvent


class ApplyProgress(Vertical):
    """Live progress of the applies running in the background."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.running: dict[str, tuple[float, str]] = {}
        """Each running step: when it started and its last progress message."""
        self.clock: Callable[[], float] = time.monotonic
        """Where elapsed times come from (a picture of this widget fixes it)."""

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
            self._log(f"[{self._colour('accent')}]start[/]   {title}")
        elif event.kind == "progress":
            started = self.running.get(event.step, (self.clock(), ""))[0]
            self.running[event.step] = (started, event.message)
            self._log(f"[dim]…[/]       {title}: {escape(event.message)}")
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
                f"  ◌ {CHECKLIST[name]:<24} {now - started:5.0f} s  {message}"
                for name, (started, message) in self.running.items()
            ]
            text = "\n".join([header, *rows])
        self.query_one("#running", Static).update(text)
