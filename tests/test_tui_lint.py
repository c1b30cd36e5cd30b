"""The preview's lint in the lint process, driven with Pilot: the plan shows before the linters
are done, their findings follow, and a lint process that dies is reported on screen.

The lint process runs the real linters held at a gate (tests/lint_gates.py), so the test sees
the screen while lint is running, and can end the process in the middle of its work.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

from screens.app import WizardApp, WizardOptions
from screens.launch import LaunchScreen
from tests.lint_gates import gated, started
from tests.tui_support import screen_text, seeded_template, wait_for
from wizard.lint_pool import LintPool

SIZE = (150, 45)
BOUND = 120.0
"""Every wait's own bound: generous, for a loaded 2-core machine."""


@pytest.fixture
def template(aws_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AIRFLOW_ECS_WIZARD_WAIT_SCALE", "0")
    return seeded_template(aws_endpoint, tmp_path)


async def _gated_bootstrap(pilot: Any, gate: Path) -> LaunchScreen:
    """A new launch on its bootstrap step, linted by a gated lint process, planned."""
    app = pilot.app
    await pilot.press("n")
    await wait_for(pilot, lambda: isinstance(app.screen, LaunchScreen), timeout=BOUND)
    screen = app.screen
    assert isinstance(screen, LaunchScreen)
    screen.session.lints = LintPool(gated(gate))
    await screen.show_step("bootstrap")
    await wait_for(
        pilot,
        lambda: screen.preview is not None and screen.step == "bootstrap",
        timeout=BOUND,
    )
    return screen


async def test_the_preview_shows_before_lint_and_the_findings_follow(
    template: Path, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    gate.mkdir()
    app = WizardApp(WizardOptions(folder=tmp_path / "launches", template=template))
    async with app.run_test(size=SIZE) as pilot:
        screen = await _gated_bootstrap(pilot, gate)
        notes: list[str] = []
        notify = screen.notify

        def noted(message: str, **options: Any) -> None:
            notes.append(message)
            notify(message, **options)

        screen.notify = noted  # type: ignore[method-assign]
        try:
            await wait_for(pilot, lambda: started(gate), timeout=BOUND)
            assert screen.preview is not None and not screen.preview.linted
            # the plan and its files are on screen already (drawn a moment after the preview)
            await wait_for(
                pilot,
                lambda: all(t in screen_text(app) for t in ("linting the files", "bootstrap.sh")),
                timeout=BOUND,
                interval=0.2,
            )
            assert screen.query_one("#confirm").disabled  # type: ignore[attr-defined]
            await pilot.press("ctrl+y")  # too early: the step stays, and says why
            await wait_for(
                pilot, lambda: any("still being linted" in n for n in notes), timeout=BOUND
            )
            assert screen.step == "bootstrap"

            (gate / "open").touch()
            await wait_for(
                pilot, lambda: screen.preview is not None and screen.preview.linted, timeout=BOUND
            )
            await pilot.pause()
            text = screen_text(app)
            assert "change(s) to apply. Confirm to apply them." in text, text
            assert "linting the files" not in text
            assert not screen.query_one("#confirm").disabled  # type: ignore[attr-defined]
            linted = screen.session.lints.runs

            # the same form again: the same files, whose report is cached
            await pilot.press("ctrl+r")
            await wait_for(
                pilot, lambda: screen.preview is not None and screen.preview.linted, timeout=BOUND
            )
            assert screen.session.lints.runs == linted
        finally:
            (gate / "open").touch()


async def test_a_lint_process_that_dies_is_reported_on_screen(
    template: Path, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    gate.mkdir()
    app = WizardApp(WizardOptions(folder=tmp_path / "launches", template=template))
    async with app.run_test(size=SIZE) as pilot:
        screen = await _gated_bootstrap(pilot, gate)
        try:
            await wait_for(pilot, lambda: started(gate), timeout=BOUND)
            os.kill(started(gate)[0], signal.SIGKILL)
            await wait_for(
                pilot, lambda: screen.preview is not None and screen.preview.linted, timeout=BOUND
            )
            await pilot.pause()
            text = screen_text(app)
            assert "Blocked: fix the problems below" in text, text
            assert "the lint process stopped before it finished" in text, text
            assert screen.query_one("#confirm").disabled  # type: ignore[attr-defined]
        finally:
            (gate / "open").touch()
