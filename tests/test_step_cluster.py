"""The cluster step against the emulator: a new stack from cluster.cfn.json, and a console-made
stack patched through a change set. Long waits are instant in moto."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.test_steps import _context, _state
from wizard.config import LaunchConfig
from wizard.errors import WizardError
from wizard.state import StateFile
from wizard.steps.base import StepContext
from wizard.steps.cluster import ClusterStep

STEP = ClusterStep()
CONSOLE = Path(__file__).parent / "fixtures" / "console" / "infra-ecs-cluster-launchtemplate.json"


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
        "autoscaling.StartInstanceRefresh",  # the instances take the new user data
    }
    deployed = writer.aws.client("cloudformation").get_template(
        StackName="Infra-ECS-Cluster-airflow-1a2b3c"
    )["TemplateBody"]
    text = deployed if isinstance(deployed, str) else json.dumps(deployed)
    assert "bootstrap.sh" in text
    assert [a.verb for a in STEP.plan(_context(config)).actions if a.verb != "check"] == ["no-op"]


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


# --- day 2 on a stack the launch created --------------------------------------------------------


def _own_stack(
    make_config: Callable[..., LaunchConfig], aws_endpoint: str, tmp_path: Path, **changes: object
) -> tuple[LaunchConfig, StateFile, list[str], str]:
    """A cluster stack the launch created, with the config it was created from."""
    seed = _context(make_config(aws__endpoint_url=aws_endpoint))
    subnets, group = _network(seed)
    config = make_config(aws__endpoint_url=aws_endpoint, network__subnet_ids=subnets, **changes)
    state = _state(tmp_path, config)
    state.set_outputs("network", instance_security_group_ids=[group])
    STEP.apply(_context(config, state))
    return config, state, subnets, group


def _group(ctx: StepContext) -> dict[str, Any]:
    (group,) = ctx.aws.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
    return dict(group)


def test_instance_type_and_sizes_change_through_a_change_set_and_a_refresh(
    make_config: Callable[..., LaunchConfig], aws_endpoint: str, tmp_path: Path
) -> None:
    _, state, subnets, _ = _own_stack(make_config, aws_endpoint, tmp_path)
    bigger = make_config(
        aws__endpoint_url=aws_endpoint,
        network__subnet_ids=subnets,
        cluster__instance_type="m6i.2xlarge",
        cluster__min_size=2,
        cluster__max_size=6,
    )
    reader = _context(bigger, state, read_only=True)
    plan = STEP.plan(reader)
    stack, *rest = plan.actions
    assert stack.verb == "update" and stack.detail.startswith("change set: ")
    for change in ("InstanceType m6i.xlarge -> m6i.2xlarge", "MinSize 1 -> 2", "MaxSize 4 -> 6"):
        assert change in stack.detail
    assert [(a.kind, a.name, a.detail) for a in rest if a.kind == "cloudformation:parameter"] == [
        ("cloudformation:parameter", "InstanceType", "m6i.xlarge -> m6i.2xlarge"),
        ("cloudformation:parameter", "MinSize", "1 -> 2"),
        ("cloudformation:parameter", "MaxSize", "4 -> 6"),
    ]
    (refresh,) = [a for a in rest if a.kind == "autoscaling:instance-refresh"]
    assert "InstanceType" in refresh.detail
    assert reader.aws.recorder.mutating() == {}

    old_instances = {i["InstanceId"] for i in _group(reader)["Instances"]}
    writer = _context(bigger, state)
    STEP.apply(writer)
    assert set(writer.aws.recorder.mutating()) == {
        "cloudformation.CreateChangeSet",
        "cloudformation.ExecuteChangeSet",
        "autoscaling.StartInstanceRefresh",
    }
    group = _group(writer)
    assert (group["MinSize"], group["MaxSize"]) == (2, 6)
    assert not old_instances & {i["InstanceId"] for i in group["Instances"]}
    assert state.step("cluster").outputs["pending_instance_refresh"] == []
    assert [a.verb for a in STEP.plan(_context(bigger, state)).actions] == ["no-op"]


def test_a_size_change_alone_replaces_no_instance(
    make_config: Callable[..., LaunchConfig], aws_endpoint: str, tmp_path: Path
) -> None:
    _, state, subnets, _ = _own_stack(make_config, aws_endpoint, tmp_path)
    wider = make_config(
        aws__endpoint_url=aws_endpoint, network__subnet_ids=subnets, cluster__max_size=8
    )
    plan = STEP.plan(_context(wider, state))
    assert [(a.verb, a.kind) for a in plan.actions] == [
        ("update", "cloudformation:stack"),
        ("update", "cloudformation:parameter"),
    ]
    writer = _context(wider, state)
    STEP.apply(writer)
    assert "autoscaling.StartInstanceRefresh" not in writer.aws.recorder.mutating()
    assert _group(writer)["MaxSize"] == 8


# --- a refresh the preview promised stays pending until it is done ------------------------------


def _console(make_config: Callable[..., LaunchConfig], aws_endpoint: str, **changes: object) -> Any:
    from wizard.sandbox import CONSOLE_STACK, seed_account

    aws = _context(make_config(aws__endpoint_url=aws_endpoint)).aws
    seeded = seed_account(aws, console_stack=True)
    return make_config(
        aws__endpoint_url=aws_endpoint,
        network__vpc_id=seeded.vpc_id,
        network__subnet_ids=seeded.subnet_ids,
        cluster__existing_stack=CONSOLE_STACK,
        **changes,
    )


def test_a_refresh_that_failed_stays_pending_and_is_done_on_retry(
    make_config: Callable[..., LaunchConfig], aws_endpoint: str, tmp_path: Path
) -> None:
    config = _console(make_config, aws_endpoint)
    state = _state(tmp_path, config)
    failing = _context(config, state)
    failing.yes = True

    def refuse(**_: object) -> None:
        raise RuntimeError("the refresh did not start (connection lost)")

    failing.aws.register("before-call.autoscaling.StartInstanceRefresh", refuse)
    with pytest.raises(RuntimeError, match="did not start"):
        STEP.apply(failing)
    assert state.step("cluster").outputs["pending_instance_refresh"] == ["ECSAutoScalingGroup"]

    retry = _context(config, state)
    retry.yes = True
    plan = STEP.plan(retry)
    assert [(a.verb, a.detail) for a in plan.actions[:1]] == [("no-op", "already patched")]
    (refresh,) = [a for a in plan.actions if a.kind == "autoscaling:instance-refresh"]
    assert refresh.verb == "update" and "earlier apply" in refresh.detail
    STEP.apply(retry)
    assert set(retry.aws.recorder.mutating()) == {"autoscaling.StartInstanceRefresh"}
    assert state.step("cluster").outputs["pending_instance_refresh"] == []
    after = STEP.plan(_context(config, state))
    assert not [a for a in after.actions if a.kind == "autoscaling:instance-refresh"]


# --- a patched console stack: its own values, cluster, AMI family and role ----------------------


def test_console_stack_keeps_its_values_and_its_cluster(
    make_config: Callable[..., LaunchConfig], aws_endpoint: str, tmp_path: Path
) -> None:
    config = _console(make_config, aws_endpoint)
    assert config.cluster_name == "airflow-staging"
    ctx = _context(config, _state(tmp_path, config))
    ctx.yes = True
    plan = STEP.plan(ctx)
    checks = {(a.kind, a.name): a.detail for a in plan.actions if a.verb == "check"}
    assert checks[("ecs:cluster", "airflow-console")].endswith("writes ECS_CLUSTER")
    (group,) = [d for (kind, _), d in checks.items() if kind == "autoscaling:group"]
    assert group == "m5.large, min 0, max 5, desired 2: the stack's own values stay"
    warnings = "\n".join(plan.warnings)
    assert "cluster.instance_type = m6i.xlarge (the stack has m5.large)" in warnings
    assert "cluster.min_size = 1 (the stack has 0)" in warnings
    assert "cluster.name is 'airflow-staging', but the instances" in warnings
    # the patch keeps the console's own ECS_CLUSTER line and adds none for the config's name
    assert "ECS_CLUSTER=airflow-staging" not in plan.artifacts["patched-template"]

    STEP.apply(ctx)
    assert ctx.state is not None
    assert ctx.state.step("cluster").outputs["cluster_name"] == "airflow-console"
    from wizard.steps.cluster import cluster_name

    assert cluster_name(ctx) == "airflow-console"


def test_console_stack_on_another_amazon_linux_is_refused(
    make_config: Callable[..., LaunchConfig], aws_endpoint: str
) -> None:
    config = _console(make_config, aws_endpoint, bootstrap__os="amazon-linux-2")
    plan = STEP.plan(_context(config, read_only=True))
    (problem,) = [p for p in plan.problems if "bootstrap.os" in p]
    assert "run Amazon Linux 2023" in problem
    assert 'set bootstrap.os = "amazon-linux-2023"' in problem
    with pytest.raises(WizardError, match=r"bootstrap\.os"):
        STEP.apply(_context(config))


def test_console_role_without_s3_access_gets_the_folder_policy_with_consent(
    make_config: Callable[..., LaunchConfig], aws_endpoint: str, tmp_path: Path
) -> None:
    config = _console(make_config, aws_endpoint)
    refused = _context(config)
    plan = STEP.plan(refused)
    assert not [p for p in plan.problems if "ecsInstanceRole" in p]  # apply can fix it
    (consent,) = [c for c in plan.consents if "ecsInstanceRole" in c]
    assert "s3:GetObject on arn:aws:s3:::acme-dataplatform-airflow/airflow/staging/bootstrap/" in (
        consent
    )
    assert "s3:ListBucket on arn:aws:s3:::acme-dataplatform-airflow" in consent
    assert "a role this launch does not own" in consent
    with pytest.raises(WizardError, match="a role this launch does not own") as without:
        STEP.apply(refused)
    assert without.value.title.endswith("needs your consent")
    assert refused.aws.recorder.mutating() == {}

    state = _state(tmp_path, config)
    consented = _context(config, state)
    consented.yes = True
    (grant,) = [a for a in STEP.plan(consented).actions if a.kind == "iam:role-policy"]
    assert grant.name == "ecsInstanceRole/airflow-ecs-wizard-read-airflow-folder"
    STEP.apply(consented)
    iam = consented.aws.client("iam")
    document = iam.get_role_policy(
        RoleName="ecsInstanceRole", PolicyName="airflow-ecs-wizard-read-airflow-folder"
    )["PolicyDocument"]
    assert "airflow/staging/dags/*" in json.dumps(document)
    assert ("iam:role-policy", grant.name) in [(r.kind, r.id) for r in state.created_resources()]
    again = STEP.plan(_context(config, state))
    assert ("check", "iam:role", "ecsInstanceRole") in [
        (a.verb, a.kind, a.name) for a in again.actions
    ]
    assert not again.problems and not again.consents
