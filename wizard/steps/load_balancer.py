"""The Application Load Balancer in front of the web server (the API server on Airflow 3).

With `hostPort: 0` nothing reaches the web server but through a load balancer: internal by
default; internet-facing only with an ACM certificate and public subnets in two AZs. Its target
group checks the version's health path. Found again by name on resume, never made twice.
"""

from __future__ import annotations

import functools
import time
from typing import Any

from botocore.exceptions import ClientError

from wizard.aws import error_code
from wizard.config import LaunchConfig
from wizard.steps.base import Action, Step, StepContext


def names(config: LaunchConfig) -> tuple[str, str]:
    """The load balancer's and the target group's names (32 characters at most)."""
    base = f"{config.name}-web"[:32]
    return base, base


def health_path(config: LaunchConfig) -> str:
    """The web server's health path for this Airflow version."""
    return "/api/v2/version" if config.airflow.parsed_version.major >= 3 else "/health"


def cleartext_warnings(config: LaunchConfig) -> list[str]:
    """What the plan and the summary say about how logins reach the web UI: an internal load
    balancer without a certificate serves plain HTTP (with one, it serves HTTPS on 443)."""
    if config.web.load_balancer != "internal" or config.web.certificate_arn:
        return []
    return [
        "web.load_balancer = internal without web.certificate_arn: the load balancer serves "
        "HTTP on port 80, so logins (the Admin password) and session cookies cross the VPC in "
        "cleartext. Give an ACM certificate in web.certificate_arn to serve HTTPS on 443"
    ]


def plan_actions(ctx: StepContext) -> list[Action]:
    """What the load balancer part would create (read-only)."""
    config = ctx.config
    if config.web.load_balancer == "none":
        return [_given_group(ctx)]
    balancer_name, group_name = names(config)
    actions = []
    group = find_target_group(ctx, group_name)
    path = health_path(config)
    if group is None:
        actions.append(Action("create", "elbv2:target-group", group_name, f"health {path}"))
    elif group.get("HealthCheckPath") != path:
        detail = f"health check path {group.get('HealthCheckPath')} -> {path}"
        actions.append(Action("update", "elbv2:target-group", group_name, detail))
    else:
        actions.append(Action("no-op", "elbv2:target-group", group_name, "exists"))
    balancer = find_load_balancer(ctx, balancer_name)
    scheme = config.web.load_balancer
    actions.append(
        Action("no-op", "elbv2:load-balancer", balancer_name, balancer["DNSName"])
        if balancer
        else Action("create", "elbv2:load-balancer", balancer_name, scheme)
    )
    return actions


def _given_group(ctx: StepContext) -> Action:
    """A target group the config gives is the operator's: checked against the version's health
    path, never changed."""
    arn = ctx.config.web.target_group_arn
    want = health_path(ctx.config)
    try:
        found = ctx.aws.client("elbv2").describe_target_groups(TargetGroupArns=[arn])
    except ClientError as error:
        if error_code(error) == "TargetGroupNotFound":
            return Action("check", "elbv2:target-group", arn, "given; not found")
        raise
    path = found["TargetGroups"][0].get("HealthCheckPath") if found["TargetGroups"] else None
    if path and path != want:
        detail = (
            f"given; its health check path {path} is not this version's {want}: change it "
            "(the wizard leaves a given group as it is)"
        )
        return Action("check", "elbv2:target-group", arn, detail)
    return Action("check", "elbv2:target-group", arn, "given")


def ensure(ctx: StepContext, step: Step) -> tuple[str, str]:
    """Create what is missing; return the target group ARN and the web address.

    Args:
        ctx: the step's context.
        step: records each create right after it, and what it finds by its tags.
    """
    record = functools.partial(step.created, ctx)
    config = ctx.config
    if config.web.load_balancer == "none":
        return config.web.target_group_arn, ""
    elbv2 = ctx.aws.client("elbv2")
    balancer_name, group_name = names(config)
    group = find_target_group(ctx, group_name)
    if group is None:
        group = elbv2.create_target_group(
            Name=group_name,
            Protocol="HTTP",
            Port=config.container_port("webserver") or 8080,
            VpcId=config.network.vpc_id,
            TargetType="instance",
            HealthCheckPath=health_path(config),
            HealthCheckIntervalSeconds=30,
            HealthCheckTimeoutSeconds=10,
            Matcher={"HttpCode": "200"},
            Tags=ctx.launch_tags,
        )["TargetGroups"][0]
        record("elbv2:target-group", group["TargetGroupArn"])
    else:
        _record_found(ctx, step, "elbv2:target-group", group["TargetGroupArn"])
        if group.get("HealthCheckPath") != health_path(config):
            # the version changed (2.x `/health` answers 404 from 3.x's api-server)
            group = elbv2.modify_target_group(
                TargetGroupArn=group["TargetGroupArn"], HealthCheckPath=health_path(config)
            )["TargetGroups"][0]
            ctx.progress(f"target group {group_name}: health check path {health_path(config)}")
    balancer = find_load_balancer(ctx, balancer_name)
    if balancer is None:
        internet = config.web.load_balancer == "internet-facing"
        network = ctx.outputs("network")
        groups = (
            [network["load_balancer_security_group_id"]]
            if network.get("load_balancer_security_group_id")
            else []
        )
        balancer = elbv2.create_load_balancer(
            Name=balancer_name,
            Subnets=config.network.public_subnet_ids if internet else config.network.subnet_ids,
            SecurityGroups=groups,
            Scheme="internet-facing" if internet else "internal",
            Type="application",
            Tags=ctx.launch_tags,
        )["LoadBalancers"][0]
        record("elbv2:load-balancer", balancer["LoadBalancerArn"])
    else:
        _record_found(ctx, step, "elbv2:load-balancer", balancer["LoadBalancerArn"])
    _ensure_listener(ctx, balancer["LoadBalancerArn"], group["TargetGroupArn"], step)
    scheme = "https" if config.web.certificate_arn else "http"
    return group["TargetGroupArn"], f"{scheme}://{balancer['DNSName']}"


