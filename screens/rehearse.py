"""A rehearsal of the launch's task definitions on this machine, its table filled in as each
component settles (the same rows and verdict as `airflow-ecs-wizard rehearse`).

The rehearsal runs in a thread worker that posts messages; closing the screen stops everything
it started. Kept running (the sandbox's summary), it ends with the Airflow UI on localhost and
the Admin login: the password is in a file only the user can read, never on screen.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, cast

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, DataTable, Footer, Header, RichLog, Static
from textual.worker import Worker

from wizard.rehearse.report import Result, Row, rewrites_text
from wizard.session import WizardSession

if TYPE_CHECKING:
    from screens.app import WizardApp


class RehearsalScreen(Screen[None]):
    """The launch booted here, as ECS would run it: one row per component and check."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", "Stop and close")]

    class Said(Message):
        """A line of the rehearsal's progress."""

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    class RowKnown(Message):
        """A component or check settled (or changed after it had)."""

        def __init__(self, row: Row) -> None:
            super().__init__()
            self.row = row

    class Finished(Message):
        """The rehearsal ended (and, unless kept running, stopped everything)."""

        def __init__(self, result: Result, password_file: Path | None) -> None:
            super().__init__()
            self.result = result
            self.password_file = password_file

    class Stopped(Message):
        """Everything the rehearsal started is stopped."""

    def __init__(self, session: WizardSession, *, keep_running: bool = False) -> None:
        super().__init__()
        self.session = session
        self.keep_running = keep_running
        """Leave it up when every row holds (the UI on localhost), until the screen closes."""
        self.rehearsal: Any = None
        self.result: Result | None = None
        self.ui = ""
        """The Airflow UI's address while a kept rehearsal runs."""
        self._ended = threading.Event()

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="rehearsal"):
            yield Static(
                "Rehearsing the launch's task definitions on this machine, as ECS would run "
                "them (secrets made for the rehearsal; AWS is not touched).",
                id="rehearsal-title",
            )
            yield DataTable(id="rehearsal-rows", cursor_type="row", zebra_stripes=True)
            yield Static("", id="rehearsal-verdict", markup=False)
            yield RichLog(id="rehearsal-log", wrap=True, markup=False)
            with Horizontal(id="rehearsal-buttons"):
                yield Button("Open the Airflow UI", id="open-ui", variant="primary")
                yield Button("Stop and close", id="close", variant="error")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#rehearsal-rows", DataTable)
        for key in ("component", "started", "health", "seconds"):
            table.add_column(key, key=key)
        self.query_one("#open-ui", Button).display = False
        self.rehearse()

    @work(
        thread=True, exclusive=True, group="rehearse", exit_on_error=False, description="rehearse"
    )
    def rehearse(self) -> None:
        """Run the rehearsal; stop it at its end unless it is kept running."""
        from wizard.rehearse.command import execute, new_rehearsal, write_password_file

        try:
            self.rehearsal = new_rehearsal(
                self.session.config,
                self._account_id(),
                report=self._say,
                on_row=self._row,
            )
            result = execute(self.rehearsal)
            password_file = None
            if self.keep_running and result.ok:
                password_file = write_password_file(result, self.rehearsal)
            else:
                self.post_message(self.Said("stopping everything the rehearsal started"))
                self.rehearsal.stop(keep_logs=not result.ok)
            self.post_message(self.Finished(result, password_file))
        except KeyboardInterrupt:  # closed while it ran: `close` stops the rest
            pass
        finally:
            self._ended.set()

    def _say(self, text: str) -> None:
        self.post_message(self.Said(text))

    def _row(self, row: Row) -> None:
        self.post_message(self.RowKnown(row))

    def _account_id(self) -> str:
        """The account the task definitions are rendered for (their image URI and roles)."""
        try:
            return self.session.launch().account_id
        except Exception:  # no AWS here: the venv runtime needs none
            return self.session.config.account_id or "123456789012"

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # the event reaches only this screen (it does not bubble): the app shows the error
        cast("WizardApp", self.app).worker_state_changed(event)

    @on(Said)
    def _said(self, message: Said) -> None:
        self.query_one("#rehearsal-log", RichLog).write(message.text)

    @on(RowKnown)
    def _row_known(self, message: RowKnown) -> None:
        self._show_row(message.row)

    def _show_row(self, row: Row) -> None:
        table = self.query_one("#rehearsal-rows", DataTable)
        cells = (row.component, "yes" if row.started else "no", row.health, f"{row.seconds:.0f}")
        if row.component in {key.value for key in table.rows}:
            for column, value in zip(("started", "health", "seconds"), cells[1:], strict=True):
                table.update_cell(row.component, column, value)
        else:
            table.add_row(*cells, key=row.component)

    @on(Finished)
    def _finished(self, message: Finished) -> None:
        result = self.result = message.result
        table = self.query_one("#rehearsal-rows", DataTable)
        table.clear()
        for row in result.rows:
            self._show_row(row)
        log = self.query_one("#rehearsal-log", RichLog)
        log.write(rewrites_text(result))
        for row in result.rows:
            if row.detail:
                log.write(f"{row.component}: {row.detail}")
        verdict = self.query_one("#rehearsal-verdict", Static)
        verdict.set_class(not result.ok, "-failed")
        if not result.ok:
            verdict.update(f"FAILED: {', '.join(result.failed) or 'nothing ran'}")
        elif message.password_file is not None:
            self.ui = result.ui
            verdict.update(
                f"Every component and check holds ({result.ran}). Airflow UI at {result.ui}: "
                f"log in as {result.admin_username} with the password in "
                f"{message.password_file}. Stop and close stops it."
            )
            self.query_one("#open-ui", Button).display = True
        else:
            verdict.update(f"Every component and check holds ({result.ran}).")

    @on(Button.Pressed, "#open-ui")
    def _open_ui(self) -> None:
        self.app.open_url(self.ui)

    @on(Button.Pressed, "#close")
    def action_close(self) -> None:
        self.query_one("#rehearsal-verdict", Static).update("Stopping everything it started…")
        self.query_one("#close", Button).disabled = True
        self.stop_all()

    @work(thread=True, exclusive=True, group="rehearse-stop", exit_on_error=False)
    def stop_all(self) -> None:
        """Stop the rehearsal (running or kept) and everything it started."""
        self.stop_now()
        self.post_message(self.Stopped())

    def stop_now(self) -> None:
        """Cancel it, wait for its worker to end, and stop what is left (blocking)."""
        rehearsal = self.rehearsal
        if rehearsal is None:
            return
        rehearsal.cancel()
        self._ended.wait(timeout=300)
        rehearsal.stop(keep_logs=False)
        self.ui = ""

    @on(Stopped)
    def _stopped(self) -> None:
        self.dismiss(None)

    def on_unmount(self) -> None:
        # the app quits with the rehearsal up: nothing it started may outlive the wizard
        if self.rehearsal is not None and (self.ui or not self._ended.is_set()):
            self.stop_now()
