"""Pictures of the wizard's screens (pytest-textual-snapshot); update with --snapshot-update.

Each test's docstring says what its picture must show; review a changed picture against it.
The emulator's ids are seeded so the pictures are the same on every run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from screens.app import WizardApp, WizardOptions
from screens.launch import LaunchScreen
from screens.progress import ApplyProgress
from screens.summary import SummaryScreen
from tests.tui_support import half_done_launch, seeded_template, wait_for
from wizard.checklist import CHECKLIST
from wizard.config_file import load_config
from wizard.errors import WizardError
from wizard.runner import StepEvent
from wizard.sandbox import CONSOLE_STACK
from wizard.session import WizardSession
from wizard.state import Resource, StateFile

SIZE = (140, 42)


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in a temporary folder that is also home, so the paths on screen are the same on
    every run (the snapshot plugin runs the app from the test's folder: paths show as ~/…)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


@pytest.fixture
def launched(here: Path, example_data: dict[str, Any]) -> WizardSession:
    """A launch kept in ./launches with a state: some steps applied, one failed, resources."""
    from wizard.config import LaunchConfig

    folder = here / "launches"
    state = half_done_launch(
        folder, LaunchConfig.model_validate(example_data), config_digest="snapshot"
    )
    state.record_resource(
        "network", Resource(kind="ec2:security-group", id="sg-0123456789abcdef0", created=True)
    )
    state.record_resource(
        "s3_layout", Resource(kind="s3:bucket", id="acme-dataplatform-airflow", created=True)
    )
    state.start_step("redis")
    state.fail_step("redis", "replication group airflow-staging is create-failed")
    return WizardSession(
        load_config(folder / "airflow-staging.toml"), folder / "airflow-staging.toml"
    )


@pytest.fixture
def seeded(here: Path, aws_endpoint: str) -> Path:
    """The sandbox's account in the emulator, with the same ids on every run."""
    return seeded_template(aws_endpoint, here, seed=42, console_stack=True)


def _app(folder: Path, **options: Any) -> WizardApp:
    app = WizardApp(WizardOptions(folder=folder, **options))
    # a picture taken while a tab's underline still slides differs from run to run
    app.animation_level = "none"
    return app


async def _launches_drawn(pilot: Any) -> None:
    """The start screen draws its table of launches and its footer after the first frame."""
    await wait_for(
        pilot, lambda: pilot.app.screen.query("#launches") and pilot.app.screen.query("Footer")
    )
    await pilot.pause()


def test_start_screen(snap_compare: Any, launched: WizardSession, here: Path) -> None:
    """The start screen: the intro, the launch `airflow-staging` with "4/12 applied, redis
    failed", the New launch / Resume / Open config buttons, and the runbook's checklist with
    account, network, iam and s3_layout applied (●) and the ElastiCache broker failed (✗)."""
    assert snap_compare(_app(here / "launches"), terminal_size=SIZE, run_before=_launches_drawn)


async def _open_step(pilot: Any, step: str, answers: dict[str, Any] | None = None) -> None:
    app = pilot.app
    await pilot.press("n")
    await wait_for(pilot, lambda: isinstance(app.screen, LaunchScreen))
    screen = app.screen
    if answers:
        screen.session.answer(answers)
    await screen.show_step(step)
    await wait_for(pilot, lambda: screen.preview is not None and screen.preview.linted, timeout=60)
    await wait_for(pilot, lambda: not any(w.display for w in screen.query(".choices-loading")))
    await pilot.pause(0.2)


