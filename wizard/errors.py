"""The project's one error type, carried to the user with a title and a hint."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

QUOTE_LIMIT = 60
"""The most characters of a rejected value a message repeats."""


def quoted(value: object, limit: int = QUOTE_LIMIT) -> str:
    """A rejected value as a message shows it: quoted with its control characters escaped, and cut
    to a readable length (a 180 KB value must not come back as 180 KB of stderr)."""
    text = str(value)
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text)} characters)"


class WizardError(Exception):
    """A failure the user can act on.

    Args:
        message: What happened, in one or two sentences.
        title: A short heading for an error modal or the first line on a terminal.
        hint: What to do next.
    """

    exit_code = 1

    def __init__(self, message: str, *, title: str = "Error", hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.title = title
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n{self.hint}" if self.hint else self.message


class BadInput(WizardError):
    """Input that cannot be used: nothing was changed (exit status 2)."""

    exit_code = 2


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with the input, at a dotted field path such as `s3.bucket`."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ProblemsError(BadInput):
    """Every problem found in one input, reported together."""

    def __init__(self, problems: Iterable[Problem], *, title: str = "Invalid input") -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(
            f"{len(self.problems)} problem(s):\n{lines}",
            title=title,
            hint="Fix the fields named above and run the command again; nothing was changed.",
        )


def as_wizard_error(error: BaseException) -> WizardError:
    """Any failure as the project's error: an AWS refusal with its code, anything else as
    unexpected (the traceback is for --debug)."""
    if isinstance(error, WizardError):
        return error
    response = getattr(error, "response", None)
    if isinstance(response, dict) and "Error" in response:
        code = response["Error"].get("Code", "")
        return WizardError(
            str(error),
            title=f"AWS refused: {code}",
            hint="Check the credentials' permissions and the config; any state is saved, so "
            "run the command again when it is fixed (--debug shows the traceback).",
        )
    return WizardError(
        f"{type(error).__name__}: {error}",
        title="Unexpected error",
        hint="Run again with --debug for the traceback, and report it if it looks like a bug.",
    )
