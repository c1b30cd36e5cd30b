"""A launch made by an earlier version (roles `NAME-execution`/`NAME-task`, inline policy
`airflow-ecs-wizard`) moves to the names unique to the launch and its region on the next
apply: the new roles are made, the task definitions and services switch to them, and only
then are the old ones this launch made deleted."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest

from tests.test_launch import _apply
from wizard.config import LaunchConfig
from wizard.state import StateFile


def test_an_earlier_versions_roles_move_to_the_new_names_then_go(
    launch_config: LaunchConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state_path = tmp_path / "launch.state.json"
    legacy = {"execution": f"{launch_config.name}-execution", "task": f"{launch_config.name}-task"}

    def old_role_name(self: LaunchConfig, role: Literal["execution", "task"]) -> str:
        return f"{self.name}-{role}"

    with monkeypatch.context() as earlier:  # the names the earlier version used
        earlier.setattr(LaunchConfig, "role_name", old_role_name)
        earlier.setattr(LaunchConfig, "policy_name", "airflow-ecs-wizard")
        _, first = _apply(launch_config, state_path)
    assert first.ok
    before = {(r.kind, r.id) for r in StateFile.open(state_path).created_resources()}
    assert ("iam:role-policy", f"{legacy['task']}/airflow-ecs-wizard") in before

    launch, second = _apply(launch_config, state_path)
    assert second.ok, {name: str(error) for name, error in second.failed.items()}
    aws, account = launch.aws, launch.account_id
    roles = {r["RoleName"] for r in aws.client("iam").list_roles()["Roles"]}
    assert {launch_config.role_name("execution"), launch_config.role_name("task")} <= roles
    assert not set(legacy.values()) & roles  # deleted, once nothing used them
    ecs = aws.client("ecs")
    services = ecs.describe_services(
        cluster=launch_config.cluster_name,
        services=[f"{launch_config.name}-{c}" for c in ("webserver", "worker")],
    )["services"]
    for service in services:  # the services run revisions that name the new roles
        taskdef = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])
        definition = taskdef["taskDefinition"]
        assert definition["executionRoleArn"] == launch_config.role_arn("execution", account)
        assert definition["taskRoleArn"] == launch_config.role_arn("task", account)
    after = {r.id for r in StateFile.open(state_path).created_resources(created_only=False)}
    assert not any(legacy["execution"] in i or legacy["task"] in i for i in after)
    deletes = {k: n for k, n in aws.recorder.mutating().items() if ".Delete" in k}
    assert deletes == {"iam.DeleteRolePolicy": 2, "iam.DeleteRole": 2}
