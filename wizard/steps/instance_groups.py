"""The security groups the cluster's instances carry, when the network step does not make them.

The network step puts the launch's rules for the instances (the load balancer to the web server,
the instances to each other for Service Connect and the worker's log server) on the instances'
groups, and the database's and the cache's groups admit them. Which groups those are:

- the groups the config names (`network.security_group_ids`), as they are given;
- on a patched console-made stack (`cluster.existing_stack`), the groups its launch template or
  launch configuration gives the instances: the patch moves them onto the network interface and
  adds none, so they are the groups the instances really carry;
- otherwise the network step's own group.

On a console stack the launch adopts the stack's groups rather than putting its own group on the
stack's launch template, because:

- a rule added to a group applies to the running instances at once; a group added to the launch
  template reaches only the instances started after a refresh;
- the console's stack would then depend on a group the launch owns: `destroy` could not delete
  that group while the stack's instances use it (DependencyViolation) without changing the stack
  back and replacing its instances once more, and a group deleted under it would break the
  stack's next scale-out;
- opening someone else's group is what the launch already does for an existing database's
  group: each rule is shown in the plan, added only with consent (`apply --yes`, or confirming
  the preview), tagged with the launch and recorded as created, so `destroy` revokes exactly
  those rules and leaves the group as it found it.

The cost: the stack's group may be shared with instances outside the cluster, and the rules
from the group to itself admit them too. The plan says so on the group's line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from wizard.aws import error_code
from wizard.steps import console_stack
from wizard.steps import reachability as reach
from wizard.steps.base import Action, StepContext

GROUP_KIND = "ec2:security-group"
RULE_KIND = "ec2:security-group-rule"
_GROUPS = ("describe_security_groups", "SecurityGroups")


@dataclass
class InstanceGroups:
    """The instances' groups, what the plan shows about them, and whose they are."""

    ids: list[str] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    owner: str = ""
    """Whose groups these are when a rule on them needs consent ("" when the config names
    them: naming them is consent)."""

    @property
    def label(self) -> str:
        """The first group's id, or what stands for it when there is none."""
        return self.ids[0] if self.ids else "the instances' group"


def given(ctx: StepContext, vpc_id: str) -> InstanceGroups:
    """The groups `network.security_group_ids` names, each checked to exist in the VPC."""
    found = InstanceGroups(ids=list(ctx.config.network.security_group_ids))
    described = _described(ctx, found.ids)
    for group_id in found.ids:
        where = described.get(group_id, {}).get("VpcId")
        what = f"security group {group_id} (network.security_group_ids)"
        if where is None:
            found.problems.append(f"{what} does not exist")
        elif where != vpc_id:
            found.problems.append(f"{what} belongs to {where}, not {vpc_id}")
        else:
            detail = f"given: {described[group_id]['GroupName']}"
            found.actions.append(Action("check", GROUP_KIND, group_id, detail))
    return found


def of_console_stack(ctx: StepContext, vpc_id: str) -> InstanceGroups:
    """The groups the instances of the console stack (`cluster.existing_stack`) carry.

    An instance launched with no group gets the VPC's default group (EC2 User Guide, "Security
    groups for your VPC"), so a launch template that names none stands for that one.
    """
    name, found = ctx.config.stack_name, InstanceGroups()
    stack = _stack(ctx, name)
    if stack is None:
        found.problems.append(
            f"stack {name} (cluster.existing_stack) does not exist in {ctx.aws.region}: the "
            "launch's rules for the instances go on the security groups its instances carry"
        )
        return found
    console = console_stack.read_stack(ctx, stack)
    if not console.groups:
        found.problems.append(
            f"stack {name} (cluster.existing_stack) has no Auto Scaling group, so no instances "
            "whose security groups the launch could open: is it the ECS console's cluster stack?"
        )
        return found
    ids: list[str] = []
    for group in console.groups:
        ids += group.security_groups or _default_group(ctx, vpc_id)
    found.ids = list(dict.fromkeys(ids))
    found.owner = f"the instances of {name}"
    described = _described(ctx, found.ids)
    for group_id in found.ids:
        where = described.get(group_id, {}).get("VpcId")
        what = f"security group {group_id} of the instances of {name}"
        if where is None:
            found.problems.append(f"{what} does not exist")
        elif where != vpc_id:
            found.problems.append(
                f"{what} belongs to {where}, not {vpc_id} (network.vpc_id): set network.vpc_id "
                f'= "{where}" and choose subnets there'
            )
        else:
            group = described[group_id]
            detail = (
                f"{group['GroupName']}: the instances of {name} carry it, so the launch's rules "
                "for the instances go on it, with consent (it is not the launch's: destroy "
                "removes only the rules the launch added; any other instance in this group is "
                "admitted by its rules from itself too)"
            )
            found.actions.append(Action("check", GROUP_KIND, group_id, detail))
    named = list(ctx.config.network.security_group_ids)
    if named and set(named) != set(found.ids):
        found.problems.append(
            f"network.security_group_ids names {', '.join(named)}, but the instances of {name} "
            f"carry {', '.join(found.ids)} (patching the stack keeps its groups): leave "
            "network.security_group_ids empty to let the launch add its rules to the stack's "
            "groups, or name exactly those"
        )
    elif named:
        found.owner = ""  # named in the config: consent given
    return found


