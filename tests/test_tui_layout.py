"""What the screens show off the happy path's defaults: long lines, stale previews, keys with
nothing to act on."""

from __future__ import annotations

from pathlib import Path

from textual.app import App, ComposeResult
from textual.containers import ScrollableContainer

from screens.app import WizardApp, WizardOptions
from screens.preview import PreviewPane
from tests.tui_support import screen_text, wait_for
from wizard.session import Preview
from wizard.steps.base import Action, StepPlan

LONG = (
    "aws s3 cp s3://acme-dataplatform-airflow/airflow/staging/bootstrap/bootstrap.sh "
    + ("/opt/bootstrap.sh && bash /opt/bootstrap.sh --with-a-very-long-argument " * 4)
    + "THE-END"
)


class PaneApp(App[None]):
    CSS_PATH = Path(__file__).parent.parent / "screens" / "wizard.tcss"
    CSS = "PreviewPane { width: 100%; }"  # alone on the screen, not beside a form

    def compose(self) -> ComposeResult:
        yield PreviewPane(id="preview")


async def test_a_long_line_in_a_preview_scrolls_sideways_to_its_end() -> None:
    plan = StepPlan(
        "cluster",
        actions=[Action("update", "cloudformation:stack", "airflow-console", LONG, diff=LONG)],
        artifacts={"user-data.sh": f"#!/bin/bash\n{LONG}\n"},
    )
    app = PaneApp()
    async with app.run_test(size=(100, 30)) as pilot:
        pane = app.query_one(PreviewPane)
        await pane.show(Preview(plan))
        await pilot.pause()
        tabs = pane.query_one("#preview-tabs")
        tabs.active = "tab-file-0"  # type: ignore[attr-defined]
        await pilot.pause()
        code = pane.query_one("#tab-file-0 ScrollableContainer", ScrollableContainer)
        assert "THE-END" not in screen_text(app)
        assert code.max_scroll_x > 0  # the line is whole, wider than the pane
        code.scroll_to(x=code.max_scroll_x, animate=False)
        await pilot.pause()
        assert "THE-END" in screen_text(app)


async def test_r_with_nothing_to_resume_says_so(tmp_path: Path) -> None:
    app = WizardApp(WizardOptions(folder=tmp_path / "launches"))
    async with app.run_test(size=(150, 45), notifications=True) as pilot:
        await pilot.press("r")
        await wait_for(pilot, lambda: "Nothing to resume" in screen_text(app), interval=0.5)
        assert "Press n to start one" in screen_text(app)
