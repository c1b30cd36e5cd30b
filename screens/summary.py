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
from textual.containers import Horizontal, VerticalScroll
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
    ]
    COMMANDS_HELP: ClassVar[dict[str, str]] = {"export": "Write every rendered file (render --out)"}

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
            yield Static("What this launch created", classes="pane-title")
            yield DataTable(id="created", cursor_type="row", zebra_stripes=True)
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
        if session.dry_run:
            self.query_one("#summary-title", Static).update(
                "Dry run complete: every step previewed, nothing was changed."
            )
            table.display = False
            lines.append("To apply this launch, run the wizard without --dry-run, or headless:")
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
                table.clear()
                for row in summary.created:
                    link = (
                        Text("open ↗", style=Style(link=row.console_url))
                        if row.console_url
                        else "-"
                    )
                    table.add_row(row.kind, link, row.id)
            lines.append("Replay this launch headless (it applies nothing that is applied):")
        command = replay_command(
            command_path(session.config_path), command_path(session.state_path)
        )
        lines.append(f"  {command}")
        lines.append(f"Config: {display_path(session.config_path)}")
        lines.append(f"State:  {display_path(session.state_path)}")
        self.query_one("#summary-files", Static).update("\n".join(lines))

    @on(Button.Pressed, "#back")
    def action_back(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#quit")
    def _quit(self) -> None:
        self.app.exit(0)

    @on(Button.Pressed, "#rehearse")
    def _rehearse(self) -> None:
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
        if summary.password_command:
            lines.append(
                f"Log in as {summary.admin_username}; fetch the password from SSM:\n"
                f"  {summary.password_command}"
            )
    lines += [f"Warning: {warning}" for warning in summary.warnings]
    return "\n".join(lines)
