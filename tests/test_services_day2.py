"""Item 3 of issue 9, the services' side of day 2: re-applying a live launch converges to the
new config, and the plan shows each change as an update with the diff of the service's spec.

The emulator drops `serviceConnectConfiguration` (and more) from DescribeServices, so what the
services became is judged from the requests the launch sent (`tests.aws_rules.recording`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.aws_rules import Evidence, recording
from tests.test_services_capacity import _with_provider
from tests.test_step_services import _ready
from tests.test_steps import _context
from wizard.config import LaunchConfig
from wizard.steps.base import StepContext
from wizard.steps.services import ServicesStep
from wizard.steps.task_definitions import TaskDefinitionsStep

STEP = ServicesStep()
ON_2 = {"airflow__version": "2.11", "image__tag": "2.11.2", "components__dag_processor": None}


@pytest.fixture(autouse=True)
def _fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOTO_ECS_SERVICE_RUNNING", "1")


def _reapply(ctx: StepContext, config: LaunchConfig) -> tuple[StepContext, Any, Evidence]:
    """The new config over the same state: task definitions, the plan, then apply (recorded)."""
    again = _context(config, ctx.state)
    TaskDefinitionsStep().apply(again)
    plan = STEP.plan(again)
    with recording() as evidence:
        STEP.apply(again)
    return again, plan, evidence


def _sent(evidence: Evidence, operation: str) -> dict[str, dict[str, Any]]:
    return {
        str(c.params.get("serviceName") or c.params.get("service")): c.params
        for c in evidence.of("ecs", operation)
    }


def test_an_upgrade_from_2_to_3_converges(
    make_config: Callable[..., LaunchConfig], aws_endpoint: str, tmp_path: Path
) -> None:
    ctx = _ready(make_config, aws_endpoint, tmp_path, **ON_2)
    STEP.apply(ctx)
    groups = ctx.aws.client("elbv2").describe_target_groups(Names=["airflow-staging-web"])
    assert groups["TargetGroups"][0]["HealthCheckPath"] == "/health"

    upgraded = ctx.config.model_copy(
        update={
            "airflow": ctx.config.airflow.model_copy(update={"version": "3.3"}),
            "image": ctx.config.image.model_copy(update={"tag": "3.3.2"}),
            "components": {
                **ctx.config.components,
                "dag_processor": make_config()
                .components["dag_processor"]
                .model_copy(update={"desired_count": 1}),
            },
        }
    )
    again, plan, evidence = _reapply(ctx, upgraded)

    # the plan: migrate again, the health path, an update per service with its diff, a create
    shown = {(a.verb, a.kind, a.name): a for a in plan.actions}
    assert ("create", "ecs:task", "airflow-staging-initdb") in shown
    health = shown[("update", "elbv2:target-group", "airflow-staging-web")]
    assert health.detail == "health check path /health -> /api/v2/version"
    web = shown[("update", "ecs:service", "airflow-staging-webserver")]
    assert web.detail == "taskDefinition, serviceConnectConfiguration"
    assert '+  "serviceConnectConfiguration": {' in web.diff
    assert '+        "discoveryName": "airflow-api-server",' in web.diff
    assert ("create", "ecs:service", "airflow-staging-dag-processor") in shown
    for name in ("scheduler", "worker", "flower", "triggerer"):
        assert shown[("update", "ecs:service", f"airflow-staging-{name}")].detail == (
            "taskDefinition, serviceConnectConfiguration"
        )

    # what was sent
    assert len(evidence.of("ecs", "RunTask")) == 1
    assert len(evidence.of("servicediscovery", "CreateHttpNamespace")) == 1
    updates = _sent(evidence, "UpdateService")
    assert set(updates) == {
        f"airflow-staging-{c}" for c in ("webserver", "scheduler", "worker", "flower", "triggerer")
    }
    for params in updates.values():
        assert params["serviceConnectConfiguration"]["enabled"] is True
        assert params["serviceConnectConfiguration"]["namespace"] == "airflow-staging"
        assert ":task-definition/" in params["taskDefinition"]
        assert "loadBalancers" not in params or params["service"].endswith("-webserver")
    served = updates["airflow-staging-webserver"]["serviceConnectConfiguration"]["services"]
    assert served[0]["clientAliases"] == [{"port": 8080, "dnsName": "airflow-api-server"}]
    created = _sent(evidence, "CreateService")
    assert list(created) == ["airflow-staging-dag-processor"]
    assert created["airflow-staging-dag-processor"]["serviceConnectConfiguration"]["enabled"]
    modified = evidence.of("elbv2", "ModifyTargetGroup")
    assert [c.params["HealthCheckPath"] for c in modified] == ["/api/v2/version"]
    groups = ctx.aws.client("elbv2").describe_target_groups(Names=["airflow-staging-web"])
    assert groups["TargetGroups"][0]["HealthCheckPath"] == "/api/v2/version"

    # the web server's service keeps its name; its task definition now runs the API server
    ecs = ctx.aws.client("ecs")
    service = ecs.describe_services(
        cluster="airflow-staging", services=["airflow-staging-webserver"]
    )["services"][0]
    taskdef = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])
    container = taskdef["taskDefinition"]["containerDefinitions"][0]
    assert container["name"] == "webserver"
    assert container["command"] == ["api-server"]
    outputs = again.state.step("services").outputs  # type: ignore[union-attr]
    assert outputs["migrated_version"] == "3.3"

    # converged: nothing left to do
    last = _context(upgraded, ctx.state)
    assert {a.verb for a in STEP.plan(last).actions} == {"no-op"}
    STEP.apply(last)
    assert last.aws.recorder.mutating() == {}


def test_a_service_whose_component_left_the_config_is_deleted(
    make_config: Callable[..., LaunchConfig], aws_endpoint: str, tmp_path: Path
) -> None:
    ctx = _ready(make_config, aws_endpoint, tmp_path)
    STEP.apply(ctx)
    ecs = ctx.aws.client("ecs")
    # a service this launch did not create, named like one of its own
    ecs.create_service(
        cluster="airflow-staging",
        serviceName="airflow-staging-legacy",
        taskDefinition="airflow-staging-worker",
        desiredCount=1,
        serviceConnectConfiguration={"enabled": True, "namespace": "airflow-staging"},
    )
    fewer = ctx.config.model_copy(
        update={"components": {k: v for k, v in ctx.config.components.items() if k != "flower"}}
    )
    again, plan, evidence = _reapply(ctx, fewer)
    changes = [str(a) for a in plan.changes]
    assert changes == [
        "update ecs:service airflow-staging-flower (delete: its component left the config)"
    ]
    assert [c.params["service"] for c in evidence.of("ecs", "DeleteService")] == [
        "airflow-staging-flower"
    ]
    states = {
        s["serviceName"]: s["status"]
        for s in ecs.describe_services(
            cluster="airflow-staging",
            services=["airflow-staging-flower", "airflow-staging-legacy"],
        )["services"]
    }
    assert states["airflow-staging-legacy"] == "ACTIVE"
    assert states.get("airflow-staging-flower", "INACTIVE") != "ACTIVE"
    recorded = [r.id for r in again.state.step("services").resources]  # type: ignore[union-attr]
    assert not any(arn.endswith("/airflow-staging-flower") for arn in recorded)
    specs = json.loads(str(again.state.step("services").outputs["service_specs"]))  # type: ignore[union-attr]
    assert "airflow-staging-flower" not in specs
    assert {a.verb for a in STEP.plan(_context(fewer, ctx.state)).actions} == {"no-op"}


def test_an_update_puts_back_what_a_create_sets(
    make_config: Callable[..., LaunchConfig], aws_endpoint: str, tmp_path: Path
) -> None:
    """A 3.x service that lost its load balancer, Service Connect and deployment settings (made
    by hand, or by an earlier version) gets each back from an update."""
    ctx = _ready(make_config, aws_endpoint, tmp_path)
    _with_provider(ctx)
    STEP.apply(ctx)
    ecs = ctx.aws.client("ecs")
    ecs.delete_service(cluster="airflow-staging", service="airflow-staging-webserver", force=True)
    ecs.create_service(
        cluster="airflow-staging",
        serviceName="airflow-staging-webserver",
        taskDefinition="airflow-staging-webserver",
        desiredCount=1,
    )
    specs = json.loads(str(ctx.state.step("services").outputs["service_specs"]))  # type: ignore[union-attr]
    specs.pop("airflow-staging-webserver")
    ctx.state.set_outputs("services", service_specs=json.dumps(specs))  # type: ignore[union-attr]

    _, plan, evidence = _reapply(ctx, ctx.config)
    web = next(a for a in plan.actions if a.name == "airflow-staging-webserver")
    assert web.verb == "update"
    assert web.detail == (
        "placement, deploymentConfiguration, loadBalancers, "
        "healthCheckGracePeriodSeconds, serviceConnectConfiguration"
    )
    sent = _sent(evidence, "UpdateService")["airflow-staging-webserver"]
    assert sent["loadBalancers"][0]["containerName"] == "webserver"
    assert sent["healthCheckGracePeriodSeconds"] == 300
    assert sent["deploymentConfiguration"]["deploymentCircuitBreaker"] == {
        "enable": True,
        "rollback": True,
    }
    assert sent["serviceConnectConfiguration"]["services"][0]["portName"] == "api"
    assert sent["forceNewDeployment"] is True


def test_a_given_target_group_is_checked_against_the_version_not_changed(
    make_config: Callable[..., LaunchConfig], aws_endpoint: str, tmp_path: Path
) -> None:
    config = make_config(aws__endpoint_url=aws_endpoint)
    ctx = _context(config)
    vpc = ctx.aws.client("ec2").create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    group = ctx.aws.client("elbv2").create_target_group(
        Name="operators-web", Protocol="HTTP", Port=8080, VpcId=vpc, HealthCheckPath="/health"
    )["TargetGroups"][0]["TargetGroupArn"]
    given = make_config(
        aws__endpoint_url=aws_endpoint, web__load_balancer="none", web__target_group_arn=group
    )
    plan = STEP.plan(_context(given))
    check = next(a for a in plan.actions if a.kind == "elbv2:target-group")
    assert (check.verb, check.name) == ("check", group)
    assert check.detail == (
        "given; its health check path /health is not this version's /api/v2/version: change it "
        "(the wizard leaves a given group as it is)"
    )
    on_2 = make_config(
        aws__endpoint_url=aws_endpoint,
        web__load_balancer="none",
        web__target_group_arn=group,
        **ON_2,
    )
    plan = STEP.plan(_context(on_2))
    assert next(a for a in plan.actions if a.kind == "elbv2:target-group").detail == "given"
