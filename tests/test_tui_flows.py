"""The wizard driven with Textual's Pilot, against the AWS emulator server.

Each test starts the app as a user would (the start screen), walks it with key presses, and
asserts on what the screen shows and on what the emulated account holds afterwards.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from screens.app import WizardApp, WizardOptions
from screens.launch import LaunchScreen
from screens.modals import ErrorModal
from screens.start import StartScreen
from screens.summary import SummaryScreen
from tests.tui_support import (
    applied_launch,
    ecs_agent,
    emulator_contents,
    refuse,
    screen_text,
    seeded_template,
    wait_for,
)
from wizard.aws import Aws, AwsSettings
from wizard.config_file import load_config
from wizard.state import StateFile

SIZE = (150, 45)


@pytest.fixture
def template(aws_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A seeded account, a config new launches start from, and emulator-speed waits."""
    monkeypatch.setenv("AIRFLOW_ECS_WIZARD_WAIT_SCALE", "0")
    monkeypatch.setenv("MOTO_ECS_SERVICE_RUNNING", "1")
    return seeded_template(aws_endpoint, tmp_path)


def _app(tmp_path: Path, template: Path, **options: Any) -> WizardApp:
    return WizardApp(WizardOptions(folder=tmp_path / "launches", template=template, **options))


async def _open_launch(pilot: Any, key: str = "n") -> LaunchScreen:
    """Press New launch (`n`) or Resume (`r`) on the start screen; the launch's screen."""
    app = pilot.app
    await pilot.press(key)
    await wait_for(pilot, lambda: isinstance(app.screen, LaunchScreen))
    screen = app.screen
    assert isinstance(screen, LaunchScreen)
    return screen


async def _confirm_until(pilot: Any, app: WizardApp, stop_before: str | None = None) -> None:
    """Confirm each step's preview in turn, until the summary (or the step `stop_before`)."""
    screen = app.screen
    assert isinstance(screen, LaunchScreen)
    while not isinstance(app.screen, SummaryScreen):
        if screen.step == stop_before:
            return
        await wait_for(
            pilot,
            lambda: (
                (screen.preview is not None and screen.preview.linted) or app.screen is not screen
            ),
        )
        if app.screen is not screen:
            continue
        assert screen.preview is not None and not screen.preview.blocked, screen.preview
        step = screen.step
        await pilot.press("ctrl+y")
        await wait_for(
            pilot,
            lambda step=step: screen.step != step or isinstance(app.screen, SummaryScreen),
            timeout=60,
        )


async def test_new_launch_from_the_first_screen_to_the_summary(
    template: Path, tmp_path: Path, aws_endpoint: str
) -> None:
    app = _app(tmp_path, template)
    with ecs_agent(aws_endpoint):
        async with app.run_test(size=SIZE) as pilot:
            assert isinstance(app.screen, StartScreen)
            text = screen_text(app)
            assert "The runbook's checklist" in text and "ECS cluster" in text
            await _open_launch(pilot)
            await _confirm_until(pilot, app)
            await wait_for(pilot, lambda: "Airflow is up" in screen_text(app), timeout=60)
            shown = screen_text(app)
            assert "http://airflow-staging-web" in shown
            assert "aws ssm get-parameter --with-decryption" in shown
            assert "airflow-ecs-wizard apply --config" in shown
            assert "Rehearse locally" not in shown  # neither button nor key: not a sandbox

    aws = Aws(AwsSettings(region="us-east-1", endpoint_url=aws_endpoint))
    ecs = aws.client("ecs")
    services = ecs.list_services(cluster="airflow-staging")["serviceArns"]
    assert sorted(arn.rsplit("/", 1)[-1] for arn in services) == [
        f"airflow-staging-{c}"
        for c in ("dag-processor", "flower", "scheduler", "triggerer", "webserver", "worker")
    ]
    balancers = aws.client("elbv2").describe_load_balancers()["LoadBalancers"]
    assert [b["LoadBalancerName"] for b in balancers] == ["airflow-staging-web"]
    parameters = {p["Name"] for p in aws.client("ssm").describe_parameters()["Parameters"]}
    assert "dataplatform.staging.airflow.fernet_key" in parameters
    fernet = aws.client("ssm").get_parameter(
        Name="dataplatform.staging.airflow.fernet_key", WithDecryption=True
    )["Parameter"]["Value"]
    state_path = tmp_path / "launches" / "airflow-staging.state.json"
    state = StateFile.open(state_path)
    assert state.applied_steps() and len(state.applied_steps()) == 12
    assert fernet not in state_path.read_text()
    assert fernet not in shown
    config = load_config(tmp_path / "launches" / "airflow-staging.toml")
    assert config.aws.endpoint_url == aws_endpoint


async def test_an_interrupted_launch_resumes_from_the_start_screen(
    template: Path, tmp_path: Path, aws_endpoint: str
) -> None:
    first = _app(tmp_path, template)
    async with first.run_test(size=SIZE) as pilot:
        screen = await _open_launch(pilot)
        await _confirm_until(pilot, first, stop_before="bootstrap")
        await wait_for(pilot, lambda: not screen.session.running, timeout=60)
        await pilot.press("ctrl+q")  # quits at once: nothing to confirm
    state = StateFile.open(tmp_path / "launches" / "airflow-staging.state.json")
    assert state.applied_steps() == ["account", "network", "iam", "s3_layout"]

    second = _app(tmp_path, template)
    with ecs_agent(aws_endpoint):
        async with second.run_test(size=SIZE) as pilot:
            # the table of launches is drawn after the first frame
            await wait_for(pilot, lambda: "4/12 applied" in screen_text(second), interval=0.5)
            screen = await _open_launch(pilot, "r")
            assert screen.step == "bootstrap"  # the applied steps are behind it
            await _confirm_until(pilot, second)
            await wait_for(pilot, lambda: "Airflow is up" in screen_text(second), timeout=60)
            calls = screen.session.launch().aws.recorder.counts
    assert "s3.CreateBucket" not in calls and "iam.CreateRole" not in calls
    aws = Aws(AwsSettings(region="us-east-1", endpoint_url=aws_endpoint))
    groups = aws.client("ec2").describe_security_groups()["SecurityGroups"]
    names = [g["GroupName"] for g in groups]
    assert names.count("airflow-staging-instances") == 1
    assert len(aws.client("s3").list_buckets()["Buckets"]) == 1


