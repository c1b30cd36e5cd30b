"""Step redis: the Celery broker, a new ElastiCache replication group or an existing endpoint.

A new group gets a cache subnet group over the private subnets and a security group that admits
the cluster's instances on 6379; its broker URL goes to an SSM SecureString, where the task
definitions read it. An existing endpoint is only checked: the task definitions carry its URL.
Either is pinged from here when it can be reached (from outside the VPC it usually cannot).

The helpers at the bottom (look-then-create, security groups, waits with progress, derived
SecureStrings) are shared with the database step.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from botocore.exceptions import ClientError, WaiterError

from wizard.aws import error_code
from wizard.errors import WizardError
from wizard.steps.base import Action, Choice, Step, StepContext, StepPlan, Verb
from wizard.taskdefs import LAUNCH_TAG

REDIS_PORT = 6379
PING_TIMEOUT = 3.0
"""Seconds to wait for the cache to answer a PING from here."""
MASK = "••••••••"


class RedisStep(Step):
    """The replication group (with subnet group and security group), or an existing endpoint."""

    name = "redis"
    title = "ElastiCache broker"
    depends_on = ("network",)
    poll_seconds = 15.0
    """Seconds between status checks while the group is created (tests and benchmarks lower it)."""
    timeout_seconds = 45 * 60.0

    def discover(self, ctx: StepContext) -> dict[str, list[Choice]]:
        paginator = ctx.aws.client("elasticache").get_paginator("describe_replication_groups")
        groups = [g for page in paginator.paginate() for g in page["ReplicationGroups"]]
        return {
            "redis.replication_group_id": [
                Choice(g["ReplicationGroupId"], f"{g['ReplicationGroupId']} ({g['Status']})")
                for g in groups
            ]
        }

    def plan(self, ctx: StepContext) -> StepPlan:
        plan = StepPlan(self.name)
        redis = ctx.config.redis
        if redis.mode == "existing":
            plan.actions.append(Action("no-op", "elasticache:endpoint", redis.endpoint, "given"))
            self._ping(ctx, plan, redis.endpoint)
            return plan
        name, vpc_id = f"{ctx.config.name}-cache", vpc_of(ctx)
        if not ctx.config.network.subnet_ids:
            plan.problems.append("network.subnet_ids is empty: a new cache needs private subnets")
        if not vpc_id:
            plan.problems.append("network.vpc_id is empty: the cache's security group needs it")
        verb: Verb = "no-op" if self._subnet_group(ctx, name) else "create"
        plan.actions.append(Action(verb, "elasticache:subnet-group", name))
        plan.actions += security_group_actions(ctx, plan, vpc_id, name, REDIS_PORT)
        group, parameter = self._group(ctx), ctx.config.secret_name("broker_url")
        if group is None:
            detail = (
                f"{redis.engine} {redis.node_type}, 1 node group, in-transit encryption "
                f"{'on' if redis.transit_encryption else 'off'}, encrypted at rest"
            )
            group_id = ctx.config.replication_group_id
            plan.actions.append(Action("create", "elasticache:replication-group", group_id, detail))
            plan.actions.append(Action("create", "ssm:parameter", parameter, "broker URL"))
            return plan
        endpoint = primary_endpoint(group)
        detail = f"{group['Status']}, {endpoint or 'no endpoint yet'}"
        plan.actions.append(
            Action("no-op", "elasticache:replication-group", group["ReplicationGroupId"], detail)
        )
        wanted = redis.broker_url(endpoint) if endpoint else None
        plan.actions.append(parameter_action(ctx, parameter, wanted, "broker URL", masked=False))
        if endpoint:
            self._ping(ctx, plan, endpoint)
        return plan

    def apply(self, ctx: StepContext) -> None:
        plan = self.plan(ctx)
        self.blocked(plan)
        redis = ctx.config.redis
        if redis.mode == "existing":
            url = redis.broker_url(redis.endpoint)
            self.set_outputs(ctx, endpoint=redis.endpoint, broker_url=url, broker_url_parameter="")
            return
        name = f"{ctx.config.name}-cache"
        elasticache = ctx.aws.client("elasticache")
        security_group = ensure_security_group(self, ctx, name, REDIS_PORT, "Airflow broker")
        ensure(
            self,
            ctx,
            "elasticache:subnet-group",
            name,
            find=lambda: self._subnet_group(ctx, name),
            create=lambda: elasticache.create_cache_subnet_group(
                CacheSubnetGroupName=name,
                CacheSubnetGroupDescription=f"airflow-ecs-wizard {ctx.config.name}: broker",
                SubnetIds=ctx.config.network.subnet_ids,
                Tags=ctx.launch_tags,
            ),
            duplicate="CacheSubnetGroupAlreadyExists",
            tags=lambda found: elasticache.list_tags_for_resource(ResourceName=found["ARN"]),
        )
        group_id = ctx.config.replication_group_id
        ensure(
            self,
            ctx,
            "elasticache:replication-group",
            group_id,
            find=lambda: self._group(ctx),
            create=lambda: elasticache.create_replication_group(
                ReplicationGroupId=group_id,
                ReplicationGroupDescription=f"airflow-ecs-wizard {ctx.config.name}: broker",
                Engine=redis.engine,
                CacheNodeType=redis.node_type,
                NumNodeGroups=1,
                ReplicasPerNodeGroup=0,
                Port=REDIS_PORT,
                TransitEncryptionEnabled=redis.transit_encryption,
                AtRestEncryptionEnabled=True,
                CacheSubnetGroupName=name,
                SecurityGroupIds=[security_group],
                Tags=ctx.launch_tags,
            ),
            duplicate="ReplicationGroupAlreadyExists",
            tags=lambda found: elasticache.list_tags_for_resource(ResourceName=found["ARN"]),
        )
        wait_until_available(
            ctx,
            elasticache.get_waiter("replication_group_available"),
            f"replication group {group_id}",
            lambda response: str(response["ReplicationGroups"][0]["Status"]),
            poll_seconds=self.poll_seconds,
            timeout_seconds=self.timeout_seconds,
            ReplicationGroupId=group_id,
        )
        endpoint = primary_endpoint(self._group(ctx) or {})
        if not endpoint:
            raise WizardError(
                f"Replication group {group_id} is available but has no primary endpoint.",
                title=f"{self.title}: no endpoint",
                hint="Check the group in the ElastiCache console, then run apply again.",
            )
        url, parameter = redis.broker_url(endpoint), ctx.config.secret_name("broker_url")
        store_parameter(self, ctx, parameter, url, "broker_url")
        ctx.progress(f"PING {endpoint}: {ping(endpoint, tls=redis.transit_encryption) or 'PONG'}")
        self.set_outputs(
            ctx,
            endpoint=endpoint,
            broker_url=url,  # no password in it: the group has no AUTH token
            broker_url_parameter=parameter,
            security_group_id=security_group,
        )

    def _ping(self, ctx: StepContext, plan: StepPlan, endpoint: str) -> None:
        problem = ping(endpoint, tls=ctx.config.redis.transit_encryption)
        if problem is None:
            plan.actions.append(Action("check", "redis:ping", endpoint, "PONG"))
            return
        plan.warnings.append(
            f"cannot reach the broker at {endpoint} from here ({problem}). That is expected when "
            "the wizard runs outside the VPC, since ElastiCache has no public endpoint: it only "
            "means this machine cannot check the cache. The ECS instances reach it through the "
            "security groups the network step checks."
        )

    def _group(self, ctx: StepContext) -> dict[str, Any] | None:
        return describe_one(
            ctx.aws.client("elasticache").describe_replication_groups,
            "ReplicationGroups",
            "ReplicationGroupNotFoundFault",
            ReplicationGroupId=ctx.config.replication_group_id,
        )

    @staticmethod
    def _subnet_group(ctx: StepContext, name: str) -> dict[str, Any] | None:
        return describe_one(
            ctx.aws.client("elasticache").describe_cache_subnet_groups,
            "CacheSubnetGroups",
            "CacheSubnetGroupNotFoundFault",
            CacheSubnetGroupName=name,
        )


def primary_endpoint(group: dict[str, Any]) -> str:
    """`ADDRESS:PORT` of a replication group's primary ("" while it has none)."""
    endpoint = (group.get("NodeGroups") or [{}])[0].get("PrimaryEndpoint") or {}
    address = endpoint.get("Address")
    return f"{address}:{endpoint.get('Port') or REDIS_PORT}" if address else ""


