"""What a console-made cluster stack already is, read from AWS, and what the launch needs of it.

The patch (`wizard.patch_template`) changes public IPs and user data only. Everything else stays
the stack's own: its instance type and sizes, its AMI, its instance role, and the cluster its
instances join. So the cluster step checks them here, before it patches:

- the cluster the instances join (their user data's `ECS_CLUSTER=`, else the stack's cluster)
  is the launch's cluster: the services go there (`cluster.name` only warns when it differs);
- the AMI's family matches `bootstrap.os` (`dnf` does not exist on AL2, EPEL 7 does not install
  on AL2023);
- the instance role can read the bootstrap file and list and read the environment's folder:
  IAM's simulator judges it where it can be asked, else the role's policies are read. When it
  cannot, the launch offers the least-privilege policy of its own template, with consent, as
  the network step does for rules on others' security groups.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from wizard.aws import error_code
from wizard.render import _cluster_context, render_template
from wizard.steps.base import Action, StepContext, StepPlan
from wizard.steps.iam import _documents, _simulate
from wizard.steps.iam_policies import Document, Need, allows, needs_of

POLICY_NAME = "airflow-ecs-wizard-read-airflow-folder"
"""The inline policy the launch puts on a console stack's instance role, with consent."""
ROLE_POLICY_KIND = "iam:role-policy"
_ECS_CLUSTER = re.compile(r"ECS_CLUSTER=([^\s;\"'>]*)")
_CLUSTER_NAME = re.compile(r"[A-Za-z0-9_-]{1,255}")
_FAMILIES = {"amazon-linux-2023": "Amazon Linux 2023", "amazon-linux-2": "Amazon Linux 2"}


@dataclass(frozen=True)
class Group:
    """One Auto Scaling group of the stack, with what its launch template or configuration says."""

    name: str
    min_size: int
    max_size: int
    desired: int
    instance_type: str = ""
    image_id: str = ""
    instance_profile: str = ""
    user_data: str = ""
    security_groups: tuple[str, ...] = ()
    """The groups the instances get (on the template or its network interfaces)."""


@dataclass
class ConsoleStack:
    """The stack's groups, clusters and parameters, as AWS describes them."""

    name: str
    groups: list[Group] = field(default_factory=list)
    clusters: list[str] = field(default_factory=list)
    parameters: dict[str, str] = field(default_factory=dict)

    def joined_cluster(self) -> tuple[str, str]:
        """The cluster the instances join and where that was read ("" when nothing says)."""
        for group in self.groups:
            match = _ECS_CLUSTER.search(group.user_data)
            if match:
                return match.group(1), f"the user data of {group.name} writes ECS_CLUSTER"
        if len(self.clusters) == 1:
            return self.clusters[0], "the stack's AWS::ECS::Cluster"
        return "", ""


def read_stack(ctx: StepContext, stack: dict[str, Any]) -> ConsoleStack:
    """Describe the stack's groups (with their launch template or configuration) and clusters."""
    name = str(stack["StackName"])
    found = ConsoleStack(
        name,
        parameters={
            str(p["ParameterKey"]): str(p.get("ParameterValue", ""))
            for p in stack.get("Parameters", [])
        },
    )
    resources = ctx.aws.client("cloudformation").describe_stack_resources(StackName=name)
    groups = []
    for resource in resources["StackResources"]:
        kind, physical = resource.get("ResourceType"), resource.get("PhysicalResourceId", "")
        if kind == "AWS::ECS::Cluster" and physical:
            found.clusters.append(str(physical).rsplit("/", 1)[-1])
        elif kind == "AWS::AutoScaling::AutoScalingGroup" and physical:
            groups.append(str(physical))
    if groups:
        described = ctx.aws.client("autoscaling").describe_auto_scaling_groups(
            AutoScalingGroupNames=groups
        )["AutoScalingGroups"]
        found.groups = [_group(ctx, group) for group in described]
    return found


