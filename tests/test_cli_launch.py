"""apply/status/destroy refuse a state they cannot trust: exit 2, a clear message, the file
left as it was, nothing changed in AWS."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli
from wizard.aws import Aws, AwsSettings
from wizard.config import LaunchConfig
from wizard.config_file import save_config
from wizard.state import Resource, StateFile


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    result: subprocess.CompletedProcess[str] = run_cli(*args, timeout=120)
    return result


@pytest.fixture
def files(
    make_config: Callable[..., LaunchConfig], aws_endpoint: str, tmp_path: Path
) -> tuple[Path, Path]:
    config = make_config(aws__endpoint_url=aws_endpoint, s3__create_bucket=True)
    config_path, state_path = tmp_path / "launch.toml", tmp_path / "airflow-staging.state.json"
    save_config(config, config_path)
    StateFile.create(
        state_path,
        launch=config.name,
        account_id="123456789012",
        region="us-east-1",
        config_digest="x",
    )
    return config_path, state_path


def _valid(state_path: Path) -> str:
    return state_path.read_text()


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        (lambda text: "garbage{", "not a state file of airflow-ecs-wizard"),
        (lambda text: text[: len(text) // 2], "not a state file of airflow-ecs-wizard"),
        (lambda text: json.dumps({**json.loads(text), "schema_version": 99}), "newer"),
        (lambda text: json.dumps({**json.loads(text), "launch": "other"}), "launch 'other'"),
        (
            lambda text: json.dumps({**json.loads(text), "account_id": "999999999999"}),
            "999999999999",
        ),
    ],
    ids=["corrupt", "truncated", "newer-schema", "other-launch", "other-account"],
)
def test_untrusted_state_is_refused_untouched(
    files: tuple[Path, Path], aws_endpoint: str, damage: Callable[[str], str], words: str
) -> None:
    config_path, state_path = files
    state_path.write_text(damage(_valid(state_path)))
    before = state_path.read_bytes()
    result = _cli("apply", "--config", str(config_path), "--state", str(state_path), "--yes")
    assert result.returncode == 2, result.stderr
    assert words in result.stderr
    assert state_path.read_bytes() == before
    aws = Aws(AwsSettings(region="us-east-1", endpoint_url=aws_endpoint))
    assert aws.client("s3").list_buckets()["Buckets"] == []  # nothing was changed


def test_a_locked_launch_is_refused(files: tuple[Path, Path]) -> None:
    config_path, state_path = files
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from wizard.state import StateFile\n"
            f"s = StateFile.open({str(state_path)!r})\n"
            "with s.lock('another apply'):\n"
            "    print('locked', flush=True); time.sleep(60)",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        before = state_path.read_bytes()
        result = _cli("apply", "--config", str(config_path), "--state", str(state_path), "--yes")
        assert result.returncode == 2
        assert f"pid {holder.pid}" in result.stderr
        assert state_path.read_bytes() == before
    finally:
        holder.kill()
        holder.wait()


def test_apply_without_yes_and_no_terminal_changes_nothing(
    files: tuple[Path, Path], aws_endpoint: str
) -> None:
    config_path, state_path = files
    result = _cli("apply", "--config", str(config_path), "--state", str(state_path))
    assert result.returncode == 2
    assert "needs a confirmation" in result.stderr and "--yes" in result.stderr
    aws = Aws(AwsSettings(region="us-east-1", endpoint_url=aws_endpoint))
    assert aws.client("s3").list_buckets()["Buckets"] == []


def test_only_checks_its_dependencies(files: tuple[Path, Path]) -> None:
    config_path, state_path = files
    result = _cli(
        "apply",
        "--config",
        str(config_path),
        "--state",
        str(state_path),
        "--yes",
        "--only",
        "bootstrap",
    )
    assert result.returncode == 2
    assert "bootstrap needs s3_layout applied first" in result.stderr
    result = _cli(
        "apply",
        "--config",
        str(config_path),
        "--state",
        str(state_path),
        "--yes",
        "--only",
        "account",
        "s3_layout",
        "bootstrap",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    state = StateFile.open(state_path)
    assert state.applied_steps() == ["account", "s3_layout", "bootstrap"]
    status = _cli("status", "--state", str(state_path))
    assert "applied" in status.stdout and "pending" in status.stdout


def _recorded_launch(aws_endpoint: str, state_path: Path) -> Aws:
    """A role and a parameter made in us-east-1, recorded in the state as the launch's."""
    aws = Aws(AwsSettings(region="us-east-1", endpoint_url=aws_endpoint))
    trust = {"Version": "2012-10-17", "Statement": []}
    aws.client("iam").create_role(
        RoleName="launch-role", AssumeRolePolicyDocument=json.dumps(trust)
    )
    aws.client("ssm").put_parameter(Name="launch.fernet", Value="v", Type="SecureString")
    state = StateFile.open(state_path)
    for kind, name in (("iam:role", "launch-role"), ("ssm:parameter", "launch.fernet")):
        state.record_resource("iam", Resource(kind=kind, id=name, created=True, region="us-east-1"))
    return aws


