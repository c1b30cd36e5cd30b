"""The steps of a launch, one module each, and the dependency graph they form."""

from __future__ import annotations

from wizard.steps.account import AccountStep
from wizard.steps.base import Step
from wizard.steps.bootstrap import BootstrapStep
from wizard.steps.cluster import ClusterStep
from wizard.steps.database import DatabaseStep
from wizard.steps.iam import IamStep
from wizard.steps.image import ImageStep
from wizard.steps.network import NetworkStep
from wizard.steps.redis import RedisStep
from wizard.steps.s3_layout import S3LayoutStep
from wizard.steps.secrets import SecretsStep
from wizard.steps.services import ServicesStep
from wizard.steps.task_definitions import TaskDefinitionsStep

STEPS: dict[str, Step] = {
    step.name: step
    for step in (
        AccountStep(),
        NetworkStep(),
        IamStep(),
        S3LayoutStep(),
        BootstrapStep(),
        DatabaseStep(),
        RedisStep(),
        ImageStep(),
        SecretsStep(),
        ClusterStep(),
        TaskDefinitionsStep(),
        ServicesStep(),
    )
}
"""Every step by name, in the runbook's order."""

GRAPH: dict[str, tuple[str, ...]] = {name: step.depends_on for name, step in STEPS.items()}
"""Each step and the steps it waits for."""
