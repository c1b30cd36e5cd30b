"""Building blocks for the steps that provision a managed service in the launch's VPC (the
database and the Celery broker): look-then-create, with what an interrupted run made adopted as
created by its launch tag; a security group admitting the cluster's instances; waiting with
progress; and the SSM SecureStrings that hold values derived from an endpoint or a password
(each secret value registered with the state before anything could save it).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from botocore.exceptions import ClientError, WaiterError

from wizard.aws import error_code
from wizard.errors import WizardError
from wizard.steps.base import Action, Step, StepContext, StepPlan
from wizard.steps.instance_groups import of_console_stack

MASK = "••••••••"
"""Stands for a secret value in a plan."""


def instance_groups(ctx: StepContext) -> list[str]:
    """The cluster's instance security groups: the network step's, else the config's, else
    (before the network step applied) those a console stack's instances carry."""
    network = ctx.outputs("network")
    single = network.get("instance_security_group_id")
    groups = network.get("instance_security_group_ids") or ([single] if single else [])
    groups = groups or ctx.config.network.security_group_ids
    if not groups and ctx.config.cluster.existing_stack:
        groups = of_console_stack(ctx, vpc_of(ctx)).ids
    return [str(group) for group in groups]


def vpc_of(ctx: StepContext) -> str:
    """The launch's VPC: the network step's, else the config's ("" when neither knows it)."""
    return str(ctx.outputs("network").get("vpc_id") or ctx.config.network.vpc_id)


def describe_one(
    call: Callable[..., Any], key: str, not_found: str, **arguments: Any
) -> dict[str, Any] | None:
    """The first item under `key` of a describe call, or None when AWS says `not_found`.

    Args:
        call: A boto3 describe method, called with `arguments`.
        key: The response key that lists the items.
        not_found: The error code AWS answers when there is no such resource.

    Raises:
        ClientError: AWS answered with another error.
    """
    try:
        found = call(**arguments)[key]
    except ClientError as error:
        if error_code(error) == not_found:
            return None
        raise
    return dict(found[0]) if found else None


def record_found(
    step: Step, ctx: StepContext, kind: str, identifier: str, tags: Sequence[dict[str, str]]
) -> None:
    """Record a resource found in AWS (`tags` in the `Key`/`Value` form): created by this
    launch when it has the launch tag (an interrupted run made it), else adopted."""
    step.record_found(ctx, kind, identifier, tags)


def ensure(
    step: Step,
    ctx: StepContext,
    kind: str,
    identifier: str,
    *,
    find: Callable[[], dict[str, Any] | None],
    create: Callable[[], object],
    duplicate: str,
    tags: Callable[[dict[str, Any]], dict[str, Any]],
) -> None:
    """Create a resource unless `find` sees it, recording it either way.

    Args:
        step: The step that records it.
        ctx: The step's context.
        kind: The resource's kind, as in the state file.
        identifier: The resource's id or name.
        find: Describes the resource, None when it does not exist.
        create: Creates it (tagged with the launch tag).
        duplicate: The error code of a create that lost a race (the resource is then found).
        tags: Lists a found resource's tags (a response with a `TagList`).

    Raises:
        ClientError: the create failed for another reason.
    """
    found = find()
    if found is None:
        try:
            create()
        except ClientError as error:
            if error_code(error) != duplicate:
                raise
            found = find()
        else:
            step.created(ctx, kind, identifier)
            return
    record_found(step, ctx, kind, identifier, tags(found or {}).get("TagList", []))


def find_security_group(ctx: StepContext, name: str) -> dict[str, Any] | None:
    """The security group of that name in the launch's VPC, if any (None without a VPC)."""
    vpc_id = vpc_of(ctx)
    if not vpc_id:
        return None
    filters = [{"Name": "group-name", "Values": [name]}, {"Name": "vpc-id", "Values": [vpc_id]}]
    found = ctx.aws.client("ec2").describe_security_groups(Filters=filters)["SecurityGroups"]
    return dict(found[0]) if found else None


def missing_sources(group: dict[str, Any] | None, port: int, sources: Sequence[str]) -> list[str]:
    """The source groups that `group` (None: not created yet) does not admit on TCP `port`."""
    allowed: set[str] = set()
    for permission in (group or {}).get("IpPermissions", []):
        protocol, low = permission.get("IpProtocol"), permission.get("FromPort", 0)
        if protocol == "-1" or (protocol == "tcp" and low <= port <= permission["ToPort"]):
            allowed |= {pair["GroupId"] for pair in permission.get("UserIdGroupPairs", [])}
    return [source for source in sources if source not in allowed]