def test_destroy_of_a_state_edited_to_another_region_changes_nothing(
    files: tuple[Path, Path], aws_endpoint: str
) -> None:
    _, state_path = files
    aws = _recorded_launch(aws_endpoint, state_path)
    state_path.write_text(
        state_path.read_text().replace(
            '"region": "us-east-1",\n  "config', '"region": "us-west-2",\n  "config', 1
        )
    )
    assert '"region": "us-west-2"' in state_path.read_text()
    before = state_path.read_bytes()
    result = _cli(
        "destroy",
        "--state",
        str(state_path),
        "--yes",
        "--delete-data",
        "--endpoint-url",
        aws_endpoint,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "its resources were made in us-east-1" in result.stderr
    assert state_path.read_bytes() == before
    assert aws.client("iam").get_role(RoleName="launch-role")["Role"]
    assert aws.client("ssm").get_parameter(Name="launch.fernet")["Parameter"]


def test_destroy_deletes_each_resource_in_the_region_it_was_made_in(
    files: tuple[Path, Path], aws_endpoint: str
) -> None:
    from wizard.destroy import destroy

    _, state_path = files
    east = _recorded_launch(aws_endpoint, state_path)
    west = Aws(AwsSettings(region="us-west-2", endpoint_url=aws_endpoint))
    west.client("ssm").put_parameter(Name="launch.fernet", Value="west", Type="SecureString")

    result = destroy(west, StateFile.open(state_path), delete_data=True)
    assert result.failed == [] and len(result.deleted) == 2
    with pytest.raises(east.client("ssm").exceptions.ParameterNotFound):
        east.client("ssm").get_parameter(Name="launch.fernet")
    # the parameter of the same name in the other region was never the launch's
    assert west.client("ssm").get_parameter(Name="launch.fernet")["Parameter"]["Name"]


def test_the_first_ctrl_c_stops_apply_during_a_long_wait_and_saves_the_state(
    launch_config: LaunchConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import queue
    import signal
    import threading

    monkeypatch.delenv("AIRFLOW_ECS_WIZARD_WAIT_SCALE")  # AWS's pace: 15 s between polls
    config_path, state_path = tmp_path / "launch.toml", tmp_path / "launch.state.json"
    save_config(launch_config, config_path)
    command = ["apply", "--config", str(config_path), "--state", str(state_path), "--yes"]
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.interrupt_driver", *command],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "300"},
    )
    lines: queue.Queue[str] = queue.Queue()
    seen: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    try:
        while "WAITING\n" not in seen:  # the redis step is in its long wait
            seen.append(lines.get(timeout=120))
        process.send_signal(signal.SIGINT)
        # without the fix it polls on (for 45 minutes): this bound is generous, not a timing
        process.wait(timeout=60)
    finally:
        process.kill()
        process.wait()
    while not lines.empty():
        seen.append(lines.get())
    output = "".join(seen)
    assert process.returncode == 130, output
    assert "stopping" in output
    assert f"airflow-ecs-wizard apply --config {config_path} --state {state_path} --yes" in output
    state = StateFile.open(state_path)
    redis = state.step("redis")
    assert redis.status == "failed" and "interrupted" in redis.error
    recorded = {(r.kind, r.id) for r in state.created_resources()}
    assert ("elasticache:replication-group", launch_config.replication_group_id) in recorded
    assert "services" not in state.applied_steps()
    assert "task_definitions" not in state.state.steps  # never started
