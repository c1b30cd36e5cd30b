"""The help screen: the keys and how the wizard works (Markdown is imported only when shown)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Markdown

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
| `ctrl+l` | rehearse the task definitions on this machine (their preview offers it) |
| `ctrl+p` | the command palette: every action by name |
| `f1` | this help |
| `ctrl+q` | quit at once: the config and the state are saved as you go |

**Resume**: run the wizard again and pick the launch on the start screen (or `--state FILE`):
it continues at the first step that has not applied; applied steps are not applied again.

**Dry run** (`--dry-run`): every form and preview, nothing applied; at the end, export every
file with `render`.

**Headless**: the same launch runs without the UI with
`airflow-ecs-wizard apply --config NAME.toml --state NAME.state.json --yes`. On the summary, `c`
copies that command; `ctrl+q` on an unfinished launch prints it, and the wizard's, as it quits.

**A narrow terminal** (under 110 columns): the list of steps folds into one line of counts;
`ctrl+t` shows it.
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
