"""A whole launch over the console-made cluster stack the sandbox seeds, driven by the engine as
the wizard drives it: the patch, the instance role's policy (consent given, as confirming a
preview gives it), the instance refresh, and the services in the stack's own cluster
(`airflow-console`, not the config's `cluster.name`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from wizard.aws import Aws, AwsSettings
from wizard.config import LaunchConfig
from wizard.destroy import destroy
from wizard.engine import apply_launch, connect, open_state
from wizard.runner import StepEvent
from wizard.sandbox import CONSOLE_STACK, join_container_instances
from wizard.state import StateFile
from wizard.summary import summarize

STACK_CLUSTER = "airflow-console"
"""The cluster the console stack's user data writes (`ECS_CLUSTER=`)."""


def _seeded_groups(ec2: Any) -> list[str]:
    """The console stack's instance group and the seeded database's group."""
    return [
        ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [name]}])[
            "SecurityGroups"
        ][0]["GroupId"]
        for name in ("console-ecs-instances", "staging-rds")
    ]


def _rules(ec2: Any, groups: list[str]) -> list[dict[str, Any]]:
    """The groups' rules, without the ids AWS gives them."""
    found = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": groups}])
    return sorted(
        (
            {k: v for k, v in rule.items() if k != "SecurityGroupRuleId"}
            for rule in found["SecurityGroupRules"]
        ),
        key=repr,
    )


def test_a_launch_over_the_console_stack_runs_in_the_stacks_cluster(
    aws_endpoint: str, make_launch_config: Callable[..., LaunchConfig], tmp_path: Path
) -> None:
    config = make_launch_config(console_stack=True, cluster__existing_stack=CONSOLE_STACK)
    assert config.cluster_name == "airflow-staging"  # the config says another cluster
    ec2 = Aws(AwsSettings(region="us-east-1", endpoint_url=aws_endpoint)).client("ec2")
    groups = _seeded_groups(ec2)
    before = _rules(ec2, groups)
    state_path = tmp_path / f"{config.name}.state.json"
    launch = connect(config, read_only=False)
    launch.yes = True  # confirming each preview, as in the wizard
    launch.state = open_state(launch, state_path)

    def agent(event: StepEvent) -> None:
        # the ECS agent on each instance joins the cluster its ecs.config names
        if event.step == "cluster" and event.kind == "applied":
            join_container_instances(launch.aws, STACK_CLUSTER)

    with launch.state.lock("test"):
        result = apply_launch(launch, on_event=agent)
    assert result.ok, {name: str(error) for name, error in result.failed.items()}

    ecs = launch.aws.client("ecs")
    assert len(ecs.list_services(cluster=STACK_CLUSTER)["serviceArns"]) == 6
    clusters = ecs.describe_clusters(clusters=["airflow-staging"])["clusters"]
    assert not [c for c in clusters if c.get("status") == "ACTIVE"]  # none made on the side
    state = StateFile.open(state_path)
    assert state.step("cluster").outputs["cluster_name"] == STACK_CLUSTER
    assert state.step("cluster").outputs["pending_instance_refresh"] == []
    assert "autoscaling.StartInstanceRefresh" in launch.aws.recorder.mutating()
    assert "iam.PutRolePolicy" in launch.aws.recorder.mutating()

    summary = summarize(config, state, config_path=tmp_path / "c.toml", state_path=state_path)
    assert summary.web_url.startswith("http://")

    again = connect(config, read_only=False)
    again.yes = True
    again.state = StateFile.open(state_path)
    with again.state.lock("test"):
        assert apply_launch(again).ok
    assert again.aws.recorder.mutating() == {}

    # destroy leaves the console's own group, and the database's, as it found them
    with again.state.lock("test"):
        result = destroy(again.aws, again.state, delete_data=False)
    assert result.failed == []
    assert _rules(ec2, groups) == before
    described = ec2.describe_security_groups(GroupIds=groups)["SecurityGroups"]
    assert sorted(g["GroupName"] for g in described) == ["console-ecs-instances", "staging-rds"]
    iam = launch.aws.client("iam")
    assert iam.list_role_policies(RoleName="ecsInstanceRole")["PolicyNames"] == [
        "AmazonEC2ContainerServiceforEC2Role"
    ]
