"""A sandbox launch resumes across runs: the sandbox keeps its account (a seed and the requests
that changed it) in its folder, and `--sandbox` again lists the launch and continues it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from textual.widgets import Static

from screens.app import WizardApp, WizardOptions
from screens.launch import LaunchScreen
from screens.start import StartScreen
from tests.test_tui_flows import SIZE, _confirm_until, _open_launch
from tests.tui_support import screen_text, wait_for
from wizard.aws import WAIT_SCALE_VARIABLE, Aws, AwsSettings
from wizard.config_file import load_config
from wizard.sandbox import Sandbox
from wizard.sandbox_account import RECORDING


@pytest.fixture
def sandbox_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sandbox points this process at its emulator: put every variable back afterwards."""
    for key in {*Sandbox(Path()).environment(), "AWS_PROFILE", "AWS_ENDPOINT_URL"}:
        if key in os.environ:
            monkeypatch.setenv(key, os.environ[key])
        else:
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv(WAIT_SCALE_VARIABLE, "0")


async def _sandbox_ready(pilot: object, app: WizardApp) -> str:
    """The start screen's text once the sandbox is ready, its whitespace folded: the status
    line names the sandbox's folder, and a long one wraps it anywhere."""
    await wait_for(pilot, lambda: app.sandbox_config is not None, timeout=180)  # type: ignore[arg-type]
    await wait_for(pilot, lambda: "Sandbox ready" in screen_text(app), interval=0.5)  # type: ignore[arg-type]
    return " ".join(screen_text(app).split())


async def test_a_sandbox_launch_quit_half_way_continues_in_a_new_sandbox_run(
    sandbox_environment: None, tmp_path: Path
) -> None:
    folder = tmp_path / "sandbox"
    first = WizardApp(WizardOptions(sandbox=True, folder=folder))
    async with first.run_test(size=SIZE) as pilot:
        text = await _sandbox_ready(pilot, first)
        status = str(first.screen.query_one("#sandbox-status", Static).content)
        assert "a new account" in text and "remove that folder" in text, status
        screen = await _open_launch(pilot)
        await _confirm_until(pilot, first, stop_before="bootstrap")
        await wait_for(pilot, lambda: not screen.session.running, timeout=120)
        await pilot.press("ctrl+q")
    assert (folder / RECORDING).stat().st_size > 0
    config = load_config(folder / "launches" / "airflow-staging.toml")
    vpc = config.network.vpc_id

    second = WizardApp(WizardOptions(sandbox=True, folder=folder))
    async with second.run_test(size=SIZE) as pilot:
        text = await _sandbox_ready(pilot, second)
        assert "the account of your last run" in text
        assert isinstance(second.screen, StartScreen)
        assert "airflow-staging" in text and "4/12 applied" in text
        screen = await _open_launch(pilot, "r")
        assert isinstance(screen, LaunchScreen) and screen.step == "bootstrap"
        await wait_for(
            pilot, lambda: screen.preview is not None and screen.preview.linted, timeout=120
        )
        assert not screen.preview.blocked, screen.preview
        endpoint = load_config(folder / "launches" / "airflow-staging.toml").aws.endpoint_url
        aws = Aws(AwsSettings(region="us-east-1", endpoint_url=endpoint))
        # what the first run made is there, with the same ids
        assert [b["Name"] for b in aws.client("s3").list_buckets()["Buckets"]] == [config.s3.bucket]
        assert vpc in [v["VpcId"] for v in aws.client("ec2").describe_vpcs()["Vpcs"]]
        names = [r["RoleName"] for r in aws.client("iam").list_roles()["Roles"]]
        assert any(name.startswith("airflow-staging") for name in names)


@pytest.mark.parametrize("name", ["launch", "airflow-staging"])
def test_one_naming_rule_for_a_config_and_its_state(tmp_path: Path, name: str) -> None:
    from wizard.launches import config_path_for, launch_for_state, state_path_for

    config = tmp_path / f"{name}.toml"
    state = state_path_for(config)
    assert state == tmp_path / f"{name}.state.json"
    assert config_path_for(state) == config
    # what `sandbox --folder F` writes is what `--state F/launch.state.json` looks for
    sandbox_config = Sandbox(tmp_path).config_path
    assert config_path_for(state_path_for(sandbox_config)) == sandbox_config
    config.write_text(
        (Path(__file__).parent.parent / "examples" / "launch.example.toml").read_text()
    )
    state.write_text("{}")
    assert launch_for_state(state).config_path == config
