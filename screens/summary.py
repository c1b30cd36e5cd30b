"""The end of a launch: where Airflow is, how to log in, what was created, how to replay it.

Never the Admin password itself: only the command that fetches it from SSM. In a dry run it
lists what would be applied and can export every file with `render`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, cast

from rich.style import Style
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, ScrollableContainer, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, DataTable, Footer, Header, Static
from textual.worker import Worker

from screens.widgets import DryRunBanner, command_path, display_path
from wizard.session import WizardSession
from wizard.summary import LaunchSummary, replay_command

if TYPE_CHECKING:
    from screens.app import WizardApp


class SummaryScreen(Screen[None]):
    """What the launch made, and what to do next."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back to the steps"),
        Binding("e", "export", "Export files", show=False),
        Binding("c", "copy_replay", "Copy the replay command"),
        Binding("ctrl+l", "rehearse", "Rehearse locally"),
    ]
    COMMANDS_HELP: ClassVar[dict[str, str]] = {
        "export": "Write every rendered file (render --out)",
        "copy_replay": "Copy the headless replay command to the clipboard",
    }

    class Exported(Message):
        """The files were written."""

        def __init__(self, paths: list[Path]) -> None:
            super().__init__()
            self.paths = paths

    def __init__(self, session: WizardSession) -> None:
        super().__init__()
        self.session = session

    def compose(self) -> ComposeResult:
        yield Header()
        yield DryRunBanner()
        with VerticalScroll(id="summary"):
            yield Static("", id="summary-title")
            yield Static("", id="summary-access", markup=False)
            with ScrollableContainer(id="password-line", classes="command-line"):
                yield Static("", id="password-command", markup=False)
            yield Static("", id="summary-warnings", markup=False)
            yield Static("What this launch created", classes="pane-title", id="created-title")
            yield DataTable(id="created", cursor_type="row", zebra_stripes=True)
            yield Static("", id="summary-replay", markup=False)
            # the command on one line that scrolls sideways: never wrapped mid-argument
            with ScrollableContainer(id="replay-line", classes="command-line"):
                yield Static("", id="replay-command", markup=False)
            yield Static("", id="summary-files", markup=False)
            with Horizontal(id="summary-buttons"):
                if self.session.dry_run:
                    yield Button("Export every file (render)", id="export", variant="primary")
                if cast("WizardApp", self.app).options.sandbox:
                    yield Button("Rehearse locally and open the UI", id="rehearse")
                yield Button("Back to the steps", id="back")
                yield Button("Quit", id="quit", variant="error")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#password-line").display = False
        self.query_one("#created", DataTable).add_columns("kind", "console", "id")
        self._shown: tuple[object, ...] = ()
        self.show_summary()
        if not self.session.dry_run:  # steps still running go on: say when they end
            self.set_interval(1.0, self.show_summary)

    def show_summary(self) -> None:
        """Say where the launch is: up, or which steps are done, running, failed or pending
        and what to do next (read from the state; no AWS call)."""
        session = self.session
        table = self.query_one("#created", DataTable)
        lines = []
        replay = self.query_one("#summary-replay", Static)
        if session.dry_run:
            self.query_one("#summary-title", Static).update(
                "Dry run complete: every step previewed, nothing was changed."
            )
            self.query_one("#summary-access", Static).update(DRY_RUN_MEANS)
            self.query_one("#created-title").display = False
            table.display = False
            replay.update(
                "To apply this launch, run the wizard without --dry-run, or headless (c copies it):"
            )
        else:
            summary = session.summary()
            shown = (
                (summary.headline, str(summary.progress), len(summary.created)) if summary else ()
            )
            if shown == self._shown:
                return
            self._shown = shown
            title = self.query_one("#summary-title", Static)
            title.update(summary.headline if summary else "Nothing has applied yet.")
            title.set_class(summary is None or not summary.up, "-not-up")
            if summary is not None:
                self.query_one("#summary-access", Static).update(_access(summary))
                command = summary.password_command if summary.up else ""
                self.query_one("#password-command", Static).update(command)
                self.query_one("#password-line").display = bool(command)
                self.query_one("#summary-warnings", Static).update(
                    "\n".join(f"Warning: {warning}" for warning in summary.warnings)
                )
                table.clear()
                for row in summary.created:
                    link = (
                        Text("open ↗", style=Style(link=row.console_url))
                        if row.console_url
                        else "-"
                    )
                    table.add_row(row.kind, link, row.id)
            replay.update(
                "Replay this launch headless (it applies nothing that is applied; c copies it):"
            )
        self.query_one("#replay-command", Static).update(self.replay_command)
        lines.append(f"Config: {display_path(session.config_path)}{_missing(session.config_path)}")
        lines.append(f"State:  {display_path(session.state_path)}{_missing(session.state_path)}")
        self.query_one("#summary-files", Static).update("\n".join(lines))

    @property
    def replay_command(self) -> str:
        """The headless command that applies this launch, as the user copies it."""
        session = self.session
        return replay_command(command_path(session.config_path), command_path(session.state_path))

    def action_copy_replay(self) -> None:
        """Put the replay command on the clipboard (the terminal's, through OSC 52)."""
        self.app.copy_to_clipboard(self.replay_command)
        self.notify(self.replay_command, title="Copied to the clipboard", markup=False)

    @on(Button.Pressed, "#back")
    def action_back(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#quit")
    def _quit(self) -> None:
        cast("WizardApp", self.app).leave(0)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """`ctrl+l` (rehearse) only where its button is offered (the sandbox's summary)."""
        if action == "rehearse":
            return bool(self.query("#rehearse"))
        return True

    @on(Button.Pressed, "#rehearse")
    def action_rehearse(self) -> None:
        """No AWS account: boot the launch here and keep it up, its UI on localhost."""
        from screens.rehearse import RehearsalScreen

        self.app.push_screen(RehearsalScreen(self.session, keep_running=True))

    @on(Button.Pressed, "#export")
    def action_export(self) -> None:
        self.export()

    @work(thread=True, exclusive=True, group="export", exit_on_error=False, description="render")
    def export(self) -> None:
        """Write every artifact, as `render --out` does."""
        from wizard.render import render_artifacts, write_artifacts

        launch = self.session.launch()
        folder = self.session.config_path.with_name(f"{self.session.config.name}-rendered")
        paths = write_artifacts(render_artifacts(self.session.config, launch.account_id), folder)
        self.post_message(self.Exported(paths))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # the event reaches only this screen (it does not bubble): the app shows the error
        cast("WizardApp", self.app).worker_state_changed(event)

    @on(Exported)
    def _exported(self, message: Exported) -> None:
        folder = message.paths[0].parent if message.paths else ""
        self.notify(f"Wrote {len(message.paths)} files to {folder}", title="Exported")
        self.query_one("#summary-files", Static).update(
            f"{self.query_one('#summary-files', Static).content}\nExported to {folder}"
        )


DRY_RUN_MEANS = (
    "A dry run reads the account and previews every step; it creates nothing, changes nothing "
    "and writes no state file. The previews you confirmed are what an apply would do now."
)


def _missing(path: Path) -> str:
    """What a path on the summary is when there is no file there yet."""
    if path.exists():
        return ""
    if path.suffix == ".json":
        return "  (none yet: an apply writes it)"
    return "  (not saved yet)"


STATUS_WORDS = {
    "applied": "done",
    "running": "running",
    "failed": "failed",
    "pending": "pending",
}


def _access(summary: LaunchSummary) -> str:
    """Where Airflow is and how to log in, or, while it is not up, how far the launch is."""
    lines = []
    if not summary.up:
        for status, word in STATUS_WORDS.items():
            titles = summary.progress.get(status, [])
            if titles:
                lines.append(f"{word:8} {', '.join(titles)}")
        if summary.next_steps:
            lines.append("What to do next:")
            lines.extend(f"  - {step}" for step in summary.next_steps)
    else:
        if summary.web_url:
            lines.append(f"Airflow UI: {summary.web_url}")
        if summary.password_command:  # the command itself: on its own line, below
            lines.append(f"Log in as {summary.admin_username}; fetch the password from SSM:")
    return "\n".join(lines)
