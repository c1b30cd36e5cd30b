"""The steps of a launch, one module each, and the dependency graph they form."""

from __future__ import annotations

from wizard.steps.account import AccountStep
from wizard.steps.base import Step
from wizard.steps.bootstrap import BootstrapStep
from wizard.steps.image import ImageStep
from wizard.steps.s3_layout import S3LayoutStep
from wizard.steps.secrets import SecretsStep

STEPS: dict[str, Step] = {
    step.name: step
    for step in (AccountStep(), S3LayoutStep(), BootstrapStep(), ImageStep(), SecretsStep())
}
"""Every step by name, in the runbook's order."""

GRAPH: dict[str, tuple[str, ...]] = {name: step.depends_on for name, step in STEPS.items()}
"""Each step and the steps it waits for."""
