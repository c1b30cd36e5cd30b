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
from wizard.state import StateFile


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