def test_step_form(snap_compare: Any, seeded: Path, here: Path) -> None:
    """The network step's form: the VPC select list showing "10.0.0.0/16 dataplatform" with
    its id in the text field below, the private and public subnets listed from the account and
    ticked, and the preview's Actions tab listing the checks and the security groups it will
    create; the sidebar marks this step."""

    async def run_before(pilot: Any) -> None:
        await _open_step(pilot, "network")

    app = _app(here / "launches", template=seeded)
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_step_form_at_80x24(snap_compare: Any, seeded: Path, here: Path) -> None:
    """The database step at 80x24, many users' default terminal: no sidebar, but the line
    "airflow-staging: 0 of 12 applied · ctrl+t: all steps"; the form (the mode select showing
    "existing", the RDS instance listed from the account) and the preview ("3 change(s) to
    apply", the Actions tab with the check of staging-rds and the SSM parameters it creates)
    side by side, each about half the width; no buttons (the footer lists their keys) and a
    short progress pane saying "Nothing is applying."."""

    async def run_before(pilot: Any) -> None:
        await _open_step(pilot, "database")

    app = _app(here / "launches", template=seeded)
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_preview_with_a_diff(snap_compare: Any, seeded: Path, here: Path) -> None:
    """The cluster step patching the console-made stack: the preview's tab "diff
    Infra-ECS-Cluster-airflow-console" is open and shows, as a unified diff, the launch
    template's security groups moved onto a network interface with AssociatePublicIpAddress
    false, and the user data that copies bootstrap.sh from S3 and runs it."""
    from textual.widgets import TabbedContent

    async def run_before(pilot: Any) -> None:
        await _open_step(pilot, "cluster", {"cluster.existing_stack": CONSOLE_STACK})
        pilot.app.screen.query_one("#preview-tabs", TabbedContent).active = "tab-diff-0"
        await pilot.pause(0.2)

    app = _app(here / "launches", template=seeded)
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_apply_progress(snap_compare: Any, seeded: Path, here: Path) -> None:
    """Apply progress: "Applying in parallel:" with the Airflow database and the ElastiCache
    broker each on its own line with its last AWS status, and the log pane listing the steps
    that applied, with their times."""

    async def run_before(pilot: Any) -> None:
        await _open_step(pilot, "image")
        progress = pilot.app.screen.query_one(ApplyProgress)
        progress.clock = lambda: 1000.0  # the elapsed times read 0 s however slow the machine
        for event in (
            StepEvent("s3_layout", "started"),
            StepEvent("s3_layout", "applied", elapsed=1.4),
            StepEvent("database", "started"),
            StepEvent("redis", "started"),
            StepEvent("database", "progress", "RDS instance staging-rds: available"),
            StepEvent("redis", "progress", "replication group airflow-staging: creating (0 s)"),
        ):
            progress.record(event)
        await pilot.pause(0.2)

    app = _app(here / "launches", template=seeded)
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_error_modal(snap_compare: Any, launched: WizardSession, here: Path) -> None:
    """The error modal over the start screen: the title "ElastiCache broker: AWS refused:
    AccessDenied", the message, the hint, and the buttons Retry, Skip for now and Quit (state
    saved)."""

    async def run_before(pilot: Any) -> None:
        error = WizardError(
            "An error occurred (AccessDenied) when calling the CreateReplicationGroup "
            "operation: not authorized to perform elasticache:CreateReplicationGroup",
            title="ElastiCache broker: AWS refused: AccessDenied",
            hint="Check the credentials' permissions and the config; any state is saved, so "
            "run the command again when it is fixed (--debug shows the traceback).",
        )
        await _launches_drawn(pilot)
        pilot.app.show_error(error, retry=lambda: None, skip=lambda: None)
        await pilot.pause(0.2)

    assert snap_compare(_app(here / "launches"), terminal_size=SIZE, run_before=run_before)


def test_summary(snap_compare: Any, launched: WizardSession, here: Path) -> None:
    """The summary of a launch whose steps all applied and whose web health check answered:
    "Airflow is up.", the Airflow UI address, "Log in as admin" with the
    `aws ssm get-parameter` command (never the password) on its own line, cut at the right
    edge with a horizontal scrollbar under it (it scrolls, never wraps), the warning that logins
    cross the VPC in cleartext (an internal load balancer without a certificate), the table of
    created resources with console links, the replay command and the ~/launches paths, and the
    config and state paths."""
    assert launched.state_path.exists()
    state = StateFile.open(launched.state_path)
    for step in CHECKLIST:
        if step not in state.applied_steps():
            state.start_step(step)
            state.finish_step(step)
    state.set_outputs(
        "services",
        web_url="http://airflow-staging-web-1.us-east-1.elb.amazonaws.com",
        web_health="healthy",
    )

    async def run_before(pilot: Any) -> None:
        pilot.app.push_screen(SummaryScreen(launched))
        await pilot.pause(0.2)

    assert snap_compare(_app(here / "launches"), terminal_size=SIZE, run_before=run_before)


def test_summary_of_a_launch_that_is_not_up(
    snap_compare: Any, launched: WizardSession, here: Path
) -> None:
    """The summary opened (ctrl+s) on a launch with four steps applied and redis failed:
    "Airflow is not up yet: 4 of 12 steps applied." in the warning colour, no Airflow UI and no
    login, the steps done, failed and pending, what to do next (fix the ElastiCache broker and
    retry or apply headless; confirm the pending steps), then the created resources and the
    replay command."""

    async def run_before(pilot: Any) -> None:
        pilot.app.push_screen(SummaryScreen(launched))
        await pilot.pause(0.2)

    assert snap_compare(_app(here / "launches"), terminal_size=SIZE, run_before=run_before)


def test_the_readme_screenshot_is_the_current_preview_snapshot() -> None:
    """docs/wizard-preview.svg is the preview snapshot above: refresh it by copying
    tests/__snapshots__/test_tui_snapshots/test_preview_with_a_diff.svg over it."""
    root = Path(__file__).parent.parent
    snapshot = root / "tests" / "__snapshots__" / "test_tui_snapshots"
    picture = (snapshot / "test_preview_with_a_diff.svg").read_text()
    assert (root / "docs" / "wizard-preview.svg").read_text() == picture
    assert "docs/wizard-preview.svg" in (root / "README.md").read_text()
