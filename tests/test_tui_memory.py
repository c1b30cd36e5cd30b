"""What the wizard's process holds as the walk goes (issue 10 item 13: at most 150 MiB at the
summary, lint child included): a replaced step form or preview is freed."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path
from typing import Any

from textual.widgets import TabbedContent

from screens.app import WizardApp, WizardOptions
from screens.launch import LaunchScreen
from screens.step_form import StepForm
from tests.test_tui_lint import template  # noqa: F401 (the same seeded template)
from tests.tui_support import wait_for

SIZE = (150, 45)
BOUND = 120.0
"""Each wait's own bound: generous, for a loaded 2-core machine."""


async def _previewed(pilot: Any, screen: LaunchScreen) -> None:
    await wait_for(
        pilot,
        lambda: (
            screen.preview is not None and screen.preview.linted and screen.query(TabbedContent)
        ),
        timeout=BOUND,
    )


async def test_a_replaced_form_or_preview_is_freed(
    template: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Each step replaces the form and the preview's tabs (its files drawn, syntax-highlighted):
    once replaced, nothing may keep them (Textual's `query_one` cache did, on the screen and on
    the preview pane, until 1024 later lookups)."""
    app = WizardApp(WizardOptions(folder=tmp_path / "launches", template=template, dry_run=True))
    replaced: list[tuple[str, weakref.ref[Any]]] = []
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, LaunchScreen), timeout=BOUND)
        screen = app.screen
        assert isinstance(screen, LaunchScreen)
        for _ in range(4):  # account, network, iam, s3 layout: each with files to preview
            step = screen.step
            await _previewed(pilot, screen)
            form = screen.query(StepForm).only_one()
            tabs = screen.query("#preview-tabs").only_one(TabbedContent)
            replaced += [
                (f"{step}'s form", weakref.ref(form)),
                (f"{step}'s preview", weakref.ref(tabs)),
            ]
            screen.action_preview()  # a second preview of the same form replaces the first
            await wait_for(pilot, lambda tabs=tabs: not tabs.is_attached, timeout=BOUND)
            await _previewed(pilot, screen)
            replaced.append(
                (
                    f"{step}'s second preview",
                    weakref.ref(screen.query("#preview-tabs").only_one(TabbedContent)),
                )
            )
            del form, tabs
            await pilot.press("ctrl+y")
            await wait_for(pilot, lambda step=step: screen.step != step, timeout=BOUND)
        await _previewed(pilot, screen)
        await pilot.pause()
        gc.collect()
        alive = [name for name, ref in replaced if ref() is not None]
        assert alive == [], f"still in memory after they were replaced: {alive}"
