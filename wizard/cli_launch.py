"""The commands that talk to AWS: `plan`, `apply`, `status`.

Imported only when one of them runs, so `render` never loads boto3 or rich.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console

from wizard.config import LaunchConfig
from wizard.engine import Launch, account_of, apply_launch, connect, open_state, plan_step
from wizard.errors import BadInput
from wizard.report import EventPrinter, print_plans, print_status
from wizard.runner import order
from wizard.state import StateFile
from wizard.steps import GRAPH
from wizard.steps.base import StepPlan

EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130


def plan_command(args: argparse.Namespace, config: LaunchConfig) -> int:
    """What apply would do, with read-only AWS calls only."""
    console = Console()
    launch = connect(config, read_only=True)
    if args.state and Path(args.state).exists():
        launch.state = StateFile.open(args.state, launch=config.name)
        launch.state.check_target(launch.account_id, launch.aws.region)
    print_plans(console, _plans(launch))
    mutating = launch.aws.recorder.mutating()
    assert not mutating, mutating  # the guard refuses them; this would be a bug
    return EXIT_OK


def apply_command(args: argparse.Namespace, config: LaunchConfig) -> int:
    """Apply the launch (or walk it read-only with --dry-run)."""
    console = Console()
    if args.dry_run:
        launch = connect(config, read_only=True)
        print_plans(console, _plans(launch))
        console.print("[bold]dry run[/]: nothing was changed")
        return EXIT_OK
    launch = connect(config, read_only=False)
    launch.yes = args.yes
    state_path = Path(args.state)
    launch.state = open_state(launch, state_path)
    with launch.state.lock(f"airflow-ecs-wizard apply --config {args.config}"):
        plans = _plans(launch)
        problems = print_plans(console, plans)
        if problems:
            console.print("[yellow]steps with problems will fail; the others go ahead[/]")
        if not args.yes:
            _confirm(console, sum(len(plan.consents) for plan in plans.values()))
            launch.yes = True  # confirmed here, with the consents listed: as --yes
        with _first_ctrl_c_stops(console, launch):
            result = apply_launch(launch, only=args.only, on_event=EventPrinter(console))
    if launch.aws.stop.is_set():
        command = ["airflow-ecs-wizard", "apply", "--config", args.config, "--state", state_path]
        resume = shlex.join([*map(str, command), "--yes"])
        console.print(
            f"[yellow]interrupted[/]: applied {', '.join(result.applied) or 'nothing'}; "
            f"state saved in {state_path}. Resume with:\n  {resume}",
            highlight=False,
            soft_wrap=True,
        )
        return EXIT_INTERRUPTED
    if result.ok:
        pending = [name for name in GRAPH if name not in launch.state.applied_steps()]
        if pending:
            console.print(
                f"applied {', '.join(result.applied)}; still to apply: {', '.join(pending)} "
                f"(run apply without --only to continue)",
                highlight=False,
            )
        else:
            _summary(console, launch, args.config, state_path)
        return EXIT_OK
    for name, error in result.failed.items():
        console.print(f"[bold red]{name} failed[/]: {error}", highlight=False)
        hint = getattr(error, "hint", "")
        if hint:
            console.print(f"  {hint}", highlight=False)
    if result.skipped:
        console.print(f"[yellow]not run[/]: {', '.join(result.skipped)}")
    console.print(
        f"state saved in {state_path}; run the same command again to resume where it stopped"
    )
    return EXIT_FAILED


@contextmanager
def _first_ctrl_c_stops(console: Console, launch: Launch) -> Iterator[None]:
    """The first Ctrl-C stops starting new work: no new step, no new AWS call, every wait
    ends at once, the calls under way finish and the state is saved. A second one quits at
    once (KeyboardInterrupt), as before."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach the main thread only
        return

    def first(signum: int, frame: object) -> None:
        if launch.aws.stop.is_set():
            raise KeyboardInterrupt
        launch.aws.stop.set()
        console.print(
            "[yellow]stopping[/]: letting the AWS calls under way finish and saving the "
            "state (Ctrl-C again to quit at once)",
            highlight=False,
        )

    previous = signal.signal(signal.SIGINT, first)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def status_command(args: argparse.Namespace) -> int:
    """Show a launch's state; no AWS call."""
    state = StateFile.open(args.state)
    if args.json:
        sys.stdout.write(state.state.model_dump_json(indent=2) + "\n")
    else:
        print_status(Console(), state)
    return EXIT_OK