def _group(ctx: StepContext, group: dict[str, Any]) -> Group:
    data: dict[str, Any] = {}
    template = group.get("LaunchTemplate") or (
        group.get("MixedInstancesPolicy", {})
        .get("LaunchTemplate", {})
        .get("LaunchTemplateSpecification")
    )
    if template:
        versions = ctx.aws.client("ec2").describe_launch_template_versions(
            LaunchTemplateId=template["LaunchTemplateId"],
            Versions=[str(template.get("Version") or "$Default")],
        )["LaunchTemplateVersions"]
        data = dict(versions[0]["LaunchTemplateData"]) if versions else {}
        profile = data.get("IamInstanceProfile", {})
        data["IamInstanceProfile"] = profile.get("Arn") or profile.get("Name", "")
    elif group.get("LaunchConfigurationName"):
        configurations = ctx.aws.client("autoscaling").describe_launch_configurations(
            LaunchConfigurationNames=[group["LaunchConfigurationName"]]
        )["LaunchConfigurations"]
        data = dict(configurations[0]) if configurations else {}
    groups = [*data.get("SecurityGroupIds", []), *data.get("SecurityGroups", [])]
    groups += [g for i in data.get("NetworkInterfaces", []) for g in i.get("Groups", [])]
    return Group(
        name=str(group["AutoScalingGroupName"]),
        min_size=int(group["MinSize"]),
        max_size=int(group["MaxSize"]),
        desired=int(group.get("DesiredCapacity", 0)),
        instance_type=str(data.get("InstanceType", "")),
        image_id=str(data.get("ImageId", "")),
        instance_profile=str(data.get("IamInstanceProfile", "")),
        user_data=_decoded(str(data.get("UserData", ""))),
        security_groups=tuple(dict.fromkeys(str(g) for g in groups)),
    )


