"""Plain mode (`airflow-ecs-wizard init --plain`): each step's questions as terminal prompts.

The walk is the full-screen wizard's, one prompt at a time: the questions come from
`wizard.questions`, choices and previews from a read-only `WizardSession` when AWS answers, and
nothing is written until the user has seen the whole config and said yes. Questionary is
imported only when a prompt is shown; tests pass their own `Asker`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast

from rich.console import Console
from rich.syntax import Syntax
from rich.text import Text

from wizard.config import LaunchConfig
from wizard.config_file import dump_config, load_config, parse_config, save_config
from wizard.errors import Problem, ProblemsError, WizardError
from wizard.launches import state_path_for
from wizard.questions import Question, parse_answer, questions, text_of, value_of, with_answers
from wizard.runner import order
from wizard.session import Preview, WizardSession, artifact_lexer
from wizard.steps import GRAPH
from wizard.steps.base import Choice

EXIT_WRITTEN = 0
EXIT_NOTHING_WRITTEN = 2
"""Declined or interrupted (Ctrl-C): like bad input, the status of a run that changed nothing."""
PREVIEW_LINES = 40
"""How much of each artifact a preview shows (`airflow-ecs-wizard render` writes them whole)."""
OTHER = "\x00other"
"""The value of the "enter another value…" choice (no config value can be it)."""
_VERB_STYLES = {"create": "green", "update": "yellow", "no-op": "dim"}
_OFFLINE_ARTIFACTS = {
    "bootstrap": ("bootstrap.sh",),
    "database": ("database.sql",),
    "cluster": ("user-data.sh", "cluster.cfn.json"),
    "task_definitions": ("taskdef-",),
}
"""The rendered files each step shows when AWS does not answer (by name prefix)."""

Answer = str | bool | list[str]
T = TypeVar("T")


class Asker(Protocol):
    """How plain mode asks: free text from a default, one of some choices' values, any of them
    (those in `checked` ticked to start with), or yes/no. Each returns None on Ctrl-C."""

    def text(self, message: str, default: str) -> str | None: ...

    def select(
        self, message: str, choices: Sequence[Choice], default: str | None
    ) -> str | None: ...

    def checkbox(
        self, message: str, choices: Sequence[Choice], checked: Sequence[str]
    ) -> list[str] | None: ...

    def confirm(self, message: str, default: bool) -> bool | None: ...


class QuestionaryAsker:
    """The `Asker` at the terminal, by questionary (imported only when a prompt is shown).

    Args:
        prompt_options: passed to every prompt (tests give prompt_toolkit's `input`, `output`).
    """

    def __init__(self, **prompt_options: Any) -> None:
        self.options = prompt_options

    def text(self, message: str, default: str) -> str | None:
        import questionary

        return cast("str | None", questionary.text(message, default, **self.options).ask())

    def select(self, message: str, choices: Sequence[Choice], default: str | None) -> str | None:
        import questionary

        items = [questionary.Choice(choice.label, choice.value) for choice in choices]
        question = questionary.select(message, items, default=default, **self.options)
        return cast("str | None", question.ask())

    def checkbox(
        self, message: str, choices: Sequence[Choice], checked: Sequence[str]
    ) -> list[str] | None:
        import questionary

        items = [questionary.Choice(c.label, c.value, checked=c.value in checked) for c in choices]
        return cast("list[str] | None", questionary.checkbox(message, items, **self.options).ask())

    def confirm(self, message: str, default: bool) -> bool | None:
        import questionary

        return cast("bool | None", questionary.confirm(message, default, **self.options).ask())


class Account:
    """The AWS account for choices and previews: read-only, and optional (tried once).

    Args:
        config_path: the file being written (a state file beside it is read, if there is one).
        console: where to say what could not be read.
    """

    def __init__(self, config_path: Path, console: Console) -> None:
        self.config_path, self.console = config_path, console
        self.session: WizardSession | None = None
        self.tried = False
        self._choices: dict[tuple[str, str], dict[str, list[Choice]]] = {}
        self._failed: set[str] = set()

    def choices(self, step: str, config: LaunchConfig) -> dict[str, list[Choice]]:
        """What the step's `discover` lists for `config`, by path (empty when offline)."""
        session, key = self._connected(config), (step, config.model_dump_json())
        if session is not None and step not in self._failed and key not in self._choices:
            found = self._read(f"{step}: choices are not listed", lambda: session.discover(step))
            if found is None:
                self._failed.add(step)
            self._choices[key] = found or {}
        return self._choices.get(key, {})

    def preview(self, step: str, config: LaunchConfig) -> Preview | None:
        """What applying the step would do (None when offline or AWS refused to say)."""
        session = self._connected(config)
        if session is None:
            return None
        return self._read(f"{step}: no preview", lambda: session.preview(step))

    def _connected(self, config: LaunchConfig) -> WizardSession | None:
        if not self.tried:
            self.tried = True
            session = WizardSession(config, self.config_path, dry_run=True)
            launch = self._read(
                "AWS does not answer, so choices are not listed and previews are rendered offline",
                session.launch,
            )
            if launch is not None:
                self.session = session
                self.console.print(f"Reading account {launch.account_id} (read-only).")
        if self.session is not None:
            self.session.config = config
            self.session.launch().config = config  # the connected launch plans with it
        return self.session

    def _read(self, failure: str, call: Callable[[], T]) -> T | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return call()
        except (WizardError, BotoCoreError, ClientError) as error:
            message = error.message if isinstance(error, WizardError) else str(error)
            first_line = message.partition("\n")[0]
            self.console.print(Text(f"{failure}: {first_line}", style="yellow"))
            return None


def run_plain(
    args: argparse.Namespace, *, asker: Asker | None = None, console: Console | None = None
) -> int:
    """Walk every step at the terminal and write the config once the user confirms it.

    Args:
        args: `init --plain`'s arguments (config, start_from, profile, region, endpoint_url).
        asker: how to ask (default: questionary at the terminal).
        console: where previews and problems go (default: stdout).

    Returns:
        0 when the config was written, 2 when the user declined or interrupted (nothing written).

    Raises:
        ProblemsError: the starting config or an AWS option is invalid (nothing written).
    """
    console = console or Console()
    asker = asker or QuestionaryAsker()
    path: Path = args.config
    config = ask_launch(starting_config(args), asker, Account(path, console), console)
    if config is None:
        return _nothing_written(console)
    return finish(config, path, asker, console)


def starting_config(args: argparse.Namespace) -> LaunchConfig:
    """The `--from` config or the documented example, with the AWS options applied."""
    if args.start_from is not None:
        config = load_config(args.start_from)
    else:
        example = resources.files("wizard") / "data" / "launch.example.toml"
        config = parse_config(example.read_text(encoding="utf-8"), "the documented example")
    overrides = {
        f"aws.{name}": value
        for name in ("profile", "region", "endpoint_url")
        if (value := getattr(args, name, None)) is not None
    }
    return with_answers(config, overrides)


def ask_launch(
    config: LaunchConfig, asker: Asker, account: Account, console: Console
) -> LaunchConfig | None:
    """Every step's questions in order, each followed by its preview (None if interrupted)."""
    for step in order(GRAPH):
        console.rule(step)
        answered = ask_step(step, config, asker, account, console)
        if answered is None:
            return None
        config = answered
        preview = account.preview(step, config)
        if preview is not None:
            show_preview(console, preview)
        elif account.session is None and step in _OFFLINE_ARTIFACTS:
            show_rendered(console, config, _OFFLINE_ARTIFACTS[step])
    if account.session is None:
        show_rendered(console, config)
    return config


def ask_step(
    step: str, config: LaunchConfig, asker: Asker, account: Account, console: Console
) -> LaunchConfig | None:
    """One step's questions until they make a valid config, asking again only the fields named
    by a problem (None if interrupted)."""
    pending = questions(step)
    answers: dict[str, Any] = {}
    while True:
        problems: list[Problem] = []
        for question in pending:
            current = answers.get(question.path, value_of(config, question.path))
            found = account.choices(step, _valid(config, answers)) if question.discovered else {}
            if question.help:
                console.print(Text(question.help, style="dim"))
            answer = ask_question(question, current, found.get(question.path, []), asker)
            if answer is None:
                return None
            try:
                answers[question.path] = (
                    parse_answer(question, answer) if isinstance(answer, str) else answer
                )
            except ProblemsError as error:
                problems += error.problems
        if not problems:
            try:
                return with_answers(config, answers)
            except ProblemsError as error:
                problems = error.problems
        show_problems(console, problems)
        pending = _named(questions(step), problems)


def _valid(config: LaunchConfig, answers: dict[str, Any]) -> LaunchConfig:
    """The config with the answers so far, for discovery (as it was if they do not validate)."""
    try:
        return with_answers(config, answers)
    except ProblemsError:
        return config


def _named(asked: tuple[Question, ...], problems: Sequence[Problem]) -> tuple[Question, ...]:
    """The questions a problem names (all of them when none is named)."""

    def names(problem: str, field: str) -> bool:
        inside = problem.startswith((f"{field}.", f"{field}["))
        return problem == field or inside or (bool(problem) and field.startswith(f"{problem}."))

    named = tuple(q for q in asked if any(names(p.path, q.path) for p in problems))
    return named or asked


def ask_question(
    question: Question, current: Any, found: Sequence[Choice], asker: Asker
) -> Answer | None:
    """One question, with the account's choices when there are some (None if interrupted)."""
    message = f"{question.label} ({question.path})"
    if question.kind == "bool":
        return asker.confirm(message, bool(current))
    if question.kind == "choice":
        options = [Choice(option, option) for option in question.options]
        return asker.select(message, options, str(current) if current in question.options else None)
    listed = [
        Choice(c.value, c.label if c.value in c.label else f"{c.value}  {c.label}") for c in found
    ]
    if listed and question.kind == "list":
        return _pick_many(message, listed, list(current), asker)
    if listed:
        if current not in {choice.value for choice in listed}:
            listed.insert(0, Choice(current, f"{current or '(empty)'} (current, not found)"))
        picked = asker.select(message, [*listed, Choice(OTHER, "enter another value…")], current)
        if picked != OTHER:
            return picked
    return asker.text(message, text_of(question, current))


def _pick_many(
    message: str, listed: list[Choice], current: list[str], asker: Asker
) -> Answer | None:
    """Tick the account's choices (current values it lacks stay listed), or type the values."""
    known = {choice.value for choice in listed}
    kept = [Choice(v, f"{v} (not found in the account)") for v in current if v not in known]
    items = [*listed, *kept, Choice(OTHER, "other values…")]
    picked = asker.checkbox(message, items, current)
    if picked is None or OTHER not in picked:
        return picked
    typed = [value for value in picked if value != OTHER]
    return asker.text(f"{message}, comma-separated", ", ".join(typed))


def show_problems(console: Console, problems: Sequence[Problem]) -> None:
    """Every problem, by field, before the fields are asked again."""
    console.print(Text("Check these fields:", style="bold red"))
    for problem in problems:
        line = Text.assemble(("  ✗ ", "red"), (problem.path or "config", "bold"))
        console.print(line.append(f": {problem.message}"))


def show_preview(console: Console, preview: Preview) -> None:
    """A step's plan: actions coloured by verb, warnings, problems, then its artifacts."""
    plan = preview.plan
    console.print(Text(f"What applying {plan.step} would do:", style="bold"))
    for action in plan.actions:
        console.print(Text(str(action), style=_VERB_STYLES.get(action.verb, "")))
    for warning in plan.warnings:
        console.print(Text(f"warning: {warning}", style="yellow"))
    for problem in [*plan.problems, *preview.lint_problems]:
        console.print(Text(f"problem: {problem}", style="red"))
    for name, text in plan.artifacts.items():
        show_artifact(console, name, text)


def show_rendered(console: Console, config: LaunchConfig, prefixes: Sequence[str] = ()) -> None:
    """Offline previews: the rendered artifacts named by `prefixes`, or a list of them all."""
    from wizard.render import render_artifacts

    try:
        artifacts = render_artifacts(config)
    except WizardError as error:
        console.print(Text(f"not rendered: {error.message}", style="yellow"))
        return
    if not prefixes:
        listed = ", ".join(
            f"{name} ({len(text.splitlines())} lines)" for name, text in artifacts.items()
        )
        console.print(Text(f"The files `render` writes for it: {listed}", style="dim"))
    for name, text in artifacts.items():
        if prefixes and name.startswith(tuple(prefixes)):
            show_artifact(console, name, text)


def show_artifact(console: Console, name: str, text: str) -> None:
    """An artifact's first lines, highlighted by its kind."""
    lines = text.splitlines()
    console.print(Text(name, style="bold"))
    console.print(Syntax("\n".join(lines[:PREVIEW_LINES]), artifact_lexer(name)))
    if len(lines) > PREVIEW_LINES:
        more = len(lines) - PREVIEW_LINES
        console.print(Text(f"… {more} more lines (`render` writes the whole file)", style="dim"))


def finish(config: LaunchConfig, path: Path, asker: Asker, console: Console) -> int:
    """Show the TOML, ask before writing (and before overwriting), then say what comes next."""
    console.rule(str(path))
    console.print(Syntax(dump_config(config), "toml"))
    for warning in config.warnings():
        console.print(Text(f"warning: {warning}", style="yellow"))
    write = asker.confirm(f"Write it to {path}?", True)
    if write and path.exists():
        write = asker.confirm(f"{path} exists: overwrite it?", False)
    if not write:
        return _nothing_written(console)
    save_config(config, path)
    state = state_path_for(path)
    console.print(Text(f"Wrote {path}. Next:", style="green"))
    next_commands = (
        f"rehearse --config {path}",  # boots its task definitions here: the same table
        f"plan --config {path}",
        f"apply --config {path} --state {state} --yes",
    )
    for command in next_commands:
        console.print(f"  airflow-ecs-wizard {command}", markup=False, soft_wrap=True)  # copyable
    return EXIT_WRITTEN


def _nothing_written(console: Console) -> int:
    console.print(Text("nothing was written", style="yellow"))
    return EXIT_NOTHING_WRITTEN
