"""A plan tells apart what apply does by itself (actions), what it does only with the user's
consent (changes to what the launch does not own), and what only the user can do (problems),
in the headless `plan` and in the TUI's preview (issue 10, item 8).

Before, opening the RDS instance's security group (which the same plan adds) was counted among
the "problem(s) to fix first".
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path
from typing import Any

import pytest
from textual.containers import VerticalScroll
from textual.widgets import Static

from screens.app import WizardApp, WizardOptions
from screens.launch import LaunchScreen
from tests.network_fixtures import Seeded
from tests.tui_support import screen_text, seeded_template, wait_for
from wizard.cli import main
from wizard.config import LaunchConfig
from wizard.config_file import save_config

CONSENT = "RDS instance staging-rds does not admit the cluster's instances on port 5432"


def _plan_output(config_path: Path) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["plan", "--config", str(config_path)])
    return code, out.getvalue() + err.getvalue()


def test_the_headless_plan_counts_consents_apart_from_problems(
    config: LaunchConfig, seeded: Seeded, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # one line per entry
    config_path = tmp_path / "launch.toml"
    save_config(config, config_path)
    code, output = _plan_output(config_path)
    assert code == 0, output
    lines = output.splitlines()
    (consent,) = [line for line in lines if line.strip().startswith("consent ")]
    assert CONSENT in consent
    assert f"the wizard adds an inbound rule to {seeded.rds_group}" in consent
    problems = [line for line in lines if line.strip().startswith("problem ")]
    assert problems  # the example config has what only the user can fix (no image pushed...)
    assert not [line for line in problems if "does not admit" in line]
    # the action the consent is about is listed with what apply does
    assert any(
        line.strip().startswith("update") and f"{seeded.rds_group}: tcp 5432" in line
        for line in lines
    )
    total = lines[-1]
    match = re.fullmatch(
        r"(\d+) change\(s\) to apply; 1 of them need your consent \(to what this launch does "
        r"not own: confirm when apply asks, or run apply --yes\); (\d+) problem\(s\) only you "
        r"can fix, first",
        total,
    )
    assert match, total
    assert int(match.group(2)) == len(problems)


async def test_the_preview_shows_a_consent_apart_and_confirming_gives_it(
    aws_endpoint: str, tmp_path: Path
) -> None:
    """The sandbox's account: its database's security group belongs to someone else."""
    template = seeded_template(aws_endpoint, tmp_path)
    app = WizardApp(WizardOptions(folder=tmp_path / "launches", template=template))
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, LaunchScreen))
        screen: Any = app.screen
        await wait_for(pilot, lambda: screen.preview is not None)
        await screen.show_step("network")
        await wait_for(pilot, lambda: screen.preview is not None and screen.step == "network")
        preview = screen.preview
        (consent,) = preview.plan.consents
        assert "does not admit the cluster's instances on port 5432" in consent
        assert not preview.blocked  # not a problem: the user can confirm it
        status = screen.query_one("#preview-status", Static)
        await wait_for(pilot, lambda: "with your consent to 1 below" in str(status.content))
        assert "change(s) to apply. Confirm to apply them" in str(status.content)

        def actions_text() -> str:
            return str(screen.query_one("#tab-actions Static", Static).content)

        await wait_for(pilot, lambda: "ec2:security-group" in actions_text())  # the new tabs
        actions = actions_text()
        assert re.search(r"^consent\s+RDS instance \S+ does not admit", actions, re.M), actions
        assert "a group this launch does not own" in actions
        assert not re.search(r"^problem\s+RDS instance", actions, re.M)
        # and the user sees it, below the actions
        screen.query_one("#tab-actions VerticalScroll", VerticalScroll).scroll_end(animate=False)
        pattern = re.compile(r"consent\s+RDS instance \S+ does not admit")
        await wait_for(pilot, lambda: pattern.search(screen_text(app)), interval=0.2)
        assert not re.search(r"problem\s+RDS instance", screen_text(app))