def security_group_actions(
    ctx: StepContext, plan: StepPlan, vpc_id: str, name: str, port: int
) -> list[Action]:
    """What `ensure_security_group` would do: the group's action, then one per ingress rule
    to add. `plan` gets a warning when no instance group is known yet; `vpc_id` ("" when
    unknown) is for the create action's detail."""
    group, sources = find_security_group(ctx, name), instance_groups(ctx)
    actions = [
        Action("no-op", "ec2:security-group", group["GroupId"], name)
        if group
        else Action("create", "ec2:security-group", name, f"in {vpc_id or 'the launch VPC'}")
    ]
    if not sources:
        plan.warnings.append(
            f"no instance security group is known yet: {name} will admit the one the network "
            "step creates (apply the network step first)"
        )
        actions.append(Action("create", "ec2:ingress", f"{name}:{port}", "from the instances"))
    for source in missing_sources(group, port, sources):
        actions.append(Action("create", "ec2:ingress", f"{name}:{port}", f"from {source}"))
    return actions


def ensure_security_group(step: Step, ctx: StepContext, name: str, port: int, purpose: str) -> str:
    """The security group `name` in the launch's VPC, created (tagged) when missing, admitting
    the cluster's instance groups on TCP `port`.

    Args:
        step: The step that records it.
        ctx: The step's context.
        name: The group's name.
        port: The TCP port it admits the instances on.
        purpose: What it guards, for its description ("Airflow DB").

    Returns:
        The group's id.

    Raises:
        WizardError: no instance security group is known (the network step has not run).
    """
    sources = instance_groups(ctx)
    if not sources:
        raise WizardError(
            f"No instance security group is known to admit to {name}.",
            title=f"{step.title}: cannot apply",
            hint="Apply the network step first, or set network.security_group_ids.",
        )
    ec2, group = ctx.aws.client("ec2"), find_security_group(ctx, name)
    if group is None:
        tags = [*ctx.launch_tags, {"Key": "Name", "Value": name}]
        try:
            group_id = ec2.create_security_group(
                GroupName=name,
                Description=f"airflow-ecs-wizard {ctx.config.name}: {purpose}",
                VpcId=vpc_of(ctx),
                TagSpecifications=[{"ResourceType": "security-group", "Tags": tags}],
            )["GroupId"]
            step.created(ctx, "ec2:security-group", group_id)
        except ClientError as error:
            if error_code(error) != "InvalidGroup.Duplicate":
                raise
            group = find_security_group(ctx, name)
    if group is not None:
        group_id = group["GroupId"]
        record_found(step, ctx, "ec2:security-group", group_id, group.get("Tags", []))
    for source in missing_sources(group, port, sources):
        pair = {"GroupId": source, "Description": f"{ctx.config.name} ECS instances"}
        rule = {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "UserIdGroupPairs": [pair]}
        try:
            ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[rule])
        except ClientError as error:
            if error_code(error) != "InvalidPermission.Duplicate":
                raise
    return str(group_id)


def wait_until_available(
    ctx: StepContext,
    waiter: Any,
    what: str,
    status_of: Callable[[dict[str, Any]], str],
    *,
    poll_seconds: float,
    timeout_seconds: float,
    **arguments: Any,
) -> None:
    """Run a botocore waiter one attempt at a time, reporting the status as progress.

    Args:
        ctx: The step's context (its `progress` gets the status).
        waiter: A botocore waiter (`db_instance_available`, ...).
        what: The resource, for messages ("RDS instance airflow-db").
        status_of: Reads the status from a describe response.
        poll_seconds: Seconds between attempts.
        timeout_seconds: Seconds after which to give up.
        **arguments: The waiter's arguments (the resource's id).

    Raises:
        WizardError: the resource reached a failed state, or is still not ready at the timeout
            (AWS keeps creating it: the next apply waits again).
    """
    started = time.monotonic()
    while True:
        try:
            waiter.wait(**arguments, WaiterConfig={"Delay": 1, "MaxAttempts": 1})
        except WaiterError as error:
            elapsed = time.monotonic() - started
            try:
                status = status_of(error.last_response or {})
            except (KeyError, IndexError, TypeError):
                status = "not ready"
            if "Max attempts exceeded" not in str(error):
                raise WizardError(
                    f"{what} is {status}: {error}",
                    title="Not available",
                    hint="See it in the AWS console; fix or delete it, then run apply again.",
                ) from error
            if elapsed >= timeout_seconds:
                raise WizardError(
                    f"{what} is still {status} after {elapsed / 60:.0f} minutes.",
                    title="Still waiting",
                    hint="AWS keeps creating it: run apply again later to wait for it.",
                ) from error
            ctx.progress(f"{what}: {status} ({elapsed:.0f} s)")
            ctx.aws.pause(poll_seconds)
        else:
            ctx.progress(f"{what}: available ({time.monotonic() - started:.0f} s)")
            return


