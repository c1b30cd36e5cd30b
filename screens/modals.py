"""The error modal: one for every failure, with retry, skip and quit."""

from __future__ import annotations

from typing import ClassVar, Literal

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

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
