"""The project's one error type, carried to the user with a title and a hint."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


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