def _stack(ctx: StepContext, name: str) -> dict[str, Any] | None:
    try:
        stacks = ctx.aws.client("cloudformation").describe_stacks(StackName=name)["Stacks"]
    except ClientError as error:
        if error_code(error) == "ValidationError":
            return None
        raise
    return dict(stacks[0]) if stacks else None


def _described(ctx: StepContext, ids: list[str]) -> dict[str, Any]:
    if not ids:
        return {}
    groups = reach.paginate(
        ctx.aws.client("ec2"),
        "describe_security_groups",
        "SecurityGroups",
        Filters=[{"Name": "group-id", "Values": ids}],
    )
    return {g["GroupId"]: g for g in groups}


def _default_group(ctx: StepContext, vpc_id: str) -> list[str]:
    groups = ctx.aws.client("ec2").describe_security_groups(
        Filters=[
            {"Name": "vpc-id", "Values": [vpc_id]},
            {"Name": "group-name", "Values": ["default"]},
        ]
    )["SecurityGroups"]
    return [str(g["GroupId"]) for g in groups]


def retire_unused(ctx: StepContext) -> None:
    """Delete the launch's own instance group (`NAME-instances`) once no instance carries it.

    An earlier version made it on console launches too, where the stack's instances never
    carried it (so its rules admitted nothing); a launch moved to given groups leaves it too.
    Rules of the launch that name it (in the database's or the cache's group) are revoked
    first; a rule the launch did not make keeps it (AWS refuses to delete a group another
    group's rule names), and the progress says so.
    """
    state = ctx.state
    wanted = set(ctx.outputs("network").get("instance_security_group_ids", []))
    if state is None or not wanted:
        return
    old = [
        r.id
        for r in state.step("network").resources
        if r.created and r.kind == GROUP_KIND and r.id not in wanted
    ]
    ec2 = ctx.aws.client("ec2")
    name = f"{ctx.config.name}-instances"
    for group in _described(ctx, old).values():
        if group["GroupName"] != name:
            continue  # the load balancer's group: its own step's business
        group_id = str(group["GroupId"])
        vpc = [{"Name": "vpc-id", "Values": [str(group["VpcId"])]}]
        ids = [g["GroupId"] for g in reach.paginate(ec2, *_GROUPS, Filters=vpc)]
        rules = reach.group_rules(ec2, ids)
        naming = [
            r
            for r in rules
            if r["GroupId"] != group_id
            and r.get("ReferencedGroupInfo", {}).get("GroupId") == group_id
        ]
        foreign = [r["GroupId"] for r in naming if not _ours(ctx, r)]
        interfaces = reach.paginate(
            ec2,
            "describe_network_interfaces",
            "NetworkInterfaces",
            Filters=[{"Name": "group-id", "Values": [group_id]}],
        )
        if foreign or interfaces:
            why = (
                f"rules the launch did not make name it ({', '.join(foreign)})"
                if foreign
                else f"{len(interfaces)} network interface(s) still carry it: apply again "
                "once the instances are replaced"
            )
            ctx.progress(f"security group {group_id} ({name}) kept: {why}")
            continue
        for rule in naming:
            revoke = ec2.revoke_security_group_egress if rule["IsEgress"] else None
            (revoke or ec2.revoke_security_group_ingress)(
                GroupId=rule["GroupId"], SecurityGroupRuleIds=[rule["SecurityGroupRuleId"]]
            )
            state.forget_resource(RULE_KIND, rule["SecurityGroupRuleId"])
        ec2.delete_security_group(GroupId=group_id)
        for rule in rules:
            if rule["GroupId"] == group_id:
                state.forget_resource(RULE_KIND, rule["SecurityGroupRuleId"])
        state.forget_resource(GROUP_KIND, group_id)
        ctx.progress(f"security group {group_id} ({name}) retired: no instance carries it")


def _ours(ctx: StepContext, rule: dict[str, Any]) -> bool:
    """A rule the launch made, or one in a group the launch made."""
    assert ctx.state is not None
    for kind, identifier in (
        (RULE_KIND, rule["SecurityGroupRuleId"]),
        (GROUP_KIND, rule["GroupId"]),
    ):
        record = ctx.state.recorded(kind, identifier)
        if record is not None and record.created:
            return True
    return False
