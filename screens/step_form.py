"""A step's form: one field per question, filled from the config, with live choices.

The form only shows and asks: `load(config)` fills it, `answers()` reads it as typed values,
`show_problems` puts the config models' messages under the fields they name. For a question
that `discover` lists choices for, a select list (or a multi-select) sits above a text field;
picking fills the text field, which stays editable as the manual-entry fallback.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Input, Label, LoadingIndicator, Select, SelectionList, Static, Switch

from wizard.config import LaunchConfig
from wizard.errors import Problem, ProblemsError
from wizard.questions import Question, parse_answer, text_of, value_of
from wizard.steps.base import Choice


def _key(path: str) -> str:
    return path.replace(".", "--")


class StepForm(VerticalScroll):
    """The questions of one step."""

    class Edited(Message):
        """A field changed: the preview shown no longer matches the form."""

    def __init__(self, questions: Iterable[Question], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.questions = tuple(questions)

    def compose(self) -> ComposeResult:
        if not self.questions:
            yield Static("Nothing to fill in: this step only checks the account.", classes="hint")
        for question in self.questions:
            key = _key(question.path)
            with Vertical(classes="field", id=f"field-{key}"):
                yield Label(question.label, classes="field-label")
                if question.discovered:
                    yield LoadingIndicator(id=f"loading-{key}", classes="choices-loading")
                    if question.kind == "list":
                        yield SelectionList[str](id=f"pick-{key}", classes="choices -hidden")
                    else:
                        yield Select[str](
                            [], id=f"pick-{key}", classes="choices -hidden", prompt="choose…"
                        )
                if question.kind == "choice":
                    yield Select[str](
                        [(option, option) for option in question.options],
                        id=f"input-{key}",
                        allow_blank=False,
                    )
                elif question.kind == "bool":
                    yield Switch(id=f"input-{key}")
                else:
                    yield Input(id=f"input-{key}", placeholder=question.help)
                yield Static(question.help, classes="field-help", markup=False)
                yield Static("", id=f"problem-{key}", classes="field-problem", markup=False)

    def load(self, config: LaunchConfig) -> None:
        """Fill every field from the config."""
        with self.prevent(Input.Changed, Select.Changed, Switch.Changed):
            for question in self.questions:
                value = value_of(config, question.path)
                widget = self.query_one(f"#input-{_key(question.path)}")
                if isinstance(widget, Switch):
                    widget.value = bool(value)
                elif isinstance(widget, Select):
                    widget.value = str(value)
                elif isinstance(widget, Input):
                    widget.value = text_of(question, value)

    def set_choices(self, choices: Mapping[str, list[Choice]]) -> None:
        """Show the live choices `discover` found (or the manual field alone where none)."""
        for question in self.questions:
            if not question.discovered:
                continue
            key = _key(question.path)
            self.query_one(f"#loading-{key}").display = False
            found = choices.get(question.path, [])
            picker = self.query_one(f"#pick-{key}")
            picker.set_class(not found, "-hidden")
            current = self.query_one(f"#input-{key}", Input).value
            with self.prevent(Select.Changed, SelectionList.SelectedChanged):
                if isinstance(picker, SelectionList):
                    chosen = {item.strip() for item in current.split(",")}
                    picker.clear_options()
                    picker.add_options([(c.label, c.value, c.value in chosen) for c in found])
                elif isinstance(picker, Select):
                    picker.set_options([(c.label, c.value) for c in found])
                    if current in {c.value for c in found}:
                        picker.value = current

    def discovery_failed(self) -> None:
        """No choices could be listed: the text fields are all there is."""
        self.set_choices({})

    @on(Select.Changed, ".choices")
    def _picked(self, event: Select.Changed) -> None:
        event.stop()
        if event.value is Select.BLANK or event.select.id is None:
            return
        key = event.select.id.removeprefix("pick-")
        self.query_one(f"#input-{key}", Input).value = str(event.value)

    @on(SelectionList.SelectedChanged, ".choices")
    def _picked_many(self, event: SelectionList.SelectedChanged[str]) -> None:
        event.stop()
        if event.selection_list.id is None:
            return
        key = event.selection_list.id.removeprefix("pick-")
        self.query_one(f"#input-{key}", Input).value = ", ".join(event.selection_list.selected)

    @on(Input.Changed)
    @on(Switch.Changed)
    @on(Select.Changed)
    def _edited(self, event: Message) -> None:
        self.post_message(self.Edited())

    def answers(self) -> dict[str, Any]:
        """The form's values, typed as the config wants them.

        Raises:
            ProblemsError: a field that cannot even be read as its type (a number that is not).
        """
        answers: dict[str, Any] = {}
        problems: list[Problem] = []
        for question in self.questions:
            widget = self.query_one(f"#input-{_key(question.path)}")
            if isinstance(widget, Switch):
                answers[question.path] = widget.value
            elif isinstance(widget, Select):
                answers[question.path] = str(widget.value)
            elif isinstance(widget, Input):
                try:
                    answers[question.path] = parse_answer(question, widget.value)
                except ProblemsError as error:
                    problems += error.problems
        if problems:
            raise ProblemsError(problems, title="Check these fields")
        return answers

    def show_problems(self, problems: Iterable[Problem]) -> list[Problem]:
        """Put each problem under its field; the ones no field of this form owns are returned."""
        by_key: dict[str, list[str]] = {}
        elsewhere: list[Problem] = []
        paths = {q.path for q in self.questions}
        for problem in problems:
            owner = _owner(problem.path, paths)
            if owner is None:
                elsewhere.append(problem)
            else:
                by_key.setdefault(_key(owner), []).append(problem.message)
        for question in self.questions:
            key = _key(question.path)
            messages = by_key.get(key, [])
            self.query_one(f"#problem-{key}", Static).update("\n".join(messages))
            self.query_one(f"#field-{key}").set_class(bool(messages), "-invalid")
        if by_key:
            first = next(iter(by_key))
            self.query_one(f"#input-{first}").focus()
        return elsewhere

    def clear_problems(self) -> None:
        """No problem under any field."""
        self.show_problems([])


def _owner(path: str, paths: set[str]) -> str | None:
    """The question a problem's path belongs to (`s3.environments[1]` → `s3.environments`)."""
    base = path.split("[", 1)[0]
    while base:
        if base in paths:
            return base
        base = base.rpartition(".")[0]
    return None
