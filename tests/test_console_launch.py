"""A whole launch over the console-made cluster stack the sandbox seeds, driven by the engine as
the wizard drives it: the patch, the instance role's policy (consent given, as confirming a
preview gives it), the instance refresh, and the services in the stack's own cluster
(`airflow-console`, not the config's `cluster.name`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import with_changes
from wizard.aws import Aws, AwsSettings
from wizard.config import LaunchConfig
from wizard.engine import apply_launch, connect, open_state
from wizard.runner import StepEvent
from wizard.sandbox import CONSOLE_STACK, GOOGLE_PARAMETERS, join_container_instances, seed_account
from wizard.state import StateFile
from wizard.summary import summarize

STACK_CLUSTER = "airflow-console"
"""The cluster the console stack's user data writes (`ECS_CLUSTER=`)."""


def _console_config(
    aws_endpoint: str, example_data: dict[str, Any], postgres: Any, monkeypatch: Any
) -> LaunchConfig:
    aws = Aws(AwsSettings(region="us-east-1", endpoint_url=aws_endpoint))
    seeded = seed_account(aws, google_parameters=GOOGLE_PARAMETERS, console_stack=True)
    monkeypatch.setenv("AIRFLOW_ECS_WIZARD_DB_ADMIN_PASSWORD", "trusted-locally")
    changes: dict[str, Any] = {
        "aws.endpoint_url": aws_endpoint,
        "aws.account_id": "123456789012",
        "network.vpc_id": seeded.vpc_id,
        "network.subnet_ids": seeded.subnet_ids,
        "network.public_subnet_ids": seeded.public_subnet_ids,
        "s3.create_bucket": True,
        "iam": {},
        "database.host": "127.0.0.1",
        "database.port": postgres.port,
        "database.admin_username": postgres.user,
        "database.database_name": f"airflow_console_{abs(hash(aws_endpoint)) % 10**6}",
        "cluster.existing_stack": CONSOLE_STACK,
    }
    for component in ("webserver", "scheduler", "worker", "flower", "triggerer", "dag_processor"):
        changes[f"components.{component}.desired_count"] = 1
    return LaunchConfig.model_validate(with_changes(example_data, changes))


# KNOWN GAP (issue 9, open): a patched console stack's instances keep the console's own
# security group, so the rules the network step writes for its instance group do not admit the
# load balancer, Service Connect, worker logs, RDS or Redis flows to them; the rule reports
# each. Until the patch puts the launch's instance group on the instances (or the network step
# adopts the stack's group), this test is exempt from that rule only.
@pytest.mark.breaks_aws_rule("every-flow-admitted")
def test_a_launch_over_the_console_stack_runs_in_the_stacks_cluster(
    aws_endpoint: str,
    example_data: dict[str, Any],
    postgres: Any,
    monkeypatch: Any,
    fast_waits: None,
    tmp_path: Path,
) -> None:
    config = _console_config(aws_endpoint, example_data, postgres, monkeypatch)
    assert config.cluster_name == "airflow-staging"  # the config says another cluster
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
