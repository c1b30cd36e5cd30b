"""A whole launch on Airflow 2.11, then the same launch re-applied on 3.3 (issue 9, item 3):
against the emulator and a real PostgreSQL, the upgrade converges in one apply and a third apply
changes nothing. What the services became is judged from the recorded requests: the emulator
drops Service Connect and the capacity provider strategy from DescribeServices."""

from __future__ import annotations

from pathlib import Path

from tests.aws_rules import recording
from tests.test_launch import _apply
from wizard.config import LaunchConfig
from wizard.engine import connect, plan_launch
from wizard.state import StateFile


def _on_2_11(config: LaunchConfig) -> LaunchConfig:
    return config.model_copy(
        update={
            "airflow": config.airflow.model_copy(update={"version": "2.11"}),
            "image": config.image.model_copy(update={"tag": "2.11.2"}),
            "components": {k: v for k, v in config.components.items() if k != "dag_processor"},
        }
    )


def test_a_launch_on_2_11_upgraded_to_3_3(launch_config: LaunchConfig, tmp_path: Path) -> None:
    state_path = tmp_path / "airflow-staging.state.json"
    first, result = _apply(_on_2_11(launch_config), state_path)
    assert result.ok, {name: str(error) for name, error in result.failed.items()}
    ecs = first.aws.client("ecs")
    assert len(ecs.list_services(cluster="airflow-staging")["serviceArns"]) == 5

    reader = connect(launch_config, read_only=True)
    reader.state = StateFile.open(state_path)
    plans = plan_launch(reader, ["task_definitions", "services"])
    services = {(a.verb, a.name): a for a in plans["services"].actions}
    assert ("create", "airflow-staging-initdb") in services
    assert ("update", "airflow-staging-web") in services  # the target group's health path
    assert ("create", "airflow-staging-dag-processor") in services
    for name in ("webserver", "scheduler", "worker", "flower", "triggerer"):
        update = services[("update", f"airflow-staging-{name}")]
        assert "serviceConnectConfiguration" in update.detail
        assert '"taskDefinition": "arn:aws:ecs:' in update.diff

    with recording() as evidence:
        _, result = _apply(launch_config, state_path)
    assert result.ok, {name: str(error) for name, error in result.failed.items()}

    run = evidence.of("ecs", "RunTask")
    assert len(run) == 1 and "launchType" not in run[0].params
    updated = {c.params["service"]: c.params for c in evidence.of("ecs", "UpdateService")}
    assert set(updated) == {
        f"airflow-staging-{c}" for c in ("webserver", "scheduler", "worker", "flower", "triggerer")
    }
    assert all(p["serviceConnectConfiguration"]["enabled"] for p in updated.values())
    assert all(p["taskDefinition"].endswith(":2") for p in updated.values())
    created = [c.params for c in evidence.of("ecs", "CreateService")]
    assert [p["serviceName"] for p in created] == ["airflow-staging-dag-processor"]
    assert "launchType" not in created[0] and created[0]["serviceConnectConfiguration"]["enabled"]
    assert [c.params["HealthCheckPath"] for c in evidence.of("elbv2", "ModifyTargetGroup")] == [
        "/api/v2/version"
    ]
    web = ecs.describe_services(cluster="airflow-staging", services=["airflow-staging-webserver"])
    taskdef = ecs.describe_task_definition(taskDefinition=web["services"][0]["taskDefinition"])
    assert taskdef["taskDefinition"]["containerDefinitions"][0]["command"] == ["api-server"]
    outputs = StateFile.open(state_path).step("services").outputs
    assert outputs["migrated_version"] == "3.3"

    third, result = _apply(launch_config, state_path)
    assert result.ok
    assert third.aws.recorder.mutating() == {}