def target_group_arn(ctx: StepContext) -> str:
    """The web server's target group (read-only): given, or the launch's own when it exists;
    a placeholder naming the one apply will create."""
    config = ctx.config
    if config.web.load_balancer == "none":
        return config.web.target_group_arn
    group = find_target_group(ctx, names(config)[1])
    return str(group["TargetGroupArn"]) if group else f"(new target group {names(config)[1]})"


def _record_found(ctx: StepContext, step: Step, kind: str, arn: str) -> None:
    """Record what a run that died before its record made (tagged), or what was there."""
    if not step.is_recorded(ctx, kind, arn):
        described = ctx.aws.client("elbv2").describe_tags(ResourceArns=[arn])["TagDescriptions"]
        step.record_found(ctx, kind, arn, described[0]["Tags"] if described else [])


def _ensure_listener(ctx: StepContext, balancer_arn: str, group_arn: str, step: Step) -> None:
    elbv2 = ctx.aws.client("elbv2")
    listeners = elbv2.describe_listeners(LoadBalancerArn=balancer_arn)["Listeners"]
    for listener in listeners:
        _record_found(ctx, step, "elbv2:listener", listener["ListenerArn"])
    if listeners:
        return
    forward = [{"Type": "forward", "TargetGroupArn": group_arn}]
    certificate = ctx.config.web.certificate_arn
    if certificate:
        listener = elbv2.create_listener(
            LoadBalancerArn=balancer_arn,
            Protocol="HTTPS",
            Port=443,
            Certificates=[{"CertificateArn": certificate}],
            SslPolicy="ELBSecurityPolicy-TLS13-1-2-2021-06",
            DefaultActions=forward,
            Tags=ctx.launch_tags,
        )
    else:
        listener = elbv2.create_listener(
            LoadBalancerArn=balancer_arn,
            Protocol="HTTP",
            Port=80,
            DefaultActions=forward,
            Tags=ctx.launch_tags,
        )
    step.created(ctx, "elbv2:listener", listener["Listeners"][0]["ListenerArn"])


def find_target_group(ctx: StepContext, name: str) -> dict[str, Any] | None:
    """The target group of that name, if any."""
    try:
        found = ctx.aws.client("elbv2").describe_target_groups(Names=[name])["TargetGroups"]
    except ClientError as error:
        if error_code(error) == "TargetGroupNotFound":
            return None
        raise
    return dict(found[0]) if found else None


def find_load_balancer(ctx: StepContext, name: str) -> dict[str, Any] | None:
    """The load balancer of that name, if any."""
    try:
        found = ctx.aws.client("elbv2").describe_load_balancers(Names=[name])["LoadBalancers"]
    except ClientError as error:
        if error_code(error) == "LoadBalancerNotFound":
            return None
        raise
    return dict(found[0]) if found else None


HEALTHY = "healthy"
HEALTH_ATTEMPTS = 20
HEALTH_DELAY = 15.0
"""How long the web health check is waited for: 20 polls 15 s apart (5 minutes on AWS; the
load balancer marks a target healthy after a few 30 s checks)."""


def web_health(ctx: StepContext, target_group: str) -> str:
    """Wait until the load balancer's health check of the web server answers.

    Returns:
        "healthy" once a target answers its health path; otherwise what the target group said
        last ("no target registered" when ECS registered none), for the summary to show.
    """
    elbv2 = ctx.aws.client("elbv2")
    path = health_path(ctx.config)
    seen = "no target registered"
    for attempt in range(HEALTH_ATTEMPTS):
        found = elbv2.describe_target_health(TargetGroupArn=target_group)
        health = [target["TargetHealth"] for target in found["TargetHealthDescriptions"]]
        if any(h.get("State") == HEALTHY for h in health):
            ctx.progress(f"the web health check (GET {path}) answered")
            return HEALTHY
        if health:
            seen = ", ".join(
                h.get("State", "?") + (f" ({h['Reason']})" if h.get("Reason") else "")
                for h in health
            )
        if attempt == 0:
            ctx.progress(f"waiting for the web health check (GET {path}) to answer")
        # ECS registers a started task with the target group in real time, even where the
        # emulator's other waits are instant: poll no faster than ten times a second
        time.sleep(max(ctx.aws.delay(HEALTH_DELAY), 0.1))
    return seen
