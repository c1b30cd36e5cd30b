"""The lint process of the TUI's previews (wizard/lint_pool.py): the same findings as linting in
the wizard's own process, a cache by digest, a process that ends when idle, and a process that
dies reported rather than waited on."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import run_python
from tests.lint_gates import gated, started
from tests.terminal import running
from wizard.config_file import load_config
from wizard.lint import lint_artifacts
from wizard.lint_pool import LintPool
from wizard.render import render_artifacts

BOUND = 120.0
"""Every wait's own bound: generous, for a loaded 2-core machine."""


def _until(condition: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + BOUND
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {BOUND:.0f} s waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def artifacts(example_path: Path) -> dict[str, str]:
    return render_artifacts(load_config(example_path), "123456789012")


@pytest.fixture
def pool() -> Iterator[LintPool]:
    lints = LintPool()
    yield lints
    lints.shutdown()


@pytest.fixture
def gated_pool(tmp_path: Path) -> Iterator[LintPool]:
    """A pool whose lint process stops at its gate (tests/lint_gates.py) until the test opens it."""
    lints = LintPool(gated(tmp_path))
    yield lints
    (tmp_path / "open").touch()
    lints.shutdown()


def _lint_in_background(
    pool: LintPool, artifacts: dict[str, str], tmp_path: Path
) -> tuple[threading.Thread, list[object], int]:
    """Lint in a thread until the lint process is at its gate: the thread, the list its report
    goes to, and the lint process's pid."""
    result: list[object] = []
    worker = threading.Thread(
        target=lambda: result.append(pool.lint(artifacts, "us-east-1", "3.3")), daemon=True
    )
    worker.start()
    _until(lambda: started(tmp_path), "the lint process to start linting")
    (pid,) = started(tmp_path)
    return worker, result, pid


def test_the_lint_process_finds_what_linting_in_process_finds(
    pool: LintPool, artifacts: dict[str, str]
) -> None:
    broken = dict(artifacts)
    broken["bootstrap.sh"] += "\nif [ -f $UNQUOTED ]; then\n"  # a parse error and a finding
    expected = lint_artifacts(broken, "us-east-1", "3.3")
    assert expected.problems, "the broken script must have findings"
    assert pool.lint(broken, "us-east-1", "3.3") == expected


def test_the_same_digest_is_linted_once(pool: LintPool, artifacts: dict[str, str]) -> None:
    first = pool.lint(artifacts, "us-east-1", "3.3")
    assert pool.runs == 1
    assert pool.cached(artifacts, "us-east-1", "3.3")
    again = pool.lint(dict(artifacts), "us-east-1", "3.3")  # equal files, another dict
    assert pool.runs == 1 and again == first
    changed = {**artifacts, "bootstrap.sh": artifacts["bootstrap.sh"] + "\ntrue\n"}
    assert not pool.cached(changed, "us-east-1", "3.3")
    pool.lint(changed, "us-east-1", "3.3")
    assert pool.runs == 2
    pool.lint(artifacts, "eu-west-1", "3.3")  # the region is part of the digest
    assert pool.runs == 3


def test_the_lint_process_ends_when_idle(artifacts: dict[str, str]) -> None:
    pool = LintPool(idle_seconds=0.2)
    try:
        pool.lint(artifacts, "us-east-1", "3.3")
        pid = pool.pid
        assert pid is not None
        _until(lambda: not Path(f"/proc/{pid}").exists(), "the idle lint process to end")
        assert pool.lint(artifacts, "us-east-1", "3.3").problems == []  # from the cache
        assert pool.pid is None and pool.runs == 1
    finally:
        pool.shutdown()


def test_the_lint_process_is_gone_after_shutdown(pool: LintPool, artifacts: dict[str, str]) -> None:
    pool.warm()
    pid = pool.pid
    assert pid is not None
    pool.lint(artifacts, "us-east-1", "3.3")
    assert pool.pid == pid  # one process for every lint
    pool.shutdown()
    assert pool.pid is None
    assert not Path(f"/proc/{pid}").exists(), "the lint process outlived shutdown"


def test_a_lint_process_that_dies_is_reported_and_the_next_lint_works(
    tmp_path: Path, artifacts: dict[str, str], gated_pool: LintPool
) -> None:
    pool = gated_pool
    worker, result, killed = _lint_in_background(pool, artifacts, tmp_path)
    os.kill(killed, signal.SIGKILL)
    worker.join(BOUND)
    assert not worker.is_alive(), "the lint of a dead process never returned"
    (report,) = result
    messages = [str(problem) for problem in report.problems]  # type: ignore[attr-defined]
    assert len(messages) == 1 and "the lint process stopped before it finished" in messages[0]
    assert "killed by signal 9" in messages[0]
    assert "press Preview (ctrl+r)" in messages[0]
    assert not pool.cached(artifacts, "us-east-1", "3.3")  # a failure is not remembered

    (tmp_path / "open").touch()
    assert pool.lint(artifacts, "us-east-1", "3.3").problems == []  # a new process
    assert pool.runs == 2 and pool.pid not in (None, killed)


def test_shutdown_in_the_middle_of_a_lint_ends_it_at_once(
    tmp_path: Path, artifacts: dict[str, str], gated_pool: LintPool
) -> None:
    """As at the summary: the lint process goes, and the lint waiting on it returns."""
    worker, result, linting = _lint_in_background(gated_pool, artifacts, tmp_path)
    gated_pool.shutdown()
    assert not running(linting), "the lint process outlived shutdown"
    worker.join(BOUND)
    assert not worker.is_alive(), "the lint never returned after shutdown"
    (report,) = result
    (problem,) = report.problems  # type: ignore[attr-defined]
    assert "the lint process stopped before it finished" in str(problem)


def test_a_lint_after_the_idle_exit_starts_a_new_process_that_answers(
    artifacts: dict[str, str],
) -> None:
    """The lint process does not stay resident with nothing to lint (its ~100 MiB count at the
    summary); a later lint of new files starts another, with the same findings."""
    pool = LintPool(idle_seconds=0.2)
    try:
        pool.lint(artifacts, "us-east-1", "3.3")
        first = pool.pid
        assert first is not None
        _until(lambda: not running(first), "the idle lint process to end")
        assert pool.pid is None
        broken = {**artifacts, "bootstrap.sh": artifacts["bootstrap.sh"] + "\nif [ -f $X ]; then\n"}
        report = pool.lint(broken, "us-east-1", "3.3")
        assert report == lint_artifacts(broken, "us-east-1", "3.3") and report.problems
        assert pool.runs == 2  # not from the cache: a new process answered (the first is gone)
    finally:
        pool.shutdown()


LINTED_IN_A_CHILD = """
import json, sys
import screens.app, screens.launch, screens.preview, screens.summary, wizard.session
from wizard.config_file import load_config
from wizard.lint_pool import LintPool
from wizard.render import render_artifacts

artifacts = render_artifacts(load_config(sys.argv[1]), "123456789012")
artifacts["bootstrap.sh"] += "\\nif [ -f $X ]; then\\n"
pool = LintPool()
report = pool.lint(artifacts, "us-east-1", "3.3")
pool.shutdown()
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("cfnlint", "jsonschema"))
print(json.dumps({"problems": len(report.problems), "imported": heavy}))
"""


def test_the_tui_process_lints_without_importing_cfn_lint(example_path: Path) -> None:
    """The TUI's modules and its lint path leave cfn-lint to the lint process: imported, it
    would stay in the wizard's memory to the summary."""
    import json

    answer = json.loads(run_python(LINTED_IN_A_CHILD, str(example_path)))
    assert answer["problems"] > 0  # it did lint
    assert answer["imported"] == []
