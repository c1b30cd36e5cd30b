"""Interrupted launches resume and never create anything twice.

Real SIGKILLs of a separate `apply` process at representative points (after a create and
before its state write, in the middle of a long wait, between steps, in the last step), a
fault at every step boundary in-process, and adoption proven without trusting the state file
(its records of creates suppressed)."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.test_launch import _apply
from wizard.aws import Aws, AwsSettings
from wizard.config import LaunchConfig
from wizard.config_file import save_config
from wizard.state import Resource, StateFile
from wizard.steps import STEPS


def _inventory(config: LaunchConfig) -> dict[str, Any]:
    """How many of each resource the launch made exist in the emulator."""
    aws = Aws(AwsSettings(region="us-east-1", endpoint_url=config.aws.endpoint_url))
    ec2, ecs, elbv2 = aws.client("ec2"), aws.client("ecs"), aws.client("elbv2")
    groups = [g["GroupName"] for g in ec2.describe_security_groups()["SecurityGroups"]]
    families = ecs.list_task_definition_families(status="ACTIVE")["families"]
    return {
        "stacks": [
            s["StackName"]
            for s in aws.client("cloudformation").list_stacks()["StackSummaries"]
            if s["StackStatus"] != "DELETE_COMPLETE"
        ],
        "clusters": ecs.list_clusters()["clusterArns"],
        "services": sorted(ecs.list_services(cluster=config.cluster_name)["serviceArns"]),
        "revisions": {
            family: len(ecs.list_task_definitions(familyPrefix=family)["taskDefinitionArns"])
            for family in families
        },
        "caches": [
            g["ReplicationGroupId"]
            for g in aws.client("elasticache").describe_replication_groups()["ReplicationGroups"]
        ],
        "launch groups": sorted(g for g in groups if g.startswith(config.name)),
        "roles": sorted(
            r["RoleName"]
            for r in aws.client("iam").list_roles()["Roles"]
            if r["RoleName"].startswith(config.name)
        ),
        "balancers": [
            b["LoadBalancerName"] for b in elbv2.describe_load_balancers()["LoadBalancers"]
        ],
        "target groups": [
            t["TargetGroupName"] for t in elbv2.describe_target_groups()["TargetGroups"]
        ],
        "namespaces": [
            n["Name"] for n in aws.client("servicediscovery").list_namespaces()["Namespaces"]
        ],
        "fernet": _fernet(config),
    }


def _fernet(config: LaunchConfig) -> str:
    aws = Aws(AwsSettings(region="us-east-1", endpoint_url=config.aws.endpoint_url))
    parameter = aws.client("ssm").get_parameter(
        Name=config.secret_name("fernet_key"), WithDecryption=True
    )
    return str(parameter["Parameter"]["Value"])


def _assert_exactly_once(found: dict[str, Any], config: LaunchConfig) -> None:
    assert found["stacks"] == [f"{config.name}-cluster"]
    assert len(found["clusters"]) == 1
    assert len(found["services"]) == 6
    assert found["revisions"] == {config.family(c): 1 for c in config.rendered_components}
    assert found["caches"] == [config.replication_group_id]
    assert len(found["launch groups"]) == len(set(found["launch groups"]))
    roles = found["roles"]
    assert {config.role_name("execution"), config.role_name("task")} <= set(roles)
    assert len([r for r in roles if r.startswith(f"{config.name}-cluster-InstanceRole")]) == 1
    assert found["balancers"] == [f"{config.name}-web"]
    assert found["target groups"] == [f"{config.name}-web"]
    assert found["namespaces"] == [config.name]


def _driver(
    config_path: Path, state_path: Path, kill_point: str = ""
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "tests.apply_driver", str(config_path), str(state_path)]
    return subprocess.run(
        [*command, kill_point] if kill_point else command,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


KILL_POINTS = [
    "after-call:cloudformation.CreateStack",  # created, not yet in the state
    "after-call:elasticache.DescribeReplicationGroups",  # in the middle of the cache's wait
    "event:secrets:applied",  # between steps
    "after-call:ecs.CreateService",  # the last step, half done
    "after-call:s3.CreateBucket",  # untagged until the next call: the intent says it is ours
    "after-call:ssm.PutParameter",  # the Fernet key, tagged in the same call
    "after-call:ecs.RegisterTaskDefinition",  # a revision the state never heard of
]


@pytest.mark.parametrize("kill_point", KILL_POINTS)
def test_sigkill_then_apply_again_completes_with_everything_once(
    launch_config: LaunchConfig,
    tmp_path: Path,
    kill_point: str,
) -> None:
    config_path, state_path = tmp_path / "launch.toml", tmp_path / "launch.state.json"
    save_config(launch_config, config_path)

    killed = _driver(config_path, state_path, kill_point)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert StateFile.open(state_path).state.launch == launch_config.name  # still readable

    resumed = _driver(config_path, state_path)
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-3000:]
    _assert_exactly_once(_inventory(launch_config), launch_config)
    state = StateFile.open(state_path)
    assert set(state.applied_steps()) == set(STEPS)
    records = state.created_resources(created_only=False)
    assert {(r.kind, r.id) for r in records if not r.created} == {("rds:instance", "staging-rds")}
    assert Counter(r.kind for r in records) == EXPECTED_KINDS


EXPECTED_KINDS = Counter(
    {
        "cloudformation:stack": 1,
        "ec2:security-group": 3,
        "ec2:security-group-rule": 6,
        "ecs:service": 6,
        "ecs:task-definition": 7,
        "elasticache:replication-group": 1,
        "elasticache:subnet-group": 1,
        "elbv2:listener": 1,
        "elbv2:load-balancer": 1,
        "elbv2:target-group": 1,
        "iam:role": 2,
        "iam:role-policy": 2,
        "rds:instance": 1,
        "s3:bucket": 1,
        "s3:object": 9,
        "servicediscovery:namespace": 1,
        "ssm:parameter": 8,
    }
)
"""What the example launch records (all created by it but the database it names)."""


class Crash(Exception):
    """Stands for the process dying at a step boundary."""


def test_a_fault_at_every_step_boundary_resumes(
    launch_config: LaunchConfig,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state_path = tmp_path / "launch.state.json"
    fernet = None
    for name in STEPS:  # one run per boundary: each run dies entering the next step
        step = STEPS[name]
        original = type(step).apply

        def crash(self: Any, ctx: Any, _name: str = name) -> None:
            raise Crash(f"died entering {_name}")

        monkeypatch.setattr(type(step), "apply", crash)
        _, result = _apply(launch_config, state_path)
        monkeypatch.setattr(type(step), "apply", original)
        assert name in result.failed
        state = StateFile.open(state_path)
        assert state.step(name).status == "failed"
        assert state.step(name).error == f"died entering {name}"
        if fernet is None and "secrets" in state.applied_steps():
            fernet = _fernet(launch_config)
    _, result = _apply(launch_config, state_path)
    assert result.ok
    found = _inventory(launch_config)
    _assert_exactly_once(found, launch_config)
    assert found["fernet"] == fernet  # generated once, never replaced


def test_resources_are_adopted_when_the_state_never_heard_of_them(
    launch_config: LaunchConfig,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state_path = tmp_path / "launch.state.json"
    original = StateFile.record_resource

    def forgetful(self: StateFile, step: str, resource: Resource) -> bool:
        return False  # as if every process died between each create and its state write

    monkeypatch.setattr(StateFile, "record_resource", forgetful)
    _, first = _apply(launch_config, state_path)
    assert first.ok
    # only the intents saved before the creates AWS cannot tag are left
    left = StateFile.open(state_path).created_resources(created_only=False)
    assert sorted((r.kind, r.id) for r in left) == [
        ("iam:role-policy", f"{launch_config.role_name(role)}/{launch_config.policy_name}")
        for role in ("execution", "task")
    ] + [("s3:bucket", launch_config.s3.bucket)]
    monkeypatch.setattr(StateFile, "record_resource", original)

    again, second = _apply(launch_config, state_path)
    assert second.ok
    creates = [call for call in again.aws.recorder.mutating() if ".Create" in call]
    assert creates == []
    _assert_exactly_once(_inventory(launch_config), launch_config)
    # each is the launch's own, by its tag or the intent: only the named database is adopted
    records = StateFile.open(state_path).created_resources(created_only=False)
    assert {(r.kind, r.id) for r in records if not r.created} == {("rds:instance", "staging-rds")}
    assert Counter(r.kind for r in records) == EXPECTED_KINDS
