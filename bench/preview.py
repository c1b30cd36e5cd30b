"""Benchmark: how long each step's preview takes to show, as the TUI makes it, in one sandbox
walk; then how long its linters' findings take to follow, from the lint process.

The walk is the TUI's without the screens: each step is previewed, confirmed and applied (so
the next step plans against what exists), in dependency order, in one process. As in the TUI,
the lint process is started (`LintPool.warm`) when a step's form is valid, the preview shows
when its plan is made (the first preview of a kind pays for botocore's models, as a user's
first look does), and the findings follow from the lint process. Target (issue 10): every
preview shown within 2 s; the findings may follow later, so they are printed apart. Then each
step is previewed a second time: the findings come from the cache of the artifacts' digest.

Finally the walk's own resident memory (this process and its children, the emulator excepted,
after the lint process has ended as it does at the summary). The TUI's figure is printed by
bench/startup.py, which drives the real wizard in tmux.

Run: python bench/preview.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.terminal import children, emulator_pid, resident_mib  # noqa: E402
from wizard.aws import warm_up  # noqa: E402
from wizard.config_file import load_config  # noqa: E402
from wizard.runner import order  # noqa: E402
from wizard.sandbox import Sandbox  # noqa: E402
from wizard.session import Preview, WizardSession  # noqa: E402
from wizard.steps import GRAPH  # noqa: E402

TARGET_SECONDS = 2.0


def timed_preview(session: WizardSession, step: str) -> tuple[Preview, float, float]:
    """The step's preview as the TUI makes it, the seconds until it shows, and the seconds
    its findings then take to follow."""
    start = time.perf_counter()
    session.lints.warm()  # the TUI does this as the form is valid
    preview = session.plan_preview(step)
    shown = time.perf_counter() - start
    linted = session.lint(preview)
    return linted, shown, time.perf_counter() - start - shown


def tree_mib(pid: int, exclude: int | None) -> float:
    """The RSS of `pid` and its descendants (MiB), without `exclude` and its own."""
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        if current == exclude:
            continue
        try:
            total += resident_mib(current)
        except (OSError, ValueError):
            continue
        pending += children(current)
    return total


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="aew-bench-preview-") as scratch:
        sandbox = Sandbox(Path(scratch) / "sandbox")
        os.environ.update(sandbox.environment())
        sandbox.start()
        try:
            warm_up()  # what the TUI does while its start screen shows
            session = WizardSession.new(load_config(sandbox.config_path), sandbox.folder)
            rows = []
            for step in order(GRAPH):
                preview, shown_s, lint_s = timed_preview(session, step)
                if preview.blocked:
                    print(f"{step}: blocked: {preview.plan.problems + preview.lint_problems}")
                    return 1
                again_s = timed_preview(session, step)[2]  # the same files: from the cache
                rows.append((step, shown_s, lint_s, again_s))
                session.confirm(step, preview)
                result = session.apply_ready()
                if not result.ok:
                    print(f"{step}: apply failed: {result.failed}")
                    return 1
            lint_runs = session.lints.runs
            session.lints.shutdown()  # as the TUI does at the summary
            emulator = emulator_pid(os.getpid())
            memory = tree_mib(os.getpid(), emulator)
            session.close()
        finally:
            sandbox.stop()
    print(f"{'step':18} {'shown':>8} {'lint':>8} {'cached':>8}   (lint follows the preview)")
    for step, shown_s, lint_s, again_s in rows:
        flag = "" if shown_s <= TARGET_SECONDS else "  over target"
        print(f"{step:18} {shown_s:7.2f}s {lint_s:7.2f}s {again_s:7.2f}s{flag}")
    slowest = max(rows, key=lambda row: row[1])
    slowest_lint = max(rows, key=lambda row: row[2])
    print(
        f"slowest preview shown: {slowest[0]} {slowest[1]:.2f} s (target <= {TARGET_SECONDS:.0f} s)"
        f"; slowest findings: {slowest_lint[0]} {slowest_lint[2]:.2f} s after the preview; "
        f"{lint_runs} lint runs for {2 * len(rows)} previews"
    )
    print(f"RSS of this walk and its children, emulator excepted, at the end: {memory:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
