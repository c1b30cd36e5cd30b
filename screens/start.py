"""The first screen: start a new launch, resume one, or open a config file.

It lists the launches kept in the launches folder with their progress, and the runbook's
checklist (every step, with its status for the selected launch), so a new user sees at once
what the wizard will walk them through.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, cast

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Button, Header, Label, Static

from screens.widgets import Checklist, DryRunBanner, display_path
from wizard.errors import WizardError
from wizard.launches import KnownLaunch, find_launches, launch_for_state, statuses_of

if TYPE_CHECKING:
    from textual.widgets import DataTable, Input

    from screens.app import WizardApp
    from wizard.config import LaunchConfig
    from wizard.session import WizardSession

INTRO = (
    "Launch Apache Airflow on ECS, one checklist item at a time: fill in a form, preview "
    "exactly what will be created or changed, confirm, go on. Stop at any time; the launch "
    "resumes where it stopped."
)


class StartScreen(Screen[None]):
    """New launch, resume, or open a config; with the checklist of steps."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "new_launch", "New launch"),
        Binding("r", "resume", "Resume"),
        Binding("o", "open_config", "Open config"),
    ]
    COMMANDS_HELP: ClassVar[dict[str, str]] = {
        "new_launch": "Start a new launch",
        "resume": "Resume the selected launch",
        "open_config": "Open a launch.toml",
    }

    def __init__(self) -> None:
        super().__init__()
        self.launches: list[KnownLaunch] = []

    @property
    def wizard(self) -> WizardApp:
        return cast("WizardApp", self.app)

    def compose(self) -> ComposeResult:
        yield Header()
        yield DryRunBanner()
        yield Static(INTRO, id="intro")
        yield Static("", id="sandbox-status")
        with Horizontal(id="start-body"):
            with Vertical(id="launches-pane"):
                yield Label("Launches", classes="pane-title")
                # the table of launches and the footer are mounted after the first frame
                with Horizontal(id="start-buttons"):
                    yield Button("New launch", id="new", variant="primary")
                    yield Button("Resume", id="resume")
                    yield Button("Open config…", id="open")
            with Vertical(id="checklist-pane"):
                yield Label("The runbook's checklist", classes="pane-title")
                yield Checklist(id="checklist")

    def on_mount(self) -> None:
        options = self.wizard.options
        if options.sandbox:
            self.query_one("#sandbox-status", Static).update(
                "Starting the sandbox: an AWS emulator seeded with a sample account…"
            )
            self.query_one("#new", Button).disabled = True
        else:
            self.query_one("#sandbox-status", Static).display = False
        self.query_one("#resume", Button).disabled = True  # until the launches are listed
        self._show_checklist(0)
        self.call_after_refresh(self._draw_launches)
        if options.state is not None:
            self.call_after_refresh(self._open_state, options.state)
        elif options.config is not None:
            self.call_after_refresh(self._open_config, options.config)

    def sandbox_ready(self, *, resumed: bool = False) -> None:
        """The emulator is up: list its launches and allow a new one."""
        kept = display_path(self.wizard.sandbox_folder or self.wizard.folder)
        again = "the account of your last run, " if resumed else "a new account, "
        self.query_one("#sandbox-status", Static).update(
            f"Sandbox ready: an emulated AWS account (no real AWS is touched): {again}kept with "
            f"its launches in {kept}. To start over, quit and remove that folder."
        )
        self.query_one("#new", Button).disabled = False
        self.refresh_launches()
        if not self.launches:
            self.query_one("#new", Button).focus()

    async def _draw_launches(self) -> None:
        """After the first frame: the table of launches (and its imports), and the footer."""
        from textual.widget import MountError
        from textual.widgets import DataTable, Footer

        table: DataTable[str] = DataTable(id="launches", cursor_type="row", zebra_stripes=True)
        table.add_columns("launch", "progress", "region", "kept in")
        try:
            await self.query_one("#launches-pane").mount(table, before="#start-buttons")
            await self.mount(Footer())
        except MountError:  # quit before the first frame was drawn: nothing is left to draw on
            return
        self.refresh_launches()
        if self.focused is None or self.focused.id == "new":  # the user has not moved it
            table.focus()  # the first focusable widget, as when it was composed

    def refresh_launches(self) -> None:
        """List the launches in the folder, most recent first."""
        self.launches = find_launches(self.wizard.folder)
        tables = self.query("#launches")
        if not tables:  # not drawn yet: `_draw_launches` lists them
            return
        table = cast("DataTable[str]", tables.first())
        table.clear()
        for known in self.launches:
            table.add_row(
                known.name,
                known.progress,
                known.region or "-",
                display_path(known.config_path.parent),
            )
        self.query_one("#resume", Button).disabled = not self.launches
        self._show_checklist(0)

    # by name, not with @on: DataTable and Input are imported only when they are drawn
    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_checklist(event.cursor_row)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_resume()

    def _show_checklist(self, row: int) -> None:
        checklist = self.query_one("#checklist", Checklist)
        if 0 <= row < len(self.launches):
            checklist.show(self.launches[row].statuses)
        else:
            checklist.show(statuses_of(None))

    @on(Button.Pressed, "#new")
    def action_new_launch(self) -> None:
        if self.query_one("#new", Button).disabled:
            return
        from wizard.session import WizardSession

        config = self._starting_config()
        config = config.model_copy(update={"name": self._free_name(config.name)})
        self._start(
            WizardSession.new(config, self.wizard.folder, dry_run=self.wizard.options.dry_run)
        )

    @on(Button.Pressed, "#resume")
    def action_resume(self) -> None:
        if not self.launches:
            self.notify(
                f"Nothing to resume: no launch is kept in {display_path(self.wizard.folder)} "
                "yet. Press n to start one, or o to open a config.",
                severity="warning",
                markup=False,
            )
            return
        from wizard.session import WizardSession

        tables = self.query("#launches")
        row = cast("DataTable[str]", tables.first()).cursor_row if tables else 0
        known = self.launches[min(row, len(self.launches) - 1)]
        self._guarded(lambda: WizardSession.resume(known, dry_run=self.wizard.options.dry_run))

    @on(Button.Pressed, "#open")
    async def action_open_config(self) -> None:
        from textual.widgets import Input

        fields = self.query("#config-path")
        if not fields:
            field = Input(placeholder="path of a launch.toml, then Enter", id="config-path")
            await self.query_one("#launches-pane").mount(field)
        self.query_one("#config-path", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "config-path":
            self._open_config(Path(event.value).expanduser())

    def _open_config(self, path: Path) -> None:
        from wizard.config_file import load_config
        from wizard.session import WizardSession

        self._guarded(
            lambda: WizardSession(
                load_config(path), path.resolve(), dry_run=self.wizard.options.dry_run
            )
        )

    def _open_state(self, path: Path) -> None:
        from wizard.session import WizardSession

        self._guarded(
            lambda: WizardSession.resume(
                launch_for_state(path), dry_run=self.wizard.options.dry_run
            )
        )

    def _guarded(self, make: Callable[[], WizardSession]) -> None:
        try:
            session = make()
        except WizardError as error:
            self.wizard.show_error(error)
            return
        self._start(session)

    def _start(self, session: WizardSession) -> None:
        from screens.launch import LaunchScreen

        self.app.push_screen(LaunchScreen(session))

    def _starting_config(self) -> LaunchConfig:
        from wizard.config_file import load_config

        if self.wizard.sandbox_config is not None:
            return load_config(self.wizard.sandbox_config)
        return load_config(self.wizard.options.template or _example_path())

    def _free_name(self, name: str) -> str:
        taken = {known.name for known in self.launches} | {
            path.stem for path in self.wizard.folder.glob("*.toml")
        }
        if name not in taken:
            return name
        number = 2
        while f"{name}-{number}" in taken:
            number += 1
        return f"{name}-{number}"


def _example_path() -> Path:
    from importlib import resources

    return Path(str(resources.files("wizard") / "data" / "launch.example.toml"))