def _plans(launch: Launch) -> dict[str, StepPlan]:
    """Every step's plan; a step that cannot be planned yet shows why instead of stopping."""
    return {name: plan_step(launch, name) for name in order(GRAPH)}


def _confirm(console: Console, consents: int = 0) -> None:
    """Ask before apply; a yes is also the consent to the plan's `consent` lines."""
    if not sys.stdin.isatty():
        raise BadInput(
            "apply changes AWS and needs a confirmation",
            title="Not confirmed",
            hint="Review `plan`, then run apply with --yes (nothing was changed).",
        )
    owned = (
        f", including the {consents} to what this launch does not own (consent above)"
        if consents
        else ""
    )
    answer = console.input(f"Apply these changes{owned}? [y/N] ").strip().lower()
    if answer not in {"y", "yes"}:
        raise BadInput("you did not confirm", title="Not applied", hint="Nothing was changed.")


def _asker(console: Console) -> Callable[[str], bool] | None:
    """A yes/no question on the terminal (None when there is no terminal to ask on)."""
    if not sys.stdin.isatty():
        return None

    def ask(question: str) -> bool:
        return console.input(f"{question} [y/N] ").strip().lower() in {"y", "yes"}

    return ask


def _summary(console: Console, launch: Launch, config_path: Path, state_path: Path) -> None:
    from wizard.summary import summarize

    assert launch.state is not None
    summary = summarize(launch.config, launch.state, config_path=config_path, state_path=state_path)
    console.rule(summary.headline, style="green" if summary.up else "yellow")
    for step in summary.next_steps:
        console.print(f"  - {step}", highlight=False, markup=False)
    if summary.web_url:
        console.print(f"Airflow UI: {summary.web_url}")
    if summary.password_command:
        console.print(
            f"Log in as {summary.admin_username}; the password is in SSM:\n"
            f"  {summary.password_command}",
            highlight=False,
        )
    for warning in summary.warnings:
        console.print(f"[yellow]Warning:[/] {warning}", highlight=False)
    console.print(f"State: {state_path}")
    console.print(f"Replay headless: {summary.replay_command}", highlight=False)


def destroy_command(args: argparse.Namespace) -> int:
    """Delete what the launch created, newest first, after confirmation."""
    from wizard.aws import Aws
    from wizard.connection import settings_for_state
    from wizard.destroy import destroy, targets

    console = Console()
    state = StateFile.open(args.state)
    settings = settings_for_state(
        state,
        profile=args.profile or "",
        region=args.region or "",
        endpoint_url=args.endpoint_url or "",
        ask=_asker(console),
    )
    aws = Aws(settings)
    state.check_target(account_of(aws), aws.region)
    with state.lock("airflow-ecs-wizard destroy"):
        delete, keep = targets(state, delete_data=args.delete_data)
        for resource in delete:
            console.print(f"  [red]delete[/] {resource.kind} {resource.id}", highlight=False)
        for resource in keep:
            console.print(f"  [dim]keep[/]   {resource.kind} {resource.id}", highlight=False)
        if keep:
            console.print("[dim]kept: data (add --delete-data to delete it too)[/]")
        if not delete:
            console.print("nothing to delete")
            return EXIT_OK
        if not args.yes:
            _confirm(console)
        result = destroy(aws, state, delete_data=args.delete_data, progress=console.print)
    for resource, error in result.failed:
        console.print(
            f"[red]not deleted[/] {resource.kind} {resource.id}: {error}", highlight=False
        )
    console.print(
        f"deleted {len(result.deleted)}, kept {len(result.kept)}, failed {len(result.failed)}"
    )
    return EXIT_FAILED if result.failed else EXIT_OK
