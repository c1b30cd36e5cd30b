"""Where the launch's tasks are placed: the cluster's capacity provider, or the EC2 launch type.

The cluster template makes a capacity provider with managed scaling and sets it as the cluster's
`DefaultCapacityProviderStrategy`; the console's cluster stacks do the same. AWS ("Amazon ECS
managed scaling behavior"): *tasks without a capacity provider strategy are ignored by capacity
providers*, and a `launchType` bypasses the cluster's default. So the services and the migrate task
name no launch type: CreateService and RunTask with neither a launch type nor a strategy use the
cluster's default strategy (CreateService/RunTask API reference). Relying on the default, rather
than naming the provider, needs no name: CloudFormation generates it, and an emulator that makes
no provider cannot report one.

Only a cluster with no capacity provider at all (a patched console stack made without one) keeps
`launchType="EC2"`. Whether there is a provider is read from the template, never from the cluster:
the rendered `cluster.cfn.json` for a stack the launch creates, the stack's own template for a
console stack.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from botocore.exceptions import ClientError

from wizard.aws import error_code
from wizard.cfn_template import load_template
from wizard.errors import WizardError
from wizard.render import render_artifacts
from wizard.steps.base import StepContext

Mode = Literal["cluster-default", "provider", "launch-type"]

PROVIDER = "capacity provider"
"""A service's placement, as the plan shows it, when a capacity provider places its tasks."""
LAUNCH_TYPE = "launch type EC2"
"""A service's placement when the EC2 launch type places its tasks (no provider scales for it)."""


@dataclass(frozen=True)
class Capacity:
    """How the launch places its tasks, and what the template it was read from says.

    Attributes:
        mode: `cluster-default` (the template sets a default strategy with a provider of its own:
            name neither), `provider` (a provider but no default strategy: name it), or
            `launch-type` (no provider: `launchType="EC2"`).
        provider: the provider's logical id in the template (empty without one).
        source: which template said so, for messages.
    """

    mode: Mode
    provider: str
    source: str

    @property
    def placement(self) -> str:
        """What the plan shows for a service placed this way."""
        return LAUNCH_TYPE if self.mode == "launch-type" else PROVIDER


def from_template(doc: dict[str, Any], source: str) -> Capacity:
    """Read a cluster template: its EC2 capacity providers and the cluster's default strategy."""
    resources = doc.get("Resources") or {}
    providers = [
        logical
        for logical, resource in resources.items()
        if isinstance(resource, dict)
        and resource.get("Type") == "AWS::ECS::CapacityProvider"
        and (resource.get("Properties") or {}).get("AutoScalingGroupProvider")
    ]
    if not providers:
        return Capacity("launch-type", "", source)
    for resource in resources.values():
        if not isinstance(resource, dict) or resource.get("Type") not in (
            "AWS::ECS::ClusterCapacityProviderAssociations",
            "AWS::ECS::Cluster",
        ):
            continue
        strategy = (resource.get("Properties") or {}).get("DefaultCapacityProviderStrategy") or []
        for item in strategy:
            named = item.get("CapacityProvider") if isinstance(item, dict) else None
            if isinstance(named, dict) and named.get("Ref") in providers:
                return Capacity("cluster-default", str(named["Ref"]), source)
    return Capacity("provider", providers[0], source)


def capacity(ctx: StepContext) -> Capacity:
    """How this launch's cluster places tasks (read-only)."""
    config = ctx.config
    if not config.cluster.existing_stack:
        rendered = render_artifacts(config, ctx.account_id)["cluster.cfn.json"]
        return from_template(json.loads(rendered), "the rendered cluster.cfn.json")
    try:
        body = ctx.aws.client("cloudformation").get_template(StackName=config.stack_name)[
            "TemplateBody"
        ]
    except ClientError as error:
        if error_code(error) == "ValidationError":  # no such stack: the cluster step says so
            return Capacity("cluster-default", "", f"stack {config.stack_name} (not found)")
        raise
    text = body if isinstance(body, str) else json.dumps(body)
    return from_template(
        load_template(text, source_name=config.stack_name).doc,
        f"stack {config.stack_name}'s template",
    )


