"""The services step against the emulator: instances joined, the migrate task run once and
again for a new image, the load balancer, one stable service per component.

Emulator gaps filled here: moto starts no ECS agent, so a test registers a container instance
for an EC2 instance itself; moto's services report `MOTO_ECS_SERVICE_RUNNING` running tasks
whatever their desired count, so the services run one task each."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.test_steps import _context, _state
from wizard.config import LaunchConfig
from wizard.emulator_gaps import register_service_targets
from wizard.errors import WizardError
from wizard.steps import services as services_module
from wizard.steps.base import StepContext
from wizard.steps.services import ServicesStep
from wizard.steps.task_definitions import TaskDefinitionsStep

STEP = ServicesStep()
ONE_EACH = {f"components__{c}__desired_count": 1 for c in ("worker",)}


@pytest.fixture(autouse=True)
def _fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOTO_ECS_SERVICE_RUNNING", "1")


def _launch(ctx: StepContext, *, instances: int = 1) -> None:
    """A VPC, the cluster, and container instances joined to it."""
    ec2 = ctx.aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.30.{i}.0/24", AvailabilityZone=f"us-east-1{z}")[
            "Subnet"
        ]["SubnetId"]
        for i, z in ((1, "a"), (2, "b"))
    ]
    ctx.config = ctx.config.model_copy(
        update={
            "network": ctx.config.network.model_copy(update={"vpc_id": vpc, "subnet_ids": subnets})
        }
    )
    ecs = ctx.aws.client("ecs")
    ecs.create_cluster(clusterName=ctx.config.cluster_name)
    image = ec2.describe_images()["Images"][0]["ImageId"]
    for _ in range(instances):
        instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, SubnetId=subnets[0])
        document = json.dumps({"instanceId": instance["Instances"][0]["InstanceId"]})
        ecs.register_container_instance(
            cluster=ctx.config.cluster_name, instanceIdentityDocument=document
        )


def _ready(
    make_config: Callable[..., LaunchConfig], endpoint: str, tmp_path: Path, **changes: object
) -> StepContext:
    config = make_config(aws__endpoint_url=endpoint, **ONE_EACH, **changes)
    ctx = _context(config, _state(tmp_path, config))
    _launch(ctx)
    TaskDefinitionsStep().apply(ctx)
    return ctx


def test_services_behind_a_load_balancer(
    make_config: Callable[..., LaunchConfig], aws_endpoint: str, tmp_path: Path
) -> None:
    ctx = _ready(make_config, aws_endpoint, tmp_path)
    plan = STEP.plan(ctx)
    assert [a.verb for a in plan.actions if a.kind == "ecs:service"] == ["create"] * 6
    assert plan.actions[0].kind == "ecs:task"  # the migrate task runs first

    STEP.apply(ctx)

    ecs = ctx.aws.client("ecs")
    names = [
        f"airflow-staging-{c}"
        for c in ("webserver", "scheduler", "worker", "flower", "triggerer", "dag-processor")
    ]
    services = ecs.describe_services(cluster="airflow-staging", services=names)["services"]
    assert {s["serviceName"] for s in services} == set(names)
    web = next(s for s in services if s["serviceName"] == "airflow-staging-webserver")
    assert web["loadBalancers"][0]["containerPort"] == 8080
    balancers = ctx.aws.client("elbv2").describe_load_balancers(Names=["airflow-staging-web"])
    assert balancers["LoadBalancers"][0]["Scheme"] == "internal"
    groups = ctx.aws.client("elbv2").describe_target_groups(Names=["airflow-staging-web"])
    assert groups["TargetGroups"][0]["HealthCheckPath"] == "/api/v2/version"
    outputs = ctx.state.step("services").outputs  # type: ignore[union-attr]
    assert str(outputs["web_url"]).startswith("http://airflow-staging-web-")
    assert outputs["migrated_version"] == "3.3"
    namespaces = ctx.aws.client("servicediscovery").list_namespaces()["Namespaces"]
    assert [n["Name"] for n in namespaces] == ["airflow-staging"]

    again = _context(ctx.config, ctx.state)
    assert {a.verb for a in STEP.plan(again).actions} == {"no-op"}
    STEP.apply(again)
    assert again.aws.recorder.mutating() == {}


def test_a_new_image_runs_the_migration_again(
    make_config: Callable[..., LaunchConfig], aws_endpoint: str, tmp_path: Path
) -> None:
    ctx = _ready(make_config, aws_endpoint, tmp_path)
    STEP.apply(ctx)
    newer = ctx.config.model_copy(
        update={"image": ctx.config.image.model_copy(update={"tag": "3.3.3"})}
    )
    again = _context(newer, ctx.state)
    TaskDefinitionsStep().apply(again)
    plan = STEP.plan(again)
    assert plan.actions[0].detail == (
        "migrate for 3.3.3 (was 123456789012.dkr.ecr.us-east-1.amazonaws.com/zdp-airflow:3.3.2)"
    )
    assert [a.verb for a in plan.actions if a.kind == "ecs:service"] == ["update"] * 6
    STEP.apply(again)
    assert again.aws.recorder.mutating()["ecs.RunTask"] == 1
    assert again.aws.recorder.mutating()["ecs.UpdateService"] == 6


def test_no_instances_times_out_with_the_usual_causes(
    make_config: Callable[..., LaunchConfig],
    aws_endpoint: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = make_config(aws__endpoint_url=aws_endpoint, **ONE_EACH)
    ctx = _context(config, _state(tmp_path, config))
    ctx.aws.client("ecs").create_cluster(clusterName="airflow-staging")
    monkeypatch.setattr(services_module, "INSTANCE_WAIT_SECONDS", 0.05)
    with pytest.raises(WizardError) as caught:
        STEP.apply(ctx)
    assert "no container instance joined cluster airflow-staging" in caught.value.message
    assert "ECS_CLUSTER" in caught.value.hint and "NAT gateway" in caught.value.hint
    assert "did not mount the S3 folder, so the ECS agent waits" in caught.value.hint


def test_the_step_waits_for_the_web_health_check_and_records_what_it_said(
    make_config: Callable[..., LaunchConfig], aws_endpoint: str, tmp_path: Path
) -> None:
    ctx = _ready(make_config, aws_endpoint, tmp_path)
    said: list[str] = []
    ctx.progress = said.append
    STEP.apply(ctx)  # nothing registers the web tasks with the target group
    outputs = ctx.state.step("services").outputs  # type: ignore[union-attr]
    assert outputs["web_health"] == "no target registered"
    assert "waiting for the web health check (GET /api/v2/version) to answer" in said

    polls: list[int] = []

    def ecs_registers_on_the_third_poll(**_: object) -> None:
        polls.append(1)
        if len(polls) == 3:  # ECS registers the started task with the target group
            register_service_targets(ctx.aws, ctx.config.cluster_name)

    again = _context(ctx.config, ctx.state)
    again.aws.register("after-call.*.DescribeTargetHealth", ecs_registers_on_the_third_poll)
    STEP.apply(again)
    assert ctx.state.step("services").outputs["web_health"] == "healthy"  # type: ignore[union-attr]
    assert len(polls) == 4


def test_ecs_registers_no_instance_that_an_instance_refresh_replaced(
    make_config: Callable[..., LaunchConfig], aws_endpoint: str, tmp_path: Path
) -> None:
    """The emulator keeps a terminated instance as a container instance; ECS's stand-in skips it
    (the load balancer refuses it as a target: InvalidTarget), and registers the running one."""
    ctx = _ready(make_config, aws_endpoint, tmp_path)
    STEP.apply(ctx)
    ec2, ecs, elbv2 = (ctx.aws.client(name) for name in ("ec2", "ecs", "elbv2"))
    group = elbv2.describe_target_groups()["TargetGroups"][0]["TargetGroupArn"]
    register_service_targets(ctx.aws, ctx.config.cluster_name)
    (old,) = [
        t["Target"]
        for t in elbv2.describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"]
    ]
    # an instance refresh: the old instance goes, a new one joins the cluster
    elbv2.deregister_targets(TargetGroupArn=group, Targets=[old])
    ec2.terminate_instances(InstanceIds=[old["Id"]])
    image = ec2.describe_images()["Images"][0]["ImageId"]
    subnet = ctx.config.network.subnet_ids[0]
    new = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, SubnetId=subnet)
    new_id = new["Instances"][0]["InstanceId"]
    ecs.register_container_instance(
        cluster=ctx.config.cluster_name,
        instanceIdentityDocument=json.dumps({"instanceId": new_id}),
    )
    register_service_targets(ctx.aws, ctx.config.cluster_name)
    targets = {
        t["Target"]["Id"]
        for t in elbv2.describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"]
    }
    assert targets == {new_id}
