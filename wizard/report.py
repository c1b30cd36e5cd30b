"""How the headless commands show plans, progress and status on a terminal (rich)."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from wizard.runner import StepEvent
from wizard.steps import STEPS

if TYPE_CHECKING:
    from wizard.state import StateFile
    from wizard.steps.base import StepPlan

VERB_STYLE = {"create": "green", "update": "yellow", "no-op": "dim", "check": "cyan"}
EVENT_STYLE = {
    "started": "bold",
    "progress": "dim",
    "applied": "green",
    "failed": "bold red",
    "skipped": "yellow",
}


def print_plans(console: Console, plans: dict[str, StepPlan], *, show_diffs: bool = True) -> int:
    """Print every step's plan; return how many problems block apply.

    Each step shows what apply does by itself (its actions), what it changes only with the
    user's consent (`consent`: confirming, or --yes), and what only the user can do
    (`problem`); the last line counts each kind.
    """
    changes = consents = problems = 0
    for name, plan in plans.items():
        console.rule(f"[bold]{STEPS[name].title}[/] ({name})", align="left")
        for action in plan.actions:
            style = VERB_STYLE[action.verb]
            detail = f" [dim]({action.detail})[/]" if action.detail else ""
            console.print(
                f"  [{style}]{action.verb:6}[/] {action.kind} {action.name}{detail}",
                highlight=False,
            )
            if show_diffs and action.diff:
                console.print(action.diff, style="dim", markup=False, highlight=False)
        for artifact in plan.artifacts:
            console.print(f"  [dim]artifact[/] {artifact}", highlight=False)
        for warning in plan.warnings:
            console.print(f"  [yellow]warning[/] {warning}", highlight=False)
        for consent in plan.consents:
            console.print(f"  [bold magenta]consent[/] {consent}", highlight=False)
        for problem in plan.problems:
            console.print(f"  [bold red]problem[/] {problem}", highlight=False)
        changes += len(plan.changes)
        consents += len(plan.consents)
        problems += len(plan.problems)
    console.print(f"\n{plan_totals(changes, consents, problems)}", highlight=False)
    return problems


def plan_totals(changes: int, consents: int, problems: int) -> str:
    """The plan's last line: what apply does, what needs consent, what only the user can do."""
    parts = [f"{changes} change(s) to apply"]
    if consents:
        parts.append(
            f"{consents} of them need your consent (to what this launch does not own: "
            "confirm when apply asks, or run apply --yes)"
        )
    if problems:
        parts.append(f"{problems} problem(s) only you can fix, first")
    return "; ".join(parts)


class EventPrinter:
    """Prints the runner's events as they come, from any thread, with elapsed time."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._lock = threading.Lock()
        self._start = time.monotonic()

    def __call__(self, event: StepEvent) -> None:
        clock = time.monotonic() - self._start
        style = EVENT_STYLE[event.kind]
        message = f" {event.message}" if event.message else ""
        elapsed = (
            f" [dim]({event.elapsed:.0f}s)[/]" if event.kind in ("applied", "progress") else ""
        )
        with self._lock:
            self.console.print(
                f"[dim]{clock:6.1f}s[/] {event.step:16} [{style}]{event.kind}[/]{message}{elapsed}",
                highlight=False,
            )


def print_status(console: Console, state: StateFile) -> None:
    """The state of a launch, one row per step."""
    table = Table(
        title=f"launch {state.state.launch} ({state.state.account_id}, {state.state.region})"
    )
    for column in ("step", "status", "resources", "last error"):
        table.add_column(column)
    rows = {row[0]: row for row in state.summary_rows()}
    for name in STEPS:
        _, status, resources, error = rows.get(name, (name, "pending", 0, ""))
        style = {"applied": "green", "failed": "red"}.get(status, "")
        table.add_row(name, f"[{style}]{status}[/]" if style else status, str(resources), error)
    console.print(table)
    launch = state.state
    if launch.endpoint_url or launch.profile:
        where = launch.endpoint_url or "AWS"
        profile = f", profile {launch.profile}" if launch.profile else ""
        console.print(f"endpoint: {where}{profile}", highlight=False)
    if launch.destroyed:
        from wizard.destroy import targets

        left = len(targets(state, delete_data=False)[0])
        console.print(
            f"destroyed: {len(launch.destroyed)} resource(s) deleted"
            + (f"; {left} still recorded (run destroy again to finish)" if left else ""),
            highlight=False,
        )
        for resource in launch.destroyed:
            console.print(f"  [dim]gone[/] {resource.kind} {resource.id}", highlight=False)
