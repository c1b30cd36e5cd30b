"""The installed wizard in a real terminal (tmux): a whole sandbox launch, key press by key press.

What the Pilot tests cannot show: the console script starts and draws in a real terminal, takes
real key presses, runs the emulator in a child process, and stops it when the user quits.
"""

from __future__ import annotations

import json
import os
import re
import socket
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.terminal import (
    STEP_TITLES,
    Terminal,
    drive_sandbox_launch,
    emulator_pid,
    running,
    terminal,
    tmux_path,
    wizard_command,
)
from wizard.aws import Aws, AwsSettings

LAUNCH = "airflow-staging"


@pytest.fixture
def no_real_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """The wizard and this test see fake credentials only, never a real account's."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "sandbox")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "sandbox")
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)


def _require_tmux() -> None:
    message = "tmux is not installed (apt-get install -y tmux)"
    if tmux_path() is None:
        if os.environ.get("AIRFLOW_ECS_WIZARD_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)


def _secret_values(endpoint: str, state: dict[str, Any]) -> dict[str, str]:
    """The secrets the launch made or checked (the secrets step's parameters and the database
    password, which any leaked connection URL would hold too), by name, decrypted."""
    steps = state["steps"]
    names = {
        *steps["secrets"]["outputs"]["parameters"],
        steps["database"]["outputs"]["password_parameter"],
    }
    ssm = Aws(AwsSettings(region="us-east-1", endpoint_url=endpoint)).client("ssm")
    ordered = sorted(names)
    values = {}
    for start in range(0, len(ordered), 10):
        response = ssm.get_parameters(Names=ordered[start : start + 10], WithDecryption=True)
        values |= {parameter["Name"]: parameter["Value"] for parameter in response["Parameters"]}
    return values


def _answers(endpoint: str) -> bool:
    address = urlsplit(endpoint)
    try:
        with socket.create_connection((address.hostname, address.port), timeout=1):
            return True
    except OSError:
        return False


def _assert_no_secret_shown(term: Terminal, secrets: dict[str, str]) -> None:
    for screen in term.screens:
        for name, value in secrets.items():
            assert value not in screen, f"the value of {name} was on screen:\n{screen}"
        for shown in re.findall(r"fernet_key = (\S*)", screen):
            assert set(shown.rstrip(")")) == {"•"}, f"a Fernet key value was on screen:\n{screen}"


def test_sandbox_launch_in_a_terminal(tmp_path: Path, no_real_aws: None) -> None:
    """Start screen, twelve confirmed previews, the summary with the way in, then ctrl+q stops
    the wizard and its emulator; no secret value is ever on screen."""
    _require_tmux()
    folder = tmp_path / "sandbox"
    launches = folder / "launches"
    with terminal([*wizard_command(), "--sandbox", "--folder", str(folder)], cwd=tmp_path) as term:
        summary = drive_sandbox_launch(term)

        assert "Airflow UI: http://" in summary, summary
        assert "Log in as admin; fetch the password from SSM:" in summary, summary
        assert "aws ssm get-parameter --with-decryption" in summary, summary
        state = json.loads((launches / f"{LAUNCH}.state.json").read_text())
        statuses = {name: step["status"] for name, step in state["steps"].items()}
        assert list(statuses.values()) == ["applied"] * len(STEP_TITLES), statuses
        endpoint = tomllib.loads((launches / f"{LAUNCH}.toml").read_text())["aws"]["endpoint_url"]
        secrets = _secret_values(endpoint, state)
        assert any(name.endswith(".fernet_key") for name in secrets), sorted(secrets)
        _assert_no_secret_shown(term, secrets)
        emulator = emulator_pid(term.pid)
        assert emulator is not None, "no emulator process under the wizard"

        term.send("C-q")
        status = term.wait_for_exit()
        assert status == 0, f"exit status {status}; the terminal then showed:\n{term.last_screen}"
        assert not running(emulator), f"the emulator (pid {emulator}) outlived the wizard"
        assert not _answers(endpoint), f"{endpoint} still answers after the wizard quit"
