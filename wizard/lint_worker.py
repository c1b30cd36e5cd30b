"""The lint process: `python -m wizard.lint_worker` lints what it reads on stdin.

One request a line, one answer a line, both JSON: a request is
`{"artifacts": {NAME: TEXT}, "region": R, "airflow_version": V}`; the answer is
`{"problems": [[PATH, MESSAGE], ...], "warnings": [...]}`, or `{"error": MESSAGE}` when a
linter raised. The slow imports (cfn-lint, botocore's ECS model) happen at start, before the
first request arrives. The process ends when stdin closes. Its stderr is not the user's
terminal (`LintPool` discards it), and it writes nothing else to stdout.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import IO

from wizard.lint import LintReport, lint_artifacts

LintFunction = Callable[[dict[str, str], str, str], LintReport]


WARM_TEMPLATE = '{"Resources": {"Bucket": {"Type": "AWS::S3::Bucket"}}}'
"""A template linted once at start: cfn-lint loads its rules and schemas on its first lint."""


def warm_up() -> None:
    """Import the slow linters, and run cfn-lint once, before there is anything to lint."""
    from wizard.lint import _ecs_model, cfn_lint_problems

    cfn_lint_problems(WARM_TEMPLATE, "us-east-1")
    _ecs_model()


def serve(lint: LintFunction = lint_artifacts, stdin: IO[str] | None = None) -> None:
    """Answer lint requests until stdin closes."""
    requests = stdin or sys.stdin
    for line in requests:
        request = json.loads(line)
        try:
            report = lint(request["artifacts"], request["region"], request["airflow_version"])
            answer: dict[str, object] = {
                "problems": [[p.path, p.message] for p in report.problems],
                "warnings": report.warnings,
            }
        except Exception as error:  # a linter's crash is the preview's finding, not ours
            answer = {"error": f"{type(error).__name__}: {error}"}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    warm_up()
    serve()