def registered_secret(ctx: StepContext, value: str | None) -> str | None:
    """`value` (None when empty), registered with the state first, so that no save holds it."""
    if value and ctx.state is not None:
        ctx.state.register_secret(value)
    return value or None


def read_parameter(ctx: StepContext, name: str) -> str | None:
    """A SecureString's decrypted value, or None when there is no such parameter."""
    try:
        response = ctx.aws.client("ssm").get_parameter(Name=name, WithDecryption=True)
    except ClientError as error:
        if error_code(error) == "ParameterNotFound":
            return None
        raise
    return str(response["Parameter"]["Value"])


def parameter_action(
    ctx: StepContext, name: str, wanted: str | None, what: str, *, masked: bool = True
) -> Action:
    """The plan's action for a derived SecureString.

    Args:
        ctx: The step's context (its state learns the current value as a secret if `masked`).
        name: The parameter's name.
        wanted: The value it should hold, None while it is unknown.
        what: What it holds, for the action's detail ("sql_alchemy_conn").
        masked: Show `MASK` instead of the value.

    Returns:
        A create, update or no-op action on `ssm:parameter`.
    """
    current = read_parameter(ctx, name)
    if current is not None and masked and ctx.state is not None:
        ctx.state.register_secret(current)
    shown = MASK if masked else wanted or ""
    if current is None:
        return Action("create", "ssm:parameter", name, f"SecureString {what} {shown}".strip())
    if current == wanted:
        return Action("no-op", "ssm:parameter", name, f"{what} is current")
    return Action("update", "ssm:parameter", name, f"{what} changed: {shown}".strip(": "))


def record_parameter(step: Step, ctx: StepContext, name: str) -> None:
    """Record a parameter that exists: the launch's own when it carries the launch tag (a run
    that died before recording its create made it), else adopted."""
    if step.is_recorded(ctx, "ssm:parameter", name):
        return
    tags = ctx.aws.client("ssm").list_tags_for_resource(ResourceType="Parameter", ResourceId=name)
    step.record_found(ctx, "ssm:parameter", name, tags.get("TagList", []))


def store_parameter(
    step: Step, ctx: StepContext, name: str, value: str, key: str, *, replace: bool = True
) -> str:
    """Create a SecureString, or when it exists and `replace`, overwrite a different value (a
    value derived from an endpoint or a password: the one computed now is right).

    Args:
        step: The step that records it.
        ctx: The step's context.
        name: The parameter's name.
        value: The value it should hold.
        key: What it holds, for its description and progress ("broker_url").
        replace: Overwrite a different value (False: keep it, as a password generated once).

    Returns:
        The value the parameter holds.
    """
    ssm = ctx.aws.client("ssm")
    current = read_parameter(ctx, name)
    if current is None:
        try:
            ssm.put_parameter(
                Name=name,
                Value=value,
                Type="SecureString",
                Overwrite=False,
                Description=f"airflow-ecs-wizard {ctx.config.name}: {key}",
                Tags=ctx.launch_tags,
            )
        except ClientError as error:
            if error_code(error) != "ParameterAlreadyExists":
                raise
            current = read_parameter(ctx, name)  # made meanwhile
        else:
            step.created(ctx, "ssm:parameter", name)
            return value
    record_parameter(step, ctx, name)
    if current is not None and (current == value or not replace):
        return current
    ssm.put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)
    ctx.progress(f"{name}: updated ({key} changed)")
    return value