def ping(endpoint: str, *, tls: bool) -> str | None:
    """PING a Redis or Valkey endpoint (`HOST[:PORT]`) from here: None on PONG, else why not."""
    try:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry
    except ImportError:
        return "the redis package is not installed, so it was not checked"
    host, _, port = endpoint.partition(":")
    client = redis.Redis(
        host=host,
        port=int(port or REDIS_PORT),
        ssl=tls,
        ssl_cert_reqs="required",
        socket_timeout=PING_TIMEOUT,
        socket_connect_timeout=PING_TIMEOUT,
        retry=Retry(NoBackoff(), 0),  # one try: the default retries with backoff for seconds
    )
    try:
        return None if client.ping() else "no PONG"
    except (redis.RedisError, OSError) as error:
        return str(error) or type(error).__name__
    finally:
        client.close()


# Shared with the database step.


def instance_groups(ctx: StepContext) -> list[str]:
    """The cluster's instance security groups: the network step's, else the config's."""
    network = ctx.outputs("network")
    single = network.get("instance_security_group_id")
    groups = network.get("instance_security_group_ids") or ([single] if single else [])
    return [str(group) for group in groups or ctx.config.network.security_group_ids]


def vpc_of(ctx: StepContext) -> str:
    """The launch's VPC: the network step's, else the config's."""
    return str(ctx.outputs("network").get("vpc_id") or ctx.config.network.vpc_id)


