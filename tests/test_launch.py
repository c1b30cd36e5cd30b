"""A whole launch against the emulator server and a real PostgreSQL: apply ends with every
resource present, a second apply makes no mutating call, plan and dry-run change nothing,
a deleted resource is found and recreated alone, and destroy removes what was created."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import no_credentials_env, run_cli
from wizard.aws import Aws, AwsSettings
from wizard.config import LaunchConfig
from wizard.destroy import destroy
from wizard.engine import Launch, apply_launch, connect, open_state, plan_launch
from wizard.runner import StepEvent
from wizard.sandbox import join_container_instances
from wizard.state import StateFile, contains_secret


def _joining_instances(aws: Aws, cluster_name: str) -> Callable[[StepEvent], None]:
    """The emulator has no ECS agent: when the cluster step is done, join its instances."""

    def on_event(event: StepEvent) -> None:
        if event.step == "cluster" and event.kind == "applied":
            join_container_instances(aws, cluster_name)

    return on_event


def _apply(config: LaunchConfig, state_path: Path) -> tuple[Launch, Any]:
    launch = connect(config, read_only=False)
    launch.yes = True
    launch.state = open_state(launch, state_path)
    with launch.state.lock("test"):
        result = apply_launch(launch, on_event=_joining_instances(launch.aws, config.cluster_name))
    return launch, result


@pytest.fixture
def applied(launch_config: LaunchConfig, tmp_path: Path) -> Iterator[tuple[Launch, Path]]:
    state_path = tmp_path / "airflow-staging.state.json"
    launch, result = _apply(launch_config, state_path)
    assert result.ok, {name: str(error) for name, error in result.failed.items()}
    yield launch, state_path


def test_full_apply_leaves_every_resource_and_reapply_mutates_nothing(
    applied: tuple[Launch, Path], launch_config: LaunchConfig
) -> None:
    launch, state_path = applied
    aws = launch.aws
    ecs = aws.client("ecs")
    assert ecs.describe_clusters(clusters=["airflow-staging"])["clusters"][0]["status"] == "ACTIVE"
    services_found = ecs.list_services(cluster="airflow-staging")["serviceArns"]
    assert len(services_found) == 6
    families = ecs.list_task_definition_families(status="ACTIVE")["families"]
    assert len(families) == 7
    assert (
        aws.client("elasticache").describe_replication_groups(ReplicationGroupId="airflow-staging")[
            "ReplicationGroups"
        ][0]["Status"]
        == "available"
    )
    web_url = StateFile.open(state_path).step("services").outputs["web_url"]
    assert str(web_url).startswith("http://")

    # every step applied, and the state holds no secret value in any form
    state = StateFile.open(state_path)
    assert set(state.applied_steps()) == {
        "account",
        "network",
        "iam",
        "s3_layout",
        "bootstrap",
        "database",
        "redis",
        "image",
        "secrets",
        "cluster",
        "task_definitions",
        "services",
    }
    ssm = aws.client("ssm")
    secrets = [
        ssm.get_parameter(Name=launch_config.secret_name(key), WithDecryption=True)["Parameter"][
            "Value"
        ]
        for key in (
            "fernet_key",
            "secret_key",
            "jwt_secret",
            "admin_password",
            "db_password",
            "sql_alchemy_conn",
            "result_backend",
        )
    ]
    assert not contains_secret(state_path.read_text(), secrets)

    again, result = _apply(launch_config, state_path)
    assert result.ok
    assert again.aws.recorder.mutating() == {}


def test_plan_and_dry_run_change_nothing(launch_config: LaunchConfig, aws_endpoint: str) -> None:
    before = _emulator_snapshot(aws_endpoint)
    launch = connect(launch_config, read_only=True)
    plans = plan_launch(launch)
    assert launch.aws.recorder.mutating() == {}
    assert sum(len(plan.changes) for plan in plans.values()) > 20
    assert _emulator_snapshot(aws_endpoint) == before


def test_a_resource_deleted_out_of_band_is_recreated_alone(
    applied: tuple[Launch, Path], launch_config: LaunchConfig
) -> None:
    launch, state_path = applied
    launch.aws.client("ssm").delete_parameter(Name=launch_config.secret_name("jwt_secret"))
    reader = connect(launch_config, read_only=True)
    reader.state = StateFile.open(state_path)
    changes = [
        (name, str(action)) for name, plan in plan_launch(reader).items() for action in plan.changes
    ]
    assert changes == [
        (
            "secrets",
            f"create ssm:parameter {launch_config.secret_name('jwt_secret')} "
            "(SecureString jwt_secret = ••••••••)",
        )
    ]
    again, result = _apply(launch_config, state_path)
    assert result.ok
    assert again.aws.recorder.mutating() == {"ssm.PutParameter": 1}


def test_destroy_removes_what_was_created_and_keeps_the_data(
    applied: tuple[Launch, Path], launch_config: LaunchConfig
) -> None:
    launch, state_path = applied
    state = StateFile.open(state_path)
    result = destroy(launch.aws, state, delete_data=False)
    # the emulator's ElastiCache gaps are filled (wizard.emulator_gaps): nothing fails
    assert result.failed == []
    elasticache = launch.aws.client("elasticache")
    assert elasticache.describe_replication_groups()["ReplicationGroups"] == []
    assert elasticache.describe_cache_subnet_groups()["CacheSubnetGroups"] == []
    kinds = {r.kind for r in result.deleted}
    assert {"ecs:service", "cloudformation:stack", "ecs:task-definition"} <= kinds
    assert {r.kind for r in result.kept} <= {"s3:bucket", "s3:object", "ssm:parameter"}
    ecs = launch.aws.client("ecs")
    arns = ecs.list_services(cluster="airflow-staging").get("serviceArns", [])
    if arns:  # deleted services linger as DRAINING/INACTIVE for a while, as on AWS
        found = ecs.describe_services(cluster="airflow-staging", services=arns)["services"]
        assert {s["status"] for s in found} <= {"DRAINING", "INACTIVE"}
    stacks = launch.aws.client("cloudformation").list_stacks()["StackSummaries"]
    assert {s["StackStatus"] for s in stacks if s["StackName"] == "airflow-staging-cluster"} == {
        "DELETE_COMPLETE"
    }
    # the data stays: the bucket and the secrets
    assert launch.aws.client("s3").head_bucket(Bucket=launch_config.s3.bucket)
    ssm = launch.aws.client("ssm")
    assert ssm.get_parameter(Name=launch_config.secret_name("fernet_key"))["Parameter"]
    # adopted resources are never touched
    assert launch.aws.client("rds").describe_db_instances(DBInstanceIdentifier="staging-rds")


def test_destroy_of_a_sandbox_launch_needs_only_its_state(
    applied: tuple[Launch, Path], tmp_path: Path
) -> None:
    """A sandbox launch's state remembers its loopback endpoint; a new user who set up no AWS
    credentials destroys it with `destroy --state S --yes` alone (the emulator takes the
    sandbox's placeholder credentials)."""
    launch, state_path = applied
    env = no_credentials_env(tmp_path)
    result = run_cli("destroy", "--state", str(state_path), "--yes", env=env)
    assert result.returncode == 0, result.stderr
    stacks = launch.aws.client("cloudformation").list_stacks()["StackSummaries"]
    assert {s["StackStatus"] for s in stacks if s["StackName"] == "airflow-staging-cluster"} == {
        "DELETE_COMPLETE"
    }


def test_an_interrupted_destroy_says_what_is_gone_and_resumes(
    applied: tuple[Launch, Path],
) -> None:
    launch, state_path = applied
    state = StateFile.open(state_path)
    started: list[str] = []

    def interrupt_at_the_second_task_definition(message: str) -> None:
        started.append(message)
        if sum("ecs:task-definition" in m for m in started) == 2:
            raise KeyboardInterrupt  # Ctrl-C while destroying

    with pytest.raises(KeyboardInterrupt):
        destroy(
            launch.aws, state, delete_data=False, progress=interrupt_at_the_second_task_definition
        )
    after = StateFile.open(state_path)
    gone = [(r.kind, r.id) for r in after.state.destroyed]
    assert len(gone) == len(started) - 1  # each deletion that finished, not the one cut off
    owners = {
        name
        for name, entry in StateFile.open(state_path).state.steps.items()
        if entry.status != "applied"
    }
    # what destroy removed first belongs to the last steps: they are applied no more
    assert {"services", "task_definitions"} <= owners
    assert "account" not in owners  # nothing of its was deleted yet
    assert not ({(r.kind, r.id) for r in after.created_resources()} & set(gone))

    result = destroy(launch.aws, after, delete_data=False)  # run again: it resumes
    assert result.failed == []
    assert not ({(r.kind, r.id) for r in result.deleted} & set(gone))  # none deleted twice
    assert after.applied_steps() == []


def _emulator_snapshot(endpoint: str) -> dict[str, Any]:
    """What the emulator holds of every kind a launch touches, read through its API.

    (moto's own `/moto-api/data.json` answers 500 for this account's contents.)
    """
    aws = Aws(AwsSettings(region="us-east-1", endpoint_url=endpoint))
    ssm_names = [
        p["Name"]
        for page in aws.client("ssm")
        .get_paginator("describe_parameters")
        .paginate(
            ParameterFilters=[{"Key": "Name", "Option": "BeginsWith", "Values": ["dataplatform"]}]
        )
        for p in page["Parameters"]
    ]
    return {
        "buckets": aws.client("s3").list_buckets()["Buckets"],
        "parameters": sorted(ssm_names),
        "groups": aws.client("ec2").describe_security_groups()["SecurityGroups"],
        "roles": [r["RoleName"] for r in aws.client("iam").list_roles()["Roles"]],
        "stacks": aws.client("cloudformation").list_stacks()["StackSummaries"],
        "clusters": aws.client("ecs").list_clusters()["clusterArns"],
        "families": aws.client("ecs").list_task_definition_families()["families"],
        "caches": aws.client("elasticache").describe_replication_groups()["ReplicationGroups"],
        "balancers": aws.client("elbv2").describe_load_balancers()["LoadBalancers"],
        "repositories": aws.client("ecr").describe_repositories()["repositories"],
        "databases": [  # the rest holds clocks (LatestRestorableTime) that move by themselves
            (d["DBInstanceIdentifier"], d["DBInstanceStatus"], str(d["VpcSecurityGroups"]))
            for d in aws.client("rds").describe_db_instances()["DBInstances"]
        ],
    }


def test_throttling_and_server_errors_do_not_stop_a_launch(
    launch_config: LaunchConfig, tmp_path: Path
) -> None:
    from botocore.awsrequest import AWSResponse

    from tests.test_aws import _Raw

    injected = {"left": 12, "seen": 0}

    def inject(request: Any, **_: Any) -> AWSResponse | None:
        injected["seen"] += 1
        if injected["left"] <= 0 or injected["seen"] % 3:  # every third request, twelve times
            return None
        injected["left"] -= 1
        status, code = (503, "ServiceUnavailable") if injected["left"] % 2 else (400, "Throttling")
        body = (
            f"<ErrorResponse><Error><Code>{code}</Code><Message>injected</Message></Error>"
            "</ErrorResponse>"
        ).encode()
        return AWSResponse(request.url, status, {}, _Raw(body))

    launch = connect(launch_config, read_only=False)
    launch.yes = True
    launch.state = open_state(launch, tmp_path / "launch.state.json")
    launch.aws.register("before-send.sts", inject)  # JSON services answer in their own shape
    for service in ("s3", "ec2", "iam", "cloudformation", "rds", "elasticache", "ssm"):
        launch.aws.register(f"before-send.{service}", inject if service != "ssm" else _noop)
    with launch.state.lock("test"):
        result = apply_launch(
            launch, on_event=_joining_instances(launch.aws, launch_config.cluster_name)
        )
    assert injected["left"] == 0
    assert result.ok, {name: str(error) for name, error in result.failed.items()}


def _noop(**_: Any) -> None:
    return None


def test_no_secret_in_command_output_even_with_debug(
    applied: tuple[Launch, Path], launch_config: LaunchConfig, tmp_path: Path
) -> None:
    import subprocess
    import sys

    from tests.conftest import ROOT
    from wizard.config_file import save_config

    _, state_path = applied
    config_path = tmp_path / "launch.toml"
    save_config(launch_config, config_path)
    ssm = Aws(AwsSettings(region="us-east-1", endpoint_url=launch_config.aws.endpoint_url)).client(
        "ssm"
    )
    secrets = [
        ssm.get_parameter(Name=launch_config.secret_name(key), WithDecryption=True)["Parameter"][
            "Value"
        ]
        for key in ("fernet_key", "secret_key", "admin_password", "db_password", "sql_alchemy_conn")
    ]
    outputs = []
    for command in (
        ["plan", "--config", str(config_path), "--state", str(state_path), "--debug"],
        ["apply", "--config", str(config_path), "--state", str(state_path), "--dry-run", "--debug"],
        ["status", "--state", str(state_path), "--json"],
        ["status", "--state", str(state_path)],
    ):
        result = subprocess.run(
            [sys.executable, "-m", "wizard.cli", *command],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        outputs.append(result.stdout + result.stderr)
    assert "0 change(s) to apply" in outputs[0]
    assert "dry run" in outputs[1] and "nothing was changed" in outputs[1]
    assert json_loads(outputs[2])["launch"] == "airflow-staging"
    assert "services" in outputs[3] and "applied" in outputs[3]
    for output in outputs:
        assert not contains_secret(output, secrets)


def json_loads(text: str) -> Any:
    import json

    return json.loads(text)
