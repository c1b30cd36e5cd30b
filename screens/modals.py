"""The error modal (one for every failure) and the help screen."""

from __future__ import annotations

from typing import ClassVar, Literal

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Markdown, Static

from wizard.errors import WizardError

ErrorChoice = Literal["retry", "skip", "quit", "close"]


class ErrorModal(ModalScreen[ErrorChoice]):
    """What went wrong, what to do, and the choices: retry, skip (where safe), quit.

    Quitting keeps everything: the config and the state are saved as the wizard goes.
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "choose('close')", "Close")]

    def __init__(self, error: WizardError, *, can_retry: bool, can_skip: bool) -> None:
        super().__init__()
        self.error = error
        self.can_retry = can_retry
        self.can_skip = can_skip

    def compose(self) -> ComposeResult:
        with Vertical(id="error-dialog"):
            yield Static(self.error.title, id="error-title")
            with VerticalScroll(id="error-body"):
                yield Static(self.error.message, id="error-message", markup=False)
                if self.error.hint:
                    yield Static(self.error.hint, id="error-hint", markup=False)
            with Horizontal(id="error-buttons"):
                if self.can_retry:
                    yield Button("Retry", id="retry", variant="primary")
                if self.can_skip:
                    yield Button("Skip for now", id="skip")
                else:
                    yield Button("Close", id="close")
                yield Button("Quit (state saved)", id="quit", variant="error")

    def on_mount(self) -> None:
        self.query(Button).first().focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_choose(str(event.button.id))

    def action_choose(self, choice: str) -> None:
        self.dismiss(choice)  # type: ignore[arg-type]


HELP = """\
# airflow-ecs-wizard

The wizard walks the runbook *Launching Airflow on ECS* one checklist item at a time:
**fill in the form**, **preview** exactly what will be created or changed, **confirm** to apply,
and go on. Steps that do not wait on each other apply at the same time in the background
while you fill in the next form.

| key | does |
| --- | --- |
| `ctrl+r` | preview the step with the form's values |
| `ctrl+y` | confirm the preview and go on (apply, or just go on in a dry run) |
| `ctrl+b` | back to the previous step |
| `ctrl+s` | the launch's summary (once it has a state) |
| `ctrl+p` | the command palette: every action by name |
| `f1` | this help |
| `ctrl+q` | quit at once: the config and the state are saved as you go |

**Resume**: run the wizard again and pick the launch on the start screen (or `--state FILE`):
it continues at the first step that has not applied; applied steps are not applied again.

**Dry run** (`--dry-run`): every form and preview, nothing applied; at the end, export every
file with `render`.

**Headless**: the same launch runs without the UI with
`airflow-ecs-wizard apply --config NAME.toml --state NAME.state.json --yes`.
"""


class HelpScreen(ModalScreen[None]):
    """The keys and how the wizard works."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,f1,q", "close", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-dialog"):
            yield Markdown(HELP)
            yield Button("Close", id="close-help", variant="primary")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)
