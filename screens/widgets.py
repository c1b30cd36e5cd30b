"""Widgets every screen shares: the dry-run banner and the list of steps with their status."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from textual.content import Content
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Label, ListItem, ListView, Static

from wizard.checklist import CHECKLIST

GLYPHS = {
    "pending": "○",
    "previewed": "◐",
    "running": "◌",
    "applied": "●",
    "failed": "✗",
    "skipped": "-",
}


def display_path(path: Path) -> str:
    """A path as the user would type it: relative to the current folder when inside it, under
    `~` when in the home folder, else absolute."""
    path = path.absolute()
    for base, prefix in ((Path.cwd(), ""), (Path.home(), "~/")):
        try:
            relative = path.relative_to(base)
        except ValueError:
            continue
        return f"{prefix}{relative}" if str(relative) != "." else (prefix.rstrip("/") or ".")
    return str(path)


def command_path(path: Path) -> str:
    """A path for a command the user copies: relative to the current folder when inside it."""
    path = path.absolute()
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


STATUS_STYLES = {
    "applied": "$success",
    "failed": "$error",
    "running": "bold $accent",
    "previewed": "$warning",
}


class DryRunBanner(Static):
    """Says "dry run" on every screen of a dry run (hidden otherwise)."""

    def __init__(self) -> None:
        super().__init__(
            "DRY RUN: every step is previewed, nothing is applied (AWS is read-only)",
            id="dry-run-banner",
        )

    def on_mount(self) -> None:
        options = getattr(self.app, "options", None)
        self.display = bool(getattr(options, "dry_run", False))


class Checklist(Static):
    """The runbook's checklist as text: every step with its status (one widget, so the start
    screen's first frame stays cheap)."""

    def show(self, statuses: Mapping[str, str]) -> None:
        """Show each step's status."""
        lines = []
        for name, title in CHECKLIST.items():
            status = statuses.get(name, "pending")
            lines.append(
                Content.assemble(
                    (f"{GLYPHS.get(status, '?')} ", STATUS_STYLES.get(status, "")),
                    f"{title}  ",
                    (status, "$text-muted"),
                )
            )
        self.update(Content("\n").join(lines))


class StepItem(ListItem):
    """One step of the checklist: a status glyph, its title and its status."""

    status: reactive[str] = reactive("pending")
    """pending, previewed, running, applied, failed or skipped."""

    def __init__(self, name: str) -> None:
        super().__init__(Label(id=f"label-{name}"), id=f"step-{name}")
        self.step_name = name

    def watch_status(self, status: str) -> None:
        for known in GLYPHS:
            self.set_class(status == known, f"-{known}")
        label = self.query_one(Label)
        label.update(f"{GLYPHS.get(status, '?')} {CHECKLIST[self.step_name]}")
        self.tooltip = status

    def on_mount(self) -> None:
        self.watch_status(self.status)


class StepList(ListView):
    """Every step of the runbook in the engine's order, with its status."""

    class StepChosen(Message):
        """The user picked a step (Enter or a click)."""

        def __init__(self, step: str) -> None:
            super().__init__()
            self.step = step

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(*(StepItem(name) for name in CHECKLIST), id=id)

    def show(self, statuses: Mapping[str, str]) -> None:
        """Show each step's status."""
        for item in self.query(StepItem):
            item.status = statuses.get(item.step_name, "pending")

    def highlight(self, step: str) -> None:
        """Move the highlight to a step."""
        self.index = list(CHECKLIST).index(step)

    def on_list_view_selected(self, event: ListView.Selected) -> None:
        event.stop()
        if isinstance(event.item, StepItem):
            self.post_message(self.StepChosen(event.item.step_name))
