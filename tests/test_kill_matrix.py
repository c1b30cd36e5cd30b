"""A run killed right after each create call the launch makes (AWS answered, the state was not
written) resumes into a state that records every resource as the launch's own, with nothing
made twice and nothing left half configured.

In-process, the kill is an exception raised by a botocore `after-call` hook: like a SIGKILL, the
step's own code after that call never runs. Each round kills the first call of every mutating
operation not yet killed, so one test walks the whole matrix in a few rounds; test_resume runs
a sample of the same points as real processes.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from tests.test_launch import _joining_instances
from tests.test_resume import EXPECTED_KINDS, _assert_exactly_once, _inventory
from wizard.aws import is_read
from wizard.config import LaunchConfig
from wizard.destroy import targets
from wizard.engine import apply_launch, connect, open_state
from wizard.runner import RunResult
from wizard.state import StateFile

NOT_THE_LAUNCHES = {"ec2.RunInstances", "ecs.RegisterContainerInstance"}
"""Made by the test's stand-in for the ECS agent, not by the launch."""

CREATES = {
    "cloudformation.CreateStack",
    "ec2.AuthorizeSecurityGroupIngress",
    "ec2.CreateSecurityGroup",
    "ecs.CreateService",
    "ecs.RegisterTaskDefinition",
    "ecs.RunTask",
    "elasticache.CreateCacheSubnetGroup",
    "elasticache.CreateReplicationGroup",
    "elbv2.CreateListener",
    "elbv2.CreateLoadBalancer",
    "elbv2.CreateTargetGroup",
    "iam.CreateRole",
    "iam.PutRolePolicy",
    "s3.CreateBucket",
    "s3.PutBucketEncryption",
    "s3.PutBucketTagging",
    "s3.PutObject",
    "s3.PutPublicAccessBlock",
    "servicediscovery.CreateHttpNamespace",
    "ssm.PutParameter",
}
"""Every mutating call a full apply of the example launch makes."""


class Killed(Exception):
    """Stands for the process dying right after AWS answered."""


def _round(config: LaunchConfig, state_path: Path, killed: set[str]) -> tuple[RunResult, set[str]]:
    """One apply that dies after the first call of each mutating operation not killed yet."""
    launch = connect(config, read_only=False)
    launch.yes = True
    launch.state = open_state(launch, state_path)
    now: set[str] = set()

    def kill(model: Any, **_: Any) -> None:
        operation = f"{model.service_model.service_name}.{model.name}"
        if is_read(model.name) or operation in NOT_THE_LAUNCHES or operation in killed:
            return
        killed.add(operation)
        now.add(operation)
        raise Killed(operation)

    launch.aws.register("after-call.*.*", kill)
    with launch.state.lock("kill matrix"):
        result = apply_launch(launch, on_event=_joining_instances(launch.aws, config.cluster_name))
    return result, now


def test_a_kill_after_every_create_resumes_with_everything_recorded_as_ours(
    launch_config: LaunchConfig, tmp_path: Path
) -> None:
    state_path = tmp_path / "launch.state.json"
    killed: set[str] = set()
    for _ in range(len(CREATES) + 2):
        result, now = _round(launch_config, state_path, killed)
        if not now:
            break
        assert not result.ok
    assert result.ok, {name: str(error) for name, error in result.failed.items()}
    assert killed == CREATES

    state = StateFile.open(state_path)
    records = state.created_resources(created_only=False)
    assert {(r.kind, r.id) for r in records if not r.created} == {("rds:instance", "staging-rds")}
    assert Counter(r.kind for r in records) == EXPECTED_KINDS
    assert all(not entry.intents for entry in state.state.steps.values())
    _assert_exactly_once(_inventory(launch_config), launch_config)

    # half-configured resources were completed: the bucket is tagged, private and encrypted
    s3 = connect(launch_config, read_only=True).aws.client("s3")
    bucket = launch_config.s3.bucket
    assert {
        "Key": "airflow-ecs-wizard:launch",
        "Value": launch_config.name,
    } in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]
    assert all(s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"].values())
    assert s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]

    # so destroy --delete-data takes the launch's own data too: the bucket and the Fernet key
    delete, keep = targets(state, delete_data=True)
    deleted = {(r.kind, r.id) for r in delete}
    assert ("s3:bucket", bucket) in deleted and keep == []
    assert ("ssm:parameter", launch_config.secret_name("fernet_key")) in deleted
    assert len([r for r in delete if r.kind == "ecs:task-definition"]) == 7
