"""A lint process for the tests: `python -m tests.lint_gates GATE` is `wizard.lint_worker` with
the real linters held at a gate.

Each request marks that it started (`GATE/started-PID`), then waits until the test creates
`GATE/open`, so a test can look at the screen while lint is running, or end the lint process
in the middle of its work.
"""

from __future__ import annotations

import os
import sys
import time
from functools import partial
from pathlib import Path

from wizard.lint import LintReport, lint_artifacts
from wizard.lint_worker import serve, warm_up

GATE_SECONDS = 300.0
"""How long a gated lint waits for its test at most (a test that failed never opens it)."""


def gated(gate: Path) -> list[str]:
    """The lint process's arguments for `LintPool`, held at `gate`."""
    return ["-m", "tests.lint_gates", str(gate)]


def gated_lint(gate: Path, artifacts: dict[str, str], region: str, version: str) -> LintReport:
    """`lint_artifacts`, once the gate is open."""
    (gate / f"started-{os.getpid()}").touch()
    deadline = time.monotonic() + GATE_SECONDS
    while not (gate / "open").exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"nobody opened {gate}")
        time.sleep(0.02)
    return lint_artifacts(artifacts, region, version)


def started(gate: Path) -> list[int]:
    """The lint processes that reached the gate."""
    return [int(path.name.removeprefix("started-")) for path in gate.glob("started-*")]


if __name__ == "__main__":
    warm_up()
    serve(partial(gated_lint, Path(sys.argv[1])))
