"""The cluster step against the emulator: a new stack from cluster.cfn.json, and a console-made
stack patched through a change set. Long waits are instant in moto."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.test_steps import _context, _state
from wizard.config import LaunchConfig
from wizard.sandbox import fill_change_set_gap
from wizard.steps.base import StepContext
from wizard.steps.cluster import ClusterStep

STEP = ClusterStep()
CONSOLE = Path(__file__).parent / "fixtures" / "console" / "infra-ecs-cluster-launchtemplate.json"


@pytest.fixture
def _moto_change_set_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    """Emulator gap (moto 5.2): change sets with UsePreviousValue; see `fill_change_set_gap`."""
    from moto.cloudformation.parsing import ResourceMap

    monkeypatch.setattr(ResourceMap, "load_parameters", ResourceMap.load_parameters)
    fill_change_set_gap()


def _network(ctx: StepContext) -> tuple[list[str], str]:
    ec2 = ctx.aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(
            VpcId=vpc, CidrBlock=f"10.20.{i}.0/24", AvailabilityZone=f"us-east-1{az}"
        )["Subnet"]["SubnetId"]
        for i, az in ((1, "a"), (2, "b"))
    ]
    group = ec2.create_security_group(GroupName="instances", Description="x", VpcId=vpc)["GroupId"]
    return subnets, group


def test_new_cluster_stack_is_created_once(
    make_config: Callable[..., LaunchConfig], aws_endpoint: str, tmp_path: Path
) -> None:
    seed = _context(make_config(aws__endpoint_url=aws_endpoint))
    subnets, group = _network(seed)
    config = make_config(aws__endpoint_url=aws_endpoint, network__subnet_ids=subnets)
    state = _state(tmp_path, config)
    state.set_outputs("network", instance_security_group_ids=[group])
    ctx = _context(config, state)
    progress: list[str] = []
    ctx.progress = progress.append

    plan = STEP.plan(ctx)
    assert [(a.verb, a.name) for a in plan.actions] == [("create", "airflow-staging-cluster")]
    STEP.apply(ctx)

    stack = ctx.aws.client("cloudformation").describe_stacks(StackName="airflow-staging-cluster")
    assert stack["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    clusters = ctx.aws.client("ecs").describe_clusters(clusters=["airflow-staging"])["clusters"]
    assert clusters[0]["status"] == "ACTIVE"
    assert any("CREATE_COMPLETE" in line for line in progress)
    recorded = [r.kind for r in state.created_resources()]
    assert recorded == ["cloudformation:stack"]
    assert state.step("cluster").outputs["cluster_name"] == "airflow-staging"

    again = _context(config, state)
    assert [a.verb for a in STEP.plan(again).actions] == ["no-op"]
    STEP.apply(again)
    assert again.aws.recorder.mutating() == {}


@pytest.mark.usefixtures("_moto_change_set_lists")
def test_console_stack_is_patched_through_a_change_set(
    make_config: Callable[..., LaunchConfig], aws_endpoint: str
) -> None:
    seed = _context(make_config(aws__endpoint_url=aws_endpoint))
    subnets, group = _network(seed)
    cloudformation = seed.aws.client("cloudformation")
    console = json.loads(CONSOLE.read_text())
    cloudformation.create_stack(
        StackName="Infra-ECS-Cluster-airflow-1a2b3c",
        TemplateBody=json.dumps(console),
        Parameters=[
            {"ParameterKey": "SubnetIds", "ParameterValue": ",".join(subnets)},
            {"ParameterKey": "SecurityGroupIds", "ParameterValue": group},
        ],
        Capabilities=["CAPABILITY_IAM"],
    )
    config = make_config(
        aws__endpoint_url=aws_endpoint, cluster__existing_stack="Infra-ECS-Cluster-airflow-1a2b3c"
    )
    ctx = _context(config, read_only=True)
    plan = STEP.plan(ctx)
    (update, *_) = plan.actions
    assert update.verb == "update" and "change set" in update.detail
    assert '+              "AssociatePublicIpAddress": false' in update.diff
    assert "aws s3 cp s3://acme-dataplatform-airflow/airflow/staging/bootstrap/bootstrap.sh" in (
        update.diff
    )
    assert ctx.aws.recorder.mutating() == {}

    writer = _context(config)
    STEP.apply(writer)
    assert set(writer.aws.recorder.mutating()) == {
        "cloudformation.CreateChangeSet",
        "cloudformation.ExecuteChangeSet",
    }
    deployed = writer.aws.client("cloudformation").get_template(
        StackName="Infra-ECS-Cluster-airflow-1a2b3c"
    )["TemplateBody"]
    text = deployed if isinstance(deployed, str) else json.dumps(deployed)
    assert "bootstrap.sh" in text
    assert [a.verb for a in STEP.plan(_context(config)).actions] == ["no-op"]


def test_missing_console_stack_is_a_problem(
    make_config: Callable[..., LaunchConfig], aws_endpoint: str
) -> None:
    config = make_config(aws__endpoint_url=aws_endpoint, cluster__existing_stack="Nope")
    plan = STEP.plan(_context(config))
    assert plan.problems == ["stack Nope (cluster.existing_stack) does not exist in us-east-1"]


@pytest.mark.parametrize(
    ("status", "words"),
    [
        ("ROLLBACK_COMPLETE", "delete-stack --stack-name airflow-staging-cluster"),
        ("UPDATE_ROLLBACK_FAILED", "continue-update-rollback"),
    ],
)
def test_a_failed_stack_is_explained_not_crashed_on(
    make_config: Callable[..., LaunchConfig],
    aws_endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
    status: str,
    words: str,
) -> None:
    # moto cannot be made to roll a stack back: answer describe_stacks as AWS would
    def describe(self: ClusterStep, ctx: StepContext) -> dict[str, object]:
        return {"StackName": "airflow-staging-cluster", "StackStatus": status, "StackId": "x"}

    monkeypatch.setattr(ClusterStep, "_stack", describe)
    plan = STEP.plan(_context(make_config(aws__endpoint_url=aws_endpoint)))
    (problem,) = plan.problems
    assert problem.startswith(f"stack airflow-staging-cluster is {status}: ")
    assert words in problem
