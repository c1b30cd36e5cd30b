"""The expensive checks of `render --lint` and `validate`: the tools AWS and shells use.

botocore validates each task definition against the `RegisterTaskDefinition` input shape,
cfn-lint checks the cluster template, and `bash -n` plus shellcheck check the scripts. They are
imported lazily: plain `render` stays fast.
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Any

from wizard.airflow_options import unknown_env_options
from wizard.errors import Problem

SHELLCHECK_MISSING = (
    "shellcheck is not installed, so the scripts were only checked with bash -n: "
    "install it (apt-get install shellcheck, brew install shellcheck)"
)


def taskdef_shape_problems(document: dict[str, Any]) -> list[str]:
    """botocore's validation of a `RegisterTaskDefinition` input, offline."""
    from botocore.exceptions import ParamValidationError
    from botocore.validate import validate_parameters

    operation = _ecs_model().operation_model("RegisterTaskDefinition")
    try:
        validate_parameters(document, operation.input_shape)
    except ParamValidationError as error:
        return [line.strip() for line in str(error).splitlines()[1:] if line.strip()]
    return []


@functools.cache
def _ecs_model() -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model("ecs")


def cfn_lint_problems(template: str, region: str) -> list[str]:
    """cfn-lint's errors and warnings for a template (informational findings are ignored)."""
    from cfnlint.api import ManualArgs, lint

    matches = lint(template, config=ManualArgs(regions=[region]))
    return [
        f"{match.rule.id} {match.message} (line {match.linenumber})"
        for match in matches
        if match.rule.id[0] in "EW"
    ]


def bash_syntax_problems(script: str) -> list[str]:
    """`bash -n`: the script parses."""
    result = subprocess.run(
        ["bash", "-n"], input=script, capture_output=True, text=True, check=False
    )
    return [line for line in result.stderr.splitlines() if line.strip()]


def shellcheck_problems(script: str) -> list[str] | None:
    """shellcheck's findings, or None when shellcheck is not installed."""
    executable = shutil.which("shellcheck")
    if executable is None:
        return None
    result = subprocess.run(
        [executable, "--shell=bash", "--format=gcc", "-"],
        input=script,
        capture_output=True,
        text=True,
        check=False,
    )
    return [line.removeprefix("-:") for line in result.stdout.splitlines() if line.strip()]


@dataclass
class LintReport:
    """Findings that make an artifact wrong, and warnings about checks that could not run."""

    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def lint_artifacts(artifacts: dict[str, str], region: str, airflow_version: str) -> LintReport:
    """Every finding of every linter over a launch's rendered artifacts."""
    problems: list[Problem] = []
    shellcheck_missing = False
    for name, text in artifacts.items():
        if name.endswith(".sh"):
            problems += [Problem(name, f"bash -n: {line}") for line in bash_syntax_problems(text)]
            findings = shellcheck_problems(text)
            shellcheck_missing |= findings is None
            problems += [Problem(name, f"shellcheck: {line}") for line in findings or []]
        elif name == "cluster.cfn.json":
            problems += [
                Problem(name, f"cfn-lint: {line}") for line in cfn_lint_problems(text, region)
            ]
        elif name.startswith("taskdef-"):
            document = json.loads(text)
            problems += [
                Problem(name, f"RegisterTaskDefinition: {line}")
                for line in taskdef_shape_problems(document)
            ]
            problems += [
                Problem(name, f"{variable} is not an option of Airflow {airflow_version}")
                for variable in unknown_env_options(_variables(document), airflow_version)
            ]
    return LintReport(problems, [SHELLCHECK_MISSING] if shellcheck_missing else [])


def _variables(document: dict[str, Any]) -> list[str]:
    names = []
    for container in document.get("containerDefinitions", []):
        names += [item["name"] for item in container.get("environment", [])]
        names += [item["name"] for item in container.get("secrets", [])]
    return names