def describe_one(
    call: Callable[..., Any], key: str, not_found: str, **arguments: Any
) -> dict[str, Any] | None:
    """The first item under `key` of a describe call, or None when AWS says `not_found`."""
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
    """Record a resource found in AWS: created by this launch when it has the launch tag (an
    interrupted run made it), else adopted."""
    if {"Key": LAUNCH_TAG, "Value": ctx.config.name} in tags:
        step.created(ctx, kind, identifier)
    else:
        step.adopted(ctx, kind, identifier)


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
    """Create a resource unless `find` sees it, recording it either way. `duplicate` is the
    error code of a create that lost a race; `tags` lists a found resource's tags (`TagList`)."""
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
    """The security group of that name in the launch's VPC, if any."""
    vpc_id = vpc_of(ctx)
    if not vpc_id:
        return None
    filters = [{"Name": "group-name", "Values": [name]}, {"Name": "vpc-id", "Values": [vpc_id]}]
    found = ctx.aws.client("ec2").describe_security_groups(Filters=filters)["SecurityGroups"]
    return dict(found[0]) if found else None


def missing_sources(group: dict[str, Any] | None, port: int, sources: Sequence[str]) -> list[str]:
    """The source groups that `group` does not admit on TCP `port` yet."""
    allowed: set[str] = set()
    for permission in (group or {}).get("IpPermissions", []):
        protocol, low = permission.get("IpProtocol"), permission.get("FromPort", 0)
        if protocol == "-1" or (protocol == "tcp" and low <= port <= permission["ToPort"]):
            allowed |= {pair["GroupId"] for pair in permission.get("UserIdGroupPairs", [])}
    return [source for source in sources if source not in allowed]


def security_group_actions(
    ctx: StepContext, plan: StepPlan, vpc_id: str, name: str, port: int
) -> list[Action]:
    """What `ensure_security_group` would do, for a plan."""
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
    the cluster's instance groups on TCP `port`; returns its id.

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
            time.sleep(poll_seconds)
        else:
            ctx.progress(f"{what}: available ({time.monotonic() - started:.0f} s)")
            return


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
    """The plan's action for a derived SecureString (`wanted` is None while it is unknown)."""
    current = read_parameter(ctx, name)
    if current is not None and masked and ctx.state is not None:
        ctx.state.register_secret(current)
    shown = MASK if masked else wanted or ""
    if current is None:
        return Action("create", "ssm:parameter", name, f"SecureString {what} {shown}".strip())
    if current == wanted:
        return Action("no-op", "ssm:parameter", name, f"{what} is current")
    return Action("update", "ssm:parameter", name, f"{what} changed: {shown}".strip(": "))


def store_parameter(
    step: Step, ctx: StepContext, name: str, value: str, key: str, *, replace: bool = True
) -> str:
    """Create a SecureString, or when it exists and `replace`, overwrite a different value (a
    value derived from an endpoint or a password: the one computed now is right). Returns the
    value the parameter holds."""
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
    step.adopted(ctx, "ssm:parameter", name)
    if current is not None and (current == value or not replace):
        return current
    ssm.put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)
    ctx.progress(f"{name}: updated ({key} changed)")
    return value
