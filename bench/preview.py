"""Benchmark: how long each step's preview takes, as the wizard's session computes it, in one
sandbox walk; split into the plan (read-only AWS calls) and the linters over its artifacts.

The walk is the TUI's without the screens: each step is previewed, confirmed and applied (so
the next step plans against what exists), in dependency order, in one process, as the wizard
does. The first preview of a kind pays for its imports (cfn-lint's, botocore's models), as a
user's first look does. Target: every preview within 2 s (issue 10); the lint part may follow
the preview when it runs elsewhere, so both parts are printed.

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

from wizard.config_file import load_config  # noqa: E402 (the repo root must be on the path first)
from wizard.engine import plan_step  # noqa: E402
from wizard.lint import lint_artifacts  # noqa: E402
from wizard.runner import order  # noqa: E402
from wizard.sandbox import Sandbox  # noqa: E402
from wizard.session import Preview, WizardSession  # noqa: E402
from wizard.steps import GRAPH  # noqa: E402

TARGET_SECONDS = 2.0


def timed_preview(session: WizardSession, step: str) -> tuple[Preview, float, float]:
    """The step's preview as `WizardSession.preview` makes it, and the seconds its plan and
    its lint took."""
    launch = session.launch()
    start = time.perf_counter()
    plan = plan_step(launch, step)
    planned = time.perf_counter() - start
    lint_problems: list[str] = []
    if plan.artifacts:
        report = lint_artifacts(plan.artifacts, launch.aws.region, session.config.airflow.version)
        lint_problems = [str(problem) for problem in report.problems]
    return Preview(plan, lint_problems), planned, time.perf_counter() - start - planned


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="aew-bench-preview-") as scratch:
        sandbox = Sandbox(Path(scratch) / "sandbox")
        os.environ.update(sandbox.environment())
        sandbox.start()
        try:
            session = WizardSession.new(load_config(sandbox.config_path), sandbox.folder)
            rows = []
            for step in order(GRAPH):
                preview, plan_s, lint_s = timed_preview(session, step)
                if preview.blocked:
                    print(f"{step}: blocked: {preview.plan.problems + preview.lint_problems}")
                    return 1
                rows.append((step, plan_s, lint_s))
                session.confirm(step, preview)
                result = session.apply_ready()
                if not result.ok:
                    print(f"{step}: apply failed: {result.failed}")
                    return 1
            session.close()
        finally:
            sandbox.stop()
    print(f"{'step':18} {'plan':>8} {'lint':>8} {'preview':>8}")
    for step, plan_s, lint_s in rows:
        total = plan_s + lint_s
        flag = "" if total <= TARGET_SECONDS else "  over target"
        print(f"{step:18} {plan_s:7.2f}s {lint_s:7.2f}s {total:7.2f}s{flag}")
    slowest = max(rows, key=lambda row: row[1] + row[2])
    slowest_plan = max(rows, key=lambda row: row[1])
    print(
        f"slowest preview: {slowest[0]} {slowest[1] + slowest[2]:.2f} s "
        f"(target <= {TARGET_SECONDS:.0f} s); slowest plan alone: {slowest_plan[0]} "
        f"{slowest_plan[1]:.2f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