async def test_a_dry_run_walk_previews_everything_and_leaves_the_emulator_unchanged(
    template: Path, tmp_path: Path, aws_endpoint: str
) -> None:
    aws = Aws(AwsSettings(region="us-east-1", endpoint_url=aws_endpoint))
    before = emulator_contents(aws)
    app = _app(tmp_path, template, dry_run=True)
    async with app.run_test(size=SIZE) as pilot:
        assert "DRY RUN" in screen_text(app)
        screen = await _open_launch(pilot)
        banners = 0
        while not isinstance(app.screen, SummaryScreen):
            await wait_for(pilot, lambda: screen.preview is not None and screen.preview.linted)
            banners += "DRY RUN" in screen_text(app)
            await pilot.press("ctrl+y")
            await pilot.pause(0.1)
        await wait_for(pilot, lambda: "Dry run complete" in screen_text(app))
        assert banners == 12
        assert "DRY RUN" in screen_text(app)
        calls = screen.session.launch().aws.recorder
        await pilot.click("#export")
        rendered = tmp_path / "launches" / "airflow-staging-rendered"
        await wait_for(pilot, lambda: (rendered / "manifest.json").exists())
    assert calls.mutating() == {}
    assert emulator_contents(aws) == before
    assert not (tmp_path / "launches" / "airflow-staging.state.json").exists()
    manifest = json.loads((rendered / "manifest.json").read_text())
    assert "bootstrap.sh" in json.dumps(manifest)


async def test_bad_input_shows_the_message_under_the_field_and_blocks_going_on(
    template: Path, tmp_path: Path
) -> None:
    app = _app(tmp_path, template)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open_launch(pilot)
        await screen.show_step("s3_layout")
        await wait_for(pilot, lambda: screen.preview is not None and screen.preview.linted)
        bucket = screen.query_one("#input-s3--bucket")
        bucket.value = "Bad_Bucket!"  # type: ignore[attr-defined]
        await pilot.pause()
        await pilot.press("ctrl+y")
        await pilot.pause(0.2)
        assert screen.step == "s3_layout"
        problem = str(screen.query_one("#problem-s3--bucket").render())
        assert "Bad_Bucket!" in problem
        assert "field-problem" in screen.query_one("#problem-s3--bucket").classes
        assert screen.query_one("#confirm").disabled  # type: ignore[attr-defined]
        await pilot.press("ctrl+y")
        await pilot.pause(0.2)
        assert screen.step == "s3_layout"
    saved = load_config(tmp_path / "launches" / "airflow-staging.toml")
    assert saved.s3.bucket == "acme-dataplatform-airflow"  # the bad value was never saved


async def test_an_aws_error_opens_the_modal_and_retry_applies_the_step(
    template: Path, tmp_path: Path, aws_endpoint: str
) -> None:
    app = _app(tmp_path, template)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open_launch(pilot)
        aws = screen.session.launch().aws
        refusals = refuse(aws, "s3.CreateBucket", "s3:CreateBucket", times=1)
        await _confirm_until(pilot, app, stop_before="bootstrap")
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorModal), timeout=60)
        text = screen_text(app)
        assert "AccessDenied" in text and "Retry" in text and "Quit (state saved)" in text
        await pilot.click("#retry")
        await wait_for(pilot, lambda: "s3_layout" in screen.session.applied(), timeout=60)
    assert refusals == ["CreateBucket"]
    aws = Aws(AwsSettings(region="us-east-1", endpoint_url=aws_endpoint))
    assert [b["Name"] for b in aws.client("s3").list_buckets()["Buckets"]] == [
        "acme-dataplatform-airflow"
    ]


async def test_state_option_resumes_that_launch_at_its_first_open_step(
    template: Path, tmp_path: Path
) -> None:

    state = applied_launch(template, tmp_path / "elsewhere")
    app = WizardApp(WizardOptions(folder=tmp_path / "launches", state=state))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, LaunchScreen))
        screen = app.screen
        assert isinstance(screen, LaunchScreen)
        assert screen.step == "iam"
        await wait_for(pilot, lambda: screen.preview is not None and screen.preview.linted)
        text = screen_text(app)
        assert "Step 3 of 12: Task execution and task roles" in text


async def test_help_and_the_command_palette_list_the_main_actions(tmp_path: Path) -> None:
    app = WizardApp(WizardOptions(folder=tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f1")
        # the help's Markdown is drawn a moment after the modal opens
        await wait_for(pilot, lambda: "ctrl+q" in screen_text(app), interval=0.2)
        assert "Resume" in screen_text(app)
        app.screen.query_one("#help-dialog").scroll_end(animate=False)  # the rest scrolls
        await wait_for(pilot, lambda: "Dry run" in screen_text(app), interval=0.2)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, StartScreen)
        commands = [command.title for command in app.get_system_commands(app.screen)]
        assert {"New launch", "Resume", "Open config", "Help"} <= set(commands)
        await pilot.press("ctrl+q")
    assert app.return_code == 0