def _decoded(user_data: str) -> str:
    try:
        return base64.b64decode(user_data, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return user_data


def stack_cluster(ctx: StepContext, plan: StepPlan, console: ConsoleStack) -> str:
    """The launch's cluster on a console stack: the one its instances join.

    When the stack names none, the config's cluster (the patch makes the user data write it);
    a `cluster.name` that differs from the stack's is a warning (the stack's wins); a value the
    wizard cannot read is a problem naming `cluster.name`.
    """
    joined, where = console.joined_cluster()
    config_name = ctx.config.cluster_name
    if not joined:
        return config_name
    if not _CLUSTER_NAME.fullmatch(joined):
        plan.problems.append(
            f"{where} as {joined!r}, which is not a cluster name the wizard can read: write "
            f"the cluster's name there, or set cluster.name to the cluster the instances join"
        )
        return config_name
    if ctx.config.cluster.name and ctx.config.cluster.name != joined:
        plan.warnings.append(
            f"cluster.name is {ctx.config.cluster.name!r}, but the instances of {console.name} "
            f"join {joined!r} ({where}): the launch uses {joined!r}; set cluster.name = "
            f'"{joined}" to say so'
        )
    plan.actions.append(Action("check", "ecs:cluster", joined, where))
    return joined


def own_values(ctx: StepContext, plan: StepPlan, console: ConsoleStack) -> None:
    """Show the stack's instance type and sizes, which stay; warn where the config differs."""
    cluster = ctx.config.cluster
    for group in console.groups:
        plan.actions.append(
            Action(
                "check",
                "autoscaling:group",
                group.name,
                f"{group.instance_type or 'instance type unknown'}, min {group.min_size}, "
                f"max {group.max_size}, desired {group.desired}: the stack's own values stay",
            )
        )
        differs = [
            f"cluster.{key} = {mine} (the stack has {theirs})"
            for key, mine, theirs in (
                ("instance_type", cluster.instance_type, group.instance_type),
                ("min_size", cluster.min_size, group.min_size),
                ("max_size", cluster.max_size, group.max_size),
            )
            if theirs not in ("", mine)
        ]
        if differs:
            plan.warnings.append(
                f"{group.name} keeps the stack's values, not the config's: "
                f"{'; '.join(differs)}; change them in the stack, or leave "
                "cluster.existing_stack empty to let the launch create its own"
            )


def ami_family(ctx: StepContext, plan: StepPlan, console: ConsoleStack) -> None:
    """The stack's AMI family must be `bootstrap.os`'s: a problem naming it when it is not."""
    wanted = ctx.config.bootstrap.os
    family, evidence = _family_of_parameters(console)
    if not family:
        family, evidence = _family_of_images(ctx, console)
    if not family:
        plan.warnings.append(
            f"could not tell which Amazon Linux the instances of {console.name} run: "
            f"bootstrap.os is {wanted}, check that it matches"
        )
        return
    if family != wanted:
        plan.problems.append(
            f"the instances of {console.name} run {_FAMILIES[family]} ({evidence}), but "
            f'bootstrap.os is {wanted}: set bootstrap.os = "{family}" (the bootstrap installs '
            f"with {'dnf' if wanted == 'amazon-linux-2023' else 'yum and EPEL 7'}, which "
            f"{_FAMILIES[family]} does not have)"
        )
        return
    plan.actions.append(Action("check", "ec2:ami", console.name, f"{_FAMILIES[family]}"))


def _family(text: str) -> str:
    if "amazon-linux-2023" in text or text.startswith("al2023-"):
        return "amazon-linux-2023"
    if "amazon-linux-2/" in text or text.startswith("amzn2-"):
        return "amazon-linux-2"
    return ""


def _family_of_parameters(console: ConsoleStack) -> tuple[str, str]:
    for key, value in console.parameters.items():
        if value.startswith("/aws/service/ecs/optimized-ami/") and _family(value):
            return _family(value), f"parameter {key} = {value}"
    return "", ""


def _family_of_images(ctx: StepContext, console: ConsoleStack) -> tuple[str, str]:
    images = sorted({group.image_id for group in console.groups if group.image_id})
    if not images:
        return "", ""
    try:
        described = ctx.aws.client("ec2").describe_images(ImageIds=images)["Images"]
    except ClientError:
        return "", ""
    for image in described:
        name = str(image.get("Name", ""))
        if _family(name):
            return _family(name), f"image {image['ImageId']} is {name}"
    return "", ""


def folder_policy(ctx: StepContext) -> Document:
    """The least-privilege policy the launch's own cluster template gives its instance role."""
    template = json.loads(
        render_template("cluster.cfn.json.j2", **_cluster_context(ctx.config, ""))
    )
    policy = template["Resources"]["InstanceRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    return dict(_substituted(policy, ctx.config.partition))


def _substituted(value: Any, partition: str) -> Any:
    if isinstance(value, dict):
        if set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
            return value["Fn::Sub"].replace("${AWS::Partition}", partition)
        return {key: _substituted(item, partition) for key, item in value.items()}
    if isinstance(value, list):
        return [_substituted(item, partition) for item in value]
    return value


@dataclass(frozen=True)
class RoleGrant:
    """The role the instances run as, and the policy to put on it (empty when it needs none)."""

    role: str
    policy: Document


def role_access(ctx: StepContext, plan: StepPlan, console: ConsoleStack) -> list[RoleGrant]:
    """Check that each instance role can read what the bootstrap and the mount read.

    A role that cannot gets the launch's own policy when the user consents (`apply --yes`, or
    confirming the preview): the plan lists it among its consents, saying how to fix it by hand.
    """
    grants = []
    policy = folder_policy(ctx)
    needs = needs_of(policy)
    for profile in sorted({g.instance_profile for g in console.groups if g.instance_profile}):
        role = _role_of(ctx, profile)
        if role is None:
            plan.warnings.append(
                f"could not read the instance profile {profile} of {console.name}: check that "
                f"its role can read {ctx.config.bootstrap_uri} and list and read "
                f"{ctx.config.mount_source}"
            )
            continue
        name, arn = role
        lacking = _lacking(ctx, name, arn, needs)
        if not lacking:
            plan.actions.append(Action("check", "iam:role", name, "reads the bootstrap and dags"))
            continue
        missing = "; ".join(f"{need.action} on {need.resource}" for need in lacking)
        plan.actions.append(
            Action(
                "update",
                ROLE_POLICY_KIND,
                f"{name}/{POLICY_NAME}",
                f"the instances' role lacks {missing}",
                "".join(
                    difflib.unified_diff(
                        [],
                        (json.dumps(policy, indent=2) + "\n").splitlines(keepends=True),
                        fromfile=f"{name} (no {POLICY_NAME})",
                        tofile=f"{name}/{POLICY_NAME}",
                    )
                ),
            )
        )
        grants.append(RoleGrant(name, policy))
        plan.consents.append(
            f"the instance role {name} of {console.name} cannot {missing}, so the instances "
            f"cannot copy the bootstrap or mount the dags: the wizard puts the inline policy "
            f"{POLICY_NAME} of the preview on it, a role this launch does not own; or add a "
            "policy like it yourself"
        )
    return grants


def grant(ctx: StepContext, grants: list[RoleGrant], created: Any) -> None:
    """Put the policy on each role (`created(kind, id)` records it, so destroy removes it)."""
    iam = ctx.aws.client("iam")
    for wanted in grants:
        iam.put_role_policy(
            RoleName=wanted.role, PolicyName=POLICY_NAME, PolicyDocument=json.dumps(wanted.policy)
        )
        created(ROLE_POLICY_KIND, f"{wanted.role}/{POLICY_NAME}")
        ctx.progress(f"inline policy {POLICY_NAME} put on {wanted.role}")


def _role_of(ctx: StepContext, profile: str) -> tuple[str, str] | None:
    name = profile.rsplit("/", 1)[-1]
    try:
        found = ctx.aws.client("iam").get_instance_profile(InstanceProfileName=name)
    except ClientError as error:
        if error_code(error) in ("NoSuchEntity", "AccessDenied"):
            return None
        raise
    roles = found["InstanceProfile"].get("Roles", [])
    if not roles:
        return None
    return str(roles[0]["RoleName"]), str(roles[0]["Arn"])


def _lacking(ctx: StepContext, name: str, arn: str, needs: list[Need]) -> list[Need]:
    lacking = _simulate(ctx, arn, needs)
    if lacking is None:  # no simulator: read the role's own policies
        documents = _documents(ctx, name)
        lacking = [need for need in needs if not allows(documents, need)]
    return lacking
