"""The end-to-end walk's waits (tests/terminal.py) under load: each wait has its own generous
bound, whatever the waits before it took (issue 10 item 15: the twelve-step walk shared one
45 s budget, so a slow cluster preview left the next step 5 s)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from tests import terminal
from tests.terminal import (
    PLANNING,
    PREVIEW_READY,
    STEP_TITLES,
    SUMMARY,
    SUMMARY_SECONDS,
    WAIT_SECONDS,
    drive_sandbox_launch,
)

SLOW_WAIT = 40.0
"""What each wait takes on the scripted slow machine (seconds of its clock)."""


class SlowClock:
    """`time` for tests/terminal.py: every wait moves it on by `SLOW_WAIT`."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


class ScriptedTerminal:
    """A terminal on a slow machine that shows each step planning, then ready, then the next
    step once confirmed; it records the bound of every wait."""

    def __init__(self, clock: SlowClock) -> None:
        self.clock = clock
        self.step = 0
        self.bounds: list[tuple[str, float]] = []

    def _screen(self, *, planning: bool) -> str:
        if self.step == 0:
            return "Sandbox ready"
        if self.step > len(STEP_TITLES):
            return f"Summary\n{SUMMARY}"
        status = PLANNING if planning else PREVIEW_READY[0]
        return f"Step {self.step} of {len(STEP_TITLES)}: {STEP_TITLES[self.step - 1]}\n{status}"

    def wait_for(
        self,
        condition: Callable[[str], bool],
        what: str,
        *,
        timeout: float = 30.0,
        fail_on: Sequence[str] = (),
    ) -> str:
        self.bounds.append((what, timeout))
        self.clock.now += SLOW_WAIT
        for screen in (self._screen(planning=True), self._screen(planning=False)):
            if condition(screen):
                return screen
        raise AssertionError(f"the script never shows {what}")

    def wait_for_text(
        self, text: str, *, timeout: float = 30.0, fail_on: Sequence[str] = ()
    ) -> str:
        return self.wait_for(lambda screen: text in screen, repr(text), timeout=timeout)

    def send(self, *keys: str) -> None:
        self.step += 1  # "n" opens step 1; each C-y confirms and shows the next step


def test_each_wait_of_the_walk_has_its_own_generous_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = SlowClock()
    monkeypatch.setattr(terminal, "time", clock)
    term = ScriptedTerminal(clock)

    summary = drive_sandbox_launch(term)  # type: ignore[arg-type]

    assert SUMMARY in summary
    assert len(term.bounds) == 2 + 2 * len(STEP_TITLES)  # ready, 12 x (preview, next), summary
    assert WAIT_SECONDS >= 120
    for what, bound in term.bounds:
        assert bound >= WAIT_SECONDS, f"{what} waited at most {bound:.0f} s"
    assert dict(term.bounds)[f"{SUMMARY!r}"] >= SUMMARY_SECONDS
