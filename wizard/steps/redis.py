"""Step redis: the Celery broker, a new ElastiCache replication group or an existing endpoint.

A new group gets a cache subnet group over the private subnets and a security group that admits
the cluster's instances on 6379; its broker URL goes to an SSM SecureString, where the task
definitions read it. An existing endpoint is only checked: the task definitions carry its URL.
Either is pinged from here when it can be reached (from outside the VPC it usually cannot).
The look-then-create, security group, wait and SecureString helpers are in
`wizard.steps.provisioning`, shared with the database step.
"""

from __future__ import annotations

from typing import Any

from wizard.checklist import CHECKLIST
from wizard.errors import WizardError
from wizard.steps.base import Action, Choice, Step, StepContext, StepPlan, Verb
from wizard.steps.provisioning import (
    describe_one,
    ensure,
    ensure_security_group,
    parameter_action,
    security_group_actions,
    store_parameter,
    vpc_of,
    wait_until_available,
)

REDIS_PORT = 6379
PING_TIMEOUT = 3.0
"""Seconds to wait for the cache to answer a PING from here."""


class RedisStep(Step):
    """The replication group (with subnet group and security group), or an existing endpoint."""

    name = "redis"
    title = CHECKLIST["redis"]
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
    """PING a Redis or Valkey endpoint from here, trying once.

    Args:
        endpoint: `HOST[:PORT]` (the port defaults to 6379).
        tls: Connect with TLS, verifying the server's certificate.

    Returns:
        None on PONG, else why not (also when the redis package is not installed).
    """
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
