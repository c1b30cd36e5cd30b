"""Item 1 of issue 9: the services and the migrate task are placed by the cluster's capacity
provider, never by a launch type that bypasses it; services made with the launch type move;
a task that cannot be placed is explained.

Whether a cluster has a provider is read from a template (the rendered one, or a console
stack's), since the emulator's CloudFormation makes no `AWS::ECS::CapacityProvider`. What was
sent is judged from the recorded requests: the emulator drops `capacityProviderStrategy`.

Emulator gaps filled here: moto answers a RunTask it could not place with no task and no
failure (AWS lists the failures); a capacity provider's managed scaling is played by the test,
which joins an instance when a task asks for one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.aws_rules import recording
from tests.test_step_services import ONE_EACH, _launch, _ready
from tests.test_steps import _context, _state
from wizard.aws import observe_calls
from wizard.config import LaunchConfig
from wizard.errors import WizardError
from wizard.render import render_artifacts
from wizard.steps import capacity
from wizard.steps import services as services_module
from wizard.steps.base import StepContext
from wizard.steps.services import ServicesStep
from wizard.steps.task_definitions import TaskDefinitionsStep

STEP = ServicesStep()
COMPONENTS = ("webserver", "scheduler", "worker", "flower", "triggerer", "dag-processor")


@pytest.fixture(autouse=True)
def _fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOTO_ECS_SERVICE_RUNNING", "1")


def _placements(evidence: Any, operation: str) -> list[dict[str, Any]]:
    return [
        {k: c.params[k] for k in ("launchType", "capacityProviderStrategy") if k in c.params}
        for c in evidence.of("ecs", operation)
    ]


def test_services_and_the_migrate_task_use_the_clusters_default_strategy(
    make_config: Callable[..., LaunchConfig], aws_endpoint: str, tmp_path: Path
) -> None:
    ctx = _ready(make_config, aws_endpoint, tmp_path)
    plan = STEP.plan(ctx)
    assert {a.detail for a in plan.actions if a.kind == "ecs:service"} == {
        "desired 1, capacity provider"
    }
    with recording() as evidence:
        STEP.apply(ctx)
    # neither a launch type nor a strategy: the cluster's DefaultCapacityProviderStrategy
    assert _placements(evidence, "CreateService") == [{}] * 6
    assert _placements(evidence, "RunTask") == [{}]


def _console_stack(ctx: StepContext, *, provider: bool, default: bool = True) -> LaunchConfig:
    """A console-made stack: its cluster, and a capacity provider when asked (which the
    emulator does not make, but its template says)."""
    resources: dict[str, Any] = {
        "ECSCluster": {
            "Type": "AWS::ECS::Cluster",
            "Properties": {"ClusterName": {"Ref": "ECSClusterName"}},
        }
    }
    if provider:
        resources["AsgCapacityProvider"] = {
            "Type": "AWS::ECS::CapacityProvider",
            "Properties": {
                "AutoScalingGroupProvider": {
                    "AutoScalingGroupArn": "arn:aws:autoscaling:us-east-1:123456789012:"
                    "autoScalingGroup:x:autoScalingGroupName/console",
                    "ManagedScaling": {"Status": "ENABLED", "TargetCapacity": 100},
                }
            },
        }
        resources["ClusterCPAssociation"] = {
            "Type": "AWS::ECS::ClusterCapacityProviderAssociations",
            "Properties": {
                "Cluster": {"Ref": "ECSCluster"},
                "CapacityProviders": [{"Ref": "AsgCapacityProvider"}],
                "DefaultCapacityProviderStrategy": [
                    {"Weight": 1, "CapacityProvider": {"Ref": "AsgCapacityProvider"}}
                ]
                if default
                else [],
            },
        }
    template = {
        "Parameters": {"ECSClusterName": {"Type": "String", "Default": "console"}},
        "Resources": resources,
    }
    ctx.aws.client("cloudformation").create_stack(
        StackName="console-cluster",
        TemplateBody=json.dumps(template),
        Parameters=[{"ParameterKey": "ECSClusterName", "ParameterValue": ctx.config.cluster_name}],
    )
    return ctx.config.model_copy(
        update={
            "cluster": ctx.config.cluster.model_copy(update={"existing_stack": "console-cluster"})
        }
    )


@pytest.mark.parametrize(
    ("provider", "placement"), [(False, {"launchType": "EC2"}), (True, {})], ids=["none", "one"]
)
def test_a_console_stack_is_judged_by_its_template(
    make_config: Callable[..., LaunchConfig],
    aws_endpoint: str,
    tmp_path: Path,
    provider: bool,
    placement: dict[str, Any],
) -> None:
    config = make_config(aws__endpoint_url=aws_endpoint, **ONE_EACH)
    ctx = _context(config, _state(tmp_path, config))
    ctx.config = _console_stack(ctx, provider=provider)
    _launch(ctx)  # the stack made the cluster already: this joins the instances
    TaskDefinitionsStep().apply(ctx)
    with recording() as evidence:
        STEP.apply(ctx)
    assert _placements(evidence, "CreateService") == [placement] * 6
    assert _placements(evidence, "RunTask") == [placement]


def test_a_provider_without_a_default_strategy_is_named(
    make_config: Callable[..., LaunchConfig], aws_endpoint: str, tmp_path: Path
) -> None:
    """A console stack whose cluster has the provider but no default strategy: the services and
    the migrate task name it (from the cluster step's outputs), or apply says it cannot."""
    config = make_config(aws__endpoint_url=aws_endpoint, **ONE_EACH)
    ctx = _context(config, _state(tmp_path, config))
    ctx.config = _console_stack(ctx, provider=True, default=False)
    _launch(ctx)
    TaskDefinitionsStep().apply(ctx)
    with pytest.raises(WizardError) as caught:
        STEP.apply(ctx)
    assert caught.value.title == "Capacity provider not found"
    assert "stack console-cluster's template has a capacity provider (AsgCapacityProvider)" in (
        caught.value.message
    )

    ctx.state.set_outputs("cluster", capacity_provider="console-cp")  # type: ignore[union-attr]
    with recording() as evidence:
        STEP.apply(ctx)
    named = {
        "capacityProviderStrategy": [{"capacityProvider": "console-cp", "weight": 1, "base": 0}]
    }
    assert _placements(evidence, "CreateService") == [named] * 6
    assert _placements(evidence, "RunTask") == [named]


def test_templates_say_where_tasks_go(make_config: Callable[..., LaunchConfig]) -> None:
    rendered = json.loads(render_artifacts(make_config(), "123456789012")["cluster.cfn.json"])
    found = capacity.from_template(rendered, "rendered")
    assert (found.mode, found.provider) == ("cluster-default", "CapacityProvider")
    console = json.loads(
        (Path(capacity.__file__).parent.parent / "data" / "console-cluster-stack.json").read_text()
    )
    found = capacity.from_template(console, "console")
    assert (found.mode, found.provider) == ("cluster-default", "AsgCapacityProvider")
    console["Resources"].pop("ClusterCPAssociation")
    assert capacity.from_template(console, "console").mode == "provider"
    console["Resources"].pop("AsgCapacityProvider")
    found = capacity.from_template(console, "console")
    assert (found.mode, found.placement) == ("launch-type", "launch type EC2")


def _with_provider(ctx: StepContext) -> list[dict[str, Any]]:
    """What the cluster stack does on AWS (the emulator's CloudFormation does not): a capacity
    provider, associated with the cluster as its default strategy."""
    ecs = ctx.aws.client("ecs")
    ecs.create_capacity_provider(
        name="airflow-staging-cp",
        autoScalingGroupProvider={
            "autoScalingGroupArn": "arn:aws:autoscaling:us-east-1:123456789012:"
            "autoScalingGroup:x:autoScalingGroupName/airflow-staging",
            "managedScaling": {"status": "ENABLED", "targetCapacity": 100},
        },
    )
    strategy = [{"capacityProvider": "airflow-staging-cp", "weight": 1, "base": 0}]
    ecs.put_cluster_capacity_providers(
        cluster=ctx.config.cluster_name,
        capacityProviders=["airflow-staging-cp"],
        defaultCapacityProviderStrategy=strategy,
    )
    return strategy


@pytest.mark.breaks_aws_rule("tasks-placed-by-the-capacity-provider")
def test_services_made_with_the_launch_type_move_to_the_capacity_provider(
    make_config: Callable[..., LaunchConfig], aws_endpoint: str, tmp_path: Path
) -> None:
    ctx = _ready(make_config, aws_endpoint, tmp_path)
    strategy = _with_provider(ctx)
    STEP.apply(ctx)
    ecs = ctx.aws.client("ecs")
    for name in COMPONENTS:  # as the wizard's earlier versions made them
        service = f"airflow-staging-{name}"
        ecs.delete_service(cluster="airflow-staging", service=service, force=True)
        ecs.create_service(
            cluster="airflow-staging",
            serviceName=service,
            taskDefinition=f"airflow-staging-{name}",
            desiredCount=1,
            launchType="EC2",
        )
    ctx.state.set_outputs("services", service_specs="")  # type: ignore[union-attr]

    plan = STEP.plan(_context(ctx.config, ctx.state))
    updates = [a for a in plan.actions if a.kind == "ecs:service"]
    assert [a.verb for a in updates] == ["update"] * 6
    assert all("placement" in a.detail for a in updates)
    assert '-  "placement": "launch type EC2",' in updates[0].diff
    assert '+  "placement": "capacity provider",' in updates[0].diff

    with recording() as evidence:
        STEP.apply(_context(ctx.config, ctx.state))
    moves = evidence.of("ecs", "UpdateService")
    assert len(moves) == 6
    for call in moves:
        assert call.params["capacityProviderStrategy"] == strategy
        assert call.params["forceNewDeployment"] is True
        assert "launchType" not in call.params

    again = _context(ctx.config, ctx.state)
    assert {a.verb for a in STEP.plan(again).actions} == {"no-op"}
    STEP.apply(again)
    assert again.aws.recorder.mutating() == {}


@pytest.fixture
def _moto_lists_run_task_failures(monkeypatch: pytest.MonkeyPatch) -> None:
    """Emulator gap (moto 5.2): a RunTask that places fewer tasks than asked answers with no
    failure, where AWS names each instance's reason ("API failure reasons"). The emulator runs
    in this process: give the answer AWS would."""
    from moto.ecs.responses import EC2ContainerServiceResponse

    original = EC2ContainerServiceResponse.run_task

    def run_task(self: EC2ContainerServiceResponse) -> Any:
        result = original(self)
        if len(result.result["tasks"]) < self._get_int_param("count", 1):
            backend = self.ecs_backend
            cluster = backend._get_cluster(self._get_param("cluster", "default"))
            wanted = backend._calculate_task_resource_requirements(
                backend.describe_task_definition(self._get_param("taskDefinition"))
            )
            for instance in backend.container_instances.get(cluster.name, {}).values():
                left = {r["name"]: r.get("integerValue", 0) for r in instance.remaining_resources}
                short = [name for name in ("CPU", "MEMORY") if wanted[name] > left[name]]
                result.result["failures"].append(
                    {
                        "arn": instance.container_instance_arn,
                        "reason": f"RESOURCE:{short[0] if short else 'PORTS'}",
                    }
                )
        return result

    monkeypatch.setattr(EC2ContainerServiceResponse, "run_task", run_task)


@pytest.mark.usefixtures("_moto_lists_run_task_failures")
def test_a_migrate_task_that_cannot_be_placed_is_explained(
    make_config: Callable[..., LaunchConfig], aws_endpoint: str, tmp_path: Path
) -> None:
    ctx = _ready(
        make_config,
        aws_endpoint,
        tmp_path,
        components__initdb__memory=16384,
        components__initdb__memory_reservation=16384,
    )
    with pytest.raises(WizardError) as caught:
        STEP.apply(ctx)
    assert caught.value.title == "Migrate task not placed"
    assert caught.value.message.startswith(
        "the migrate task was not placed in cluster airflow-staging: RESOURCE:MEMORY"
    )
    assert "components.initdb.memory_reservation" in caught.value.hint
    assert "migrated_version" not in ctx.state.step("services").outputs  # type: ignore[union-attr]


def test_a_cluster_that_scales_from_zero_does_not_wait_for_instances(
    make_config: Callable[..., LaunchConfig],
    aws_endpoint: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With `cluster.min_size = 0` no instance runs until a task asks the provider for one:
    waiting for instances first would wait for ever."""
    config = make_config(aws__endpoint_url=aws_endpoint, cluster__min_size=0, **ONE_EACH)
    ctx = _context(config, _state(tmp_path, config))
    _launch(ctx, instances=0)
    TaskDefinitionsStep().apply(ctx)
    monkeypatch.setattr(services_module, "INSTANCE_WAIT_SECONDS", 0.05)

    def managed_scaling(service: str, operation: str, *_: Any) -> None:
        if (service, operation) == ("ecs", "RunTask"):
            # a pending task under the provider: managed scaling starts an instance
            _join_one(ctx)

    with observe_calls(managed_scaling):
        STEP.apply(ctx)
    assert ctx.state.step("services").outputs["migrated_version"] == "3.3"  # type: ignore[union-attr]


def _join_one(ctx: StepContext) -> None:
    ec2 = ctx.aws.client("ec2")
    if ctx.aws.client("ecs").list_container_instances(cluster="airflow-staging")[
        "containerInstanceArns"
    ]:
        return
    subnet = ctx.config.network.subnet_ids[0]
    image = ec2.describe_images()["Images"][0]["ImageId"]
    instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, SubnetId=subnet)
    document = json.dumps({"instanceId": instance["Instances"][0]["InstanceId"]})
    ctx.aws.client("ecs").register_container_instance(
        cluster="airflow-staging", instanceIdentityDocument=document
    )
