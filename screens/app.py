"""The wizard's Textual app: the start screen, one launch's steps, the summary.

The app owns the one place where a worker's failure becomes an error modal (screens pass their
workers' state changes to it, since those do not bubble), the key bindings
every screen shares (`ctrl+q` quits at once: the config and state are saved as the user goes)
and the command palette's entries. With `--sandbox` it starts the AWS emulator in a thread
worker after the first frame, so the start screen is interactive while the emulator boots.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from screens.modals import ErrorChoice, ErrorModal
from screens.start import StartScreen
from wizard.errors import WizardError, as_wizard_error
from wizard.launches import launches_folder

if TYPE_CHECKING:
    from wizard.sandbox import Sandbox


@dataclass(frozen=True)
class WizardOptions:
    """How the wizard was started (the command line's flags)."""

    sandbox: bool = False
    dry_run: bool = False
    state: Path | None = None
    config: Path | None = None
    folder: Path | None = None
    template: Path | None = None
    """New launches start from this config (default: the documented example)."""


class WizardApp(App[int]):
    """Walks an operator through every checklist item of the runbook."""

    CSS_PATH = "wizard.tcss"
    TITLE = "airflow-ecs-wizard"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "Quit", priority=True),
        Binding("f1", "help", "Help"),
    ]

    class SandboxReady(Message):
        """The emulator answers, is seeded, and has a launch config in `folder`."""

        def __init__(self, folder: Path, config_path: Path, resumed: bool) -> None:
            super().__init__()
            self.folder = folder
            self.config_path = config_path
            self.resumed = resumed

    def __init__(self, options: WizardOptions | None = None) -> None:
        super().__init__()
        self.options = options or WizardOptions()
        self.folder = self.options.folder or launches_folder()
        self.sandbox_config: Path | None = None
        """The sandbox's seeded launch config, once it is ready."""
        self.sandbox_folder: Path | None = None
        """Where the sandbox keeps its account and launches, once it is ready."""
        self._sandbox: Sandbox | None = None
        self.farewell = ""
        """What to print after the app exits: how to resume a launch quit half done."""
        if self.options.dry_run:
            self.sub_title = "DRY RUN: previews only, nothing is changed"

    def get_default_screen(self) -> Screen[Any]:
        # the start screen is the first and bottom screen: drawing it straight away, rather than
        # pushing it over an empty default screen, saves a whole layout and frame at startup
        return StartScreen()

    def on_mount(self) -> None:
        if self.options.sandbox:
            self.call_after_refresh(self.start_sandbox)
        self.call_after_refresh(self.warm_up)

    @work(thread=True, group="warm-up", exit_on_error=False, description="warm up")
    def warm_up(self) -> None:
        """After the first frame: the imports of the first preview, while the user reads."""
        from wizard.aws import warm_up

        warm_up()

    @work(thread=True, exclusive=True, group="sandbox", exit_on_error=False, description="sandbox")
    def start_sandbox(self) -> None:
        """Start and seed the emulator (seconds), then point this process at it."""
        from wizard.sandbox import Sandbox
        from wizard.sandbox_account import sandbox_home

        folder = self.options.folder or sandbox_home()
        sandbox = Sandbox(folder)
        sandbox.start()
        self._sandbox = sandbox
        os.environ.update(sandbox.environment())
        self.post_message(self.SandboxReady(folder, sandbox.config_path, sandbox.resumed))

    def on_wizard_app_sandbox_ready(self, message: SandboxReady) -> None:
        self.folder = message.folder / "launches"
        self.sandbox_config = message.config_path
        self.sandbox_folder = message.folder
        if isinstance(self.screen, StartScreen):
            self.screen.sandbox_ready(resumed=message.resumed)

    def on_unmount(self) -> None:
        if self._sandbox is not None:
            self._sandbox.stop()

    # One error handler for every worker

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        self.worker_state_changed(event)

    def worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A worker's failure as the error modal, with Retry when its node can run it again.

        `Worker.StateChanged` does not bubble: it reaches only the node that owns the worker.
        Every screen that starts workers hands its events here (`on_worker_state_changed`).
        """
        if event.state != WorkerState.ERROR or event.worker.error is None:
            return
        error = as_wizard_error(event.worker.error)
        if event.worker.group == "sandbox":
            error.hint = (
                error.hint or "Install the extra: pip install 'airflow-ecs-wizard[sandbox]'."
            )
        retry = getattr(event.worker.node, "retry_worker", None)
        self.show_error(error, retry=partial(retry, event.worker.group) if retry else None)

    def show_error(
        self,
        error: WizardError,
        *,
        retry: Callable[[], None] | None = None,
        skip: Callable[[], None] | None = None,
    ) -> None:
        """The error modal: the message and its hint, with retry, skip and quit."""

        def chosen(choice: ErrorChoice | None) -> None:
            if choice == "retry" and retry is not None:
                retry()
            elif choice == "skip" and skip is not None:
                skip()
            elif choice == "quit":
                self.leave(1)

        self.push_screen(
            ErrorModal(error, can_retry=retry is not None, can_skip=skip is not None), chosen
        )

    # Actions

    async def action_quit(self) -> None:
        """Quit at once; a launch left half done gets its resume commands printed after."""
        self.leave(0)

    def leave(self, status: int) -> None:
        """Exit with `status`; every way out (ctrl+q, the error dialog's and the summary's
        Quit) leaves the commands that resume an unfinished launch, printed after the app."""
        from screens.farewell import farewell
        from wizard.session import WizardSession

        session = next(
            (
                screen.session
                for screen in reversed(self.screen_stack)
                if isinstance(getattr(screen, "session", None), WizardSession)
            ),
            None,
        )
        if session is not None:
            self.farewell = farewell(
                session,
                sandbox=self.options.sandbox,
                sandbox_folder=self.options.folder if self.options.sandbox else None,
            )
        self.exit(status)

    def action_help(self) -> None:
        from screens.help import HelpScreen

        self.push_screen(HelpScreen())

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Help", "The wizard's keys and what each step does", self.action_help)
        for name, help_text in getattr(screen, "COMMANDS_HELP", {}).items():
            action = getattr(screen, f"action_{name}", None)
            if action is not None:
                yield SystemCommand(name.replace("_", " ").capitalize(), help_text, action)


def run_wizard(
    *,
    sandbox: bool = False,
    dry_run: bool = False,
    state: Path | None = None,
    config: Path | None = None,
    folder: Path | None = None,
    template: Path | None = None,
) -> int:
    """Run the full-screen wizard; its exit status (0 unless quit from an error)."""
    options = WizardOptions(
        sandbox=sandbox,
        dry_run=dry_run,
        state=state,
        config=config,
        folder=folder,
        template=template,
    )
    app = WizardApp(options)
    result = app.run()
    if app.farewell:
        print(f"\n{app.farewell}", flush=True)
    return int(result or 0)
