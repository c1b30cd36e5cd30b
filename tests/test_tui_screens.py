"""Forms, keys and exits off the happy path (issue 10, items 10 to 12): what the screens say
must be true, at 80x24 as at full size."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.app import App, ComposeResult

from screens.app import WizardApp, WizardOptions
from screens.preview import PreviewPane
from screens.summary import SummaryScreen
from tests.tui_support import screen_text, wait_for
from wizard.config import LaunchConfig
from wizard.config_file import save_config
from wizard.session import Preview, WizardSession
from wizard.steps.base import Action, StepPlan

SIZE = (150, 45)


def _session(tmp_path: Path, example_data: dict[str, Any], *, dry_run: bool) -> WizardSession:
    folder = tmp_path / "launches"
    folder.mkdir()
    config_path = folder / "airflow-staging.toml"
    save_config(LaunchConfig.model_validate(example_data), config_path)
    return WizardSession(LaunchConfig.model_validate(example_data), config_path, dry_run=dry_run)


async def test_the_dry_run_summary_says_what_a_dry_run_is_and_lists_no_created_table(
    tmp_path: Path, example_data: dict[str, Any]
) -> None:
    session = _session(tmp_path, example_data, dry_run=True)
    app = WizardApp(WizardOptions(folder=tmp_path / "launches", dry_run=True))
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(SummaryScreen(session))
        await wait_for(pilot, lambda: "Dry run complete" in screen_text(app), interval=0.2)
        text = screen_text(app)
        assert "What this launch created" not in text  # a dry run created nothing
        assert "creates nothing, changes nothing and writes no state file" in text
        words = " ".join(text.split())
        assert "airflow-staging.state.json (none yet: an apply writes it)" in words
        assert not session.state_path.exists()  # what the screen says is true
        config_line = next(line for line in text.splitlines() if "Config:" in line)
        assert "not saved" not in config_line  # the config is there


class PaneApp(App[None]):
    CSS_PATH = Path(__file__).parent.parent / "screens" / "wizard.tcss"
    CSS = "PreviewPane { width: 100%; }"

    def compose(self) -> ComposeResult:
        yield PreviewPane(id="preview")


async def test_while_the_next_preview_plans_the_previous_steps_actions_are_gone() -> None:
    plan = StepPlan("redis", actions=[Action("create", "elasticache:replication-group", "old")])
    app = PaneApp()
    async with app.run_test(size=(100, 30)) as pilot:
        pane = app.query_one(PreviewPane)
        await pane.show(Preview(plan))
        await wait_for(pilot, lambda: "elasticache:replication-group" in screen_text(app))
        pane.planning()  # the next step's preview is being made
        await pilot.pause()
        text = screen_text(app)
        assert "Planning against the account" in text
        assert "elasticache:replication-group" not in text
        assert "Actions" not in text  # no tab of the previous preview either
        await pane.show(Preview(StepPlan("image", actions=[Action("create", "ecr:repo", "x")])))
        await wait_for(pilot, lambda: "ecr:repo" in screen_text(app))
