"""Failures off the happy path reach the user: the error dialog with its hint, or a notice.

Textual's `Worker.StateChanged` does not bubble, so a screen's worker failing was once lost: the
preview said "Planning against the account…" for ever. These tests start the app as a user
would and assert on what the screen shows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from screens.app import WizardApp, WizardOptions
from screens.launch import LaunchScreen
from screens.modals import ErrorModal
from tests.services import free_port
from tests.tui_support import (
    applied_launch,
    launch_screen,
    refuse,
    screen_text,
    seeded_template,
    wait_for,
)

SIZE = (150, 45)


async def _new_launch(pilot: Any) -> LaunchScreen:
    """Press New launch; the launch's screen (an error dialog may be over it already)."""
    await pilot.press("n")
    return await launch_screen(pilot)


async def _error_shown(pilot: Any) -> str:
    """Wait for the error dialog; its text."""
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, ErrorModal), timeout=60)
    await wait_for(pilot, lambda: "Quit (state saved)" in screen_text(app))  # drawn
    return screen_text(app)


async def test_without_credentials_the_preview_opens_the_error_dialog_with_its_hint(
    offline: None, tmp_path: Path, example_path: Path
) -> None:
    app = WizardApp(WizardOptions(folder=tmp_path / "launches", template=example_path))
    async with app.run_test(size=SIZE) as pilot:
        screen = await _new_launch(pilot)
        text = await _error_shown(pilot)
        assert "No AWS credentials" in text
        assert "Unable to locate credentials" in text
        assert "airflow-ecs-wizard --sandbox" in text  # the hint: what to do
        assert "Retry" in text
        await pilot.click("#retry")  # fails again: the dialog opens again
        await pilot.pause()
        text = await _error_shown(pilot)
        assert "No AWS credentials" in text
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)
        assert "No preview: No AWS credentials" in screen_text(app)
        assert "Planning against the account" not in screen_text(app)
        await pilot.press("ctrl+r")  # the user asks again: the dialog says it again
        text = await _error_shown(pilot)
        assert "No AWS credentials" in text


async def test_an_endpoint_that_is_gone_opens_the_error_dialog(
    aws_endpoint: str, tmp_path: Path
) -> None:
    template = seeded_template(aws_endpoint, tmp_path)
    gone = f"http://127.0.0.1:{free_port()}"
    template.write_text(template.read_text().replace(aws_endpoint, gone))
    app = WizardApp(WizardOptions(folder=tmp_path / "launches", template=template))
    async with app.run_test(size=SIZE) as pilot:
        await _new_launch(pilot)
        text = await _error_shown(pilot)
    assert "AWS does not answer" in text
    assert f"Nothing answered at {gone}" in text


async def test_access_denied_in_a_preview_opens_the_dialog_and_retry_shows_the_preview(
    aws_endpoint: str, tmp_path: Path
) -> None:
    template = seeded_template(aws_endpoint, tmp_path)
    app = WizardApp(WizardOptions(folder=tmp_path / "launches", template=template))
    async with app.run_test(size=SIZE) as pilot:
        screen = await _new_launch(pilot)
        await wait_for(pilot, lambda: screen.preview is not None and screen.preview.linted)
        refused = refuse(screen.session.launch().aws, "iam.GetRole", "iam:GetRole", times=1)
        await screen.show_step("iam")
        text = await _error_shown(pilot)
        assert "AWS refused: AccessDenied" in text and "GetRole operation" in text
        assert "Check the credentials' permissions" in text
        await pilot.click("#retry")
        await wait_for(
            pilot,
            lambda: screen.preview is not None and screen.preview.linted and screen.step == "iam",
        )
        assert app.screen is screen
        assert not screen.preview.blocked
    assert refused == ["GetRole"]


async def test_access_denied_in_discover_says_to_type_the_values_and_the_preview_follows(
    aws_endpoint: str, tmp_path: Path
) -> None:
    template = seeded_template(aws_endpoint, tmp_path)
    app = WizardApp(WizardOptions(folder=tmp_path / "launches", template=template))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = await _new_launch(pilot)
        await wait_for(pilot, lambda: screen.preview is not None and screen.preview.linted)
        refuse(screen.session.launch().aws, "s3.ListBuckets", "s3:ListAllMyBuckets")
        await screen.show_step("s3_layout")
        await wait_for(pilot, lambda: "Choices are not listed" in screen_text(app), interval=0.5)
        text = screen_text(app)
        assert "AccessDenied" in text and "type the values" in text
        await wait_for(pilot, lambda: screen.preview is not None and screen.preview.linted)
        assert not isinstance(app.screen, ErrorModal)
        assert screen.preview.plan.step == "s3_layout"


async def test_the_summary_of_a_half_done_launch_says_it_is_not_up_and_what_to_do(
    aws_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:

    monkeypatch.setenv("AIRFLOW_ECS_WIZARD_WAIT_SCALE", "0")
    state = applied_launch(seeded_template(aws_endpoint, tmp_path), tmp_path / "launches")
    app = WizardApp(WizardOptions(folder=tmp_path / "launches", state=state))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, LaunchScreen))
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "What to do next" in screen_text(app), interval=0.5)
        text = screen_text(app)
    assert "Airflow is up" not in text
    assert "Airflow is not up yet: 2 of 12 steps applied." in text
    assert "done     AWS account, VPC, subnets and security groups" in text
    assert "Preview and confirm the pending steps (Task execution and task roles first)" in text