def placement_arguments(found: Capacity, strategy: list[dict[str, Any]] | None) -> dict[str, Any]:
    """What CreateService and RunTask carry: nothing (the cluster's default), the strategy, or
    the EC2 launch type."""
    if found.mode == "launch-type":
        return {"launchType": "EC2"}
    if found.mode == "provider":
        return {"capacityProviderStrategy": strategy or []}
    return {}


def strategy(ctx: StepContext, cluster: str, found: Capacity) -> list[dict[str, Any]]:
    """The explicit strategy (for UpdateService, which has no "use the cluster default", and for
    a cluster with a provider but no default): the cluster's default strategy as ECS reports it,
    else the provider's name from the cluster step's outputs or the stack's resources.

    Raises:
        WizardError: the template has a provider but its name cannot be found.
    """
    if found.mode == "launch-type":
        return []
    ecs = ctx.aws.client("ecs")
    described = ecs.describe_clusters(clusters=[cluster]).get("clusters", [])
    default = described[0].get("defaultCapacityProviderStrategy", []) if described else []
    if default and found.mode == "cluster-default":
        return [
            {k: item[k] for k in ("capacityProvider", "weight", "base") if k in item}
            for item in default
        ]
    name = str(ctx.outputs("cluster").get("capacity_provider") or "")
    if not name and found.provider:
        try:
            resources = ctx.aws.client("cloudformation").describe_stack_resources(
                StackName=ctx.config.stack_name
            )["StackResources"]
        except ClientError:
            resources = []
        name = next(
            (
                str(r.get("PhysicalResourceId") or "")
                for r in resources
                if r.get("LogicalResourceId") == found.provider
            ),
            "",
        )
    if not name:
        raise WizardError(
            f"{found.source} has a capacity provider ({found.provider}), but cluster {cluster} "
            "reports no default strategy and the stack names no provider",
            title="Capacity provider not found",
            hint="Check that the stack finished creating its capacity provider and associated it "
            f"with the cluster (`aws ecs describe-clusters --clusters {cluster}`), then apply "
            "again.",
        )
    return [{"capacityProvider": name, "weight": 1, "base": 0}]


PLACEMENT_HINTS = {
    "RESOURCE:MEMORY": "no instance has the memory the task reserves: lower "
    "components.initdb.memory_reservation, or use a larger cluster.instance_type",
    "RESOURCE:CPU": "no instance has the CPU the task reserves: lower components.initdb.cpu, "
    "or use a larger cluster.instance_type",
    "RESOURCE:PORTS": "a host port the task maps is taken on every instance",
    "AGENT": "the ECS agent of the instance is disconnected: restart it (`systemctl restart "
    "ecs`) or replace the instance",
    "ATTRIBUTE": "no instance has an attribute the task definition requires (`aws ecs "
    "list-attributes`): the instances' AMI or ECS agent is too old for it",
    "MISSING": "the container instance is gone (terminated or deregistered)",
}
"""What to do about each RunTask failure reason ("API failure reasons", Amazon ECS Developer
Guide: https://docs.aws.amazon.com/AmazonECS/latest/developerguide/api_failures_messages.html)."""


def not_placed(cluster: str, failures: list[dict[str, Any]]) -> WizardError:
    """The error for a RunTask that started no task, from its `failures`."""
    reasons = [
        str(f.get("reason", "unknown")) + (f" ({f['detail']})" if f.get("detail") else "")
        for f in failures
    ] or ["no reason given"]
    hints = [
        PLACEMENT_HINTS[key]
        for key in dict.fromkeys(str(f.get("reason", "")).split(" ")[0] for f in failures)
        if key in PLACEMENT_HINTS
    ]
    return WizardError(
        f"the migrate task was not placed in cluster {cluster}: " + "; ".join(reasons),
        title="Migrate task not placed",
        hint=(" ".join(h[0].upper() + h[1:] + "." for h in hints) + " " if hints else "")
        + "Then apply again; `aws ecs describe-container-instances` shows what each instance "
        "has left.",
    )
