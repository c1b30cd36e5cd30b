"""The sandbox as a user meets it headless: the emulator in its own process, seeded, a config
written for it, and `apply` from the command line running the whole launch to its end."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import run_cli
from wizard.config_file import load_config
from wizard.errors import WizardError
from wizard.sandbox import Sandbox


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    running = Sandbox(tmp_path / "sandbox")
    running.start()
    yield running
    running.stop()


def _cli(sandbox: Sandbox, *args: str) -> subprocess.CompletedProcess[str]:
    environment = (
        {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
        | sandbox.environment()
        | {"COLUMNS": "250"}
    )  # rich wraps at 80 columns otherwise
    result: subprocess.CompletedProcess[str] = run_cli(*args, env=environment)
    return result


def test_a_whole_launch_from_the_command_line(sandbox: Sandbox) -> None:
    config = load_config(sandbox.config_path)
    assert config.aws.endpoint_url == sandbox.endpoint
    assert config.database.rds_instance_id == "staging-rds"
    state = str(sandbox.folder / "launch.state.json")  # beside launch.toml: one naming rule

    planned = _cli(sandbox, "plan", "--config", str(sandbox.config_path))
    assert planned.returncode == 0, planned.stderr[-3000:]
    assert "create ecs:service airflow-staging-webserver" in planned.stdout

    applied = _cli(
        sandbox, "apply", "--config", str(sandbox.config_path), "--state", state, "--yes"
    )
    output = applied.stdout + applied.stderr
    assert applied.returncode == 0, output[-4000:]
    assert "Airflow is up" in output
    assert "Airflow UI: http://airflow-staging-web-" in output
    assert "--name dataplatform.staging.airflow.admin_password" in output

    status = _cli(sandbox, "status", "--state", state)
    assert status.stdout.count("applied") == 12
    again = _cli(sandbox, "apply", "--config", str(sandbox.config_path), "--state", state, "--yes")
    assert again.returncode == 0
    assert "0 change(s) to apply" in again.stdout

    # as the README writes it: no --endpoint-url; the state remembers the sandbox's endpoint
    destroyed = _cli(sandbox, "destroy", "--state", state, "--yes")
    output = destroyed.stdout + destroyed.stderr
    assert destroyed.returncode == 0, output[-4000:]
    assert "deleting elasticache:replication-group" in output
    assert "failed 0" in output
    status = _cli(sandbox, "status", "--state", state)
    assert status.stdout.count("applied") == 0
    assert f"endpoint: {sandbox.endpoint}" in status.stdout
    assert "gone ecs:service" in status.stdout and "gone elasticache:subnet-group" in status.stdout
    assert "run destroy again" not in status.stdout


def test_the_emulator_seeds_its_account_and_a_failed_seeding_is_reported(tmp_path: Path) -> None:
    """The emulator's process seeds the account (the wizard's never loads the seeding's
    clients); when that fails, start says so with the log's place, and stops the emulator."""
    folder = tmp_path / "sandbox"
    (folder / "launch.toml").mkdir(parents=True)  # the config cannot be written there
    sandbox = Sandbox(folder)
    with pytest.raises(WizardError) as raised:
        sandbox.start()
    message = f"{raised.value.message} {raised.value.hint}"
    assert "seeding its account failed" in message and "emulator.log" in message, message
    assert "IsADirectoryError" in message, message
    with pytest.raises(OSError):  # the emulator was stopped
        socket.create_connection(("127.0.0.1", sandbox.port), timeout=2).close()
    assert "Traceback" in (folder / "emulator.log").read_text()
