"""When a rehearsal runs a component's health check, without booting Airflow: components are
shell commands here, their checks write down when they ran.

As Docker (and so ECS) runs a container's health check, the first comes `interval` seconds
after the start; a check of an Airflow component costs an `airflow` command's start (~6 s of
CPU), so checking a component that is still starting only slows the others down."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from wizard.config import LaunchConfig
from wizard.rehearse.plan import ContainerPlan
from wizard.rehearse.processes import Container
from wizard.rehearse.run import Rehearsal


def _component(
    rehearsal: Rehearsal, folder: Path, name: str, script: str, check: dict[str, object]
) -> ContainerPlan:
    container = Container(name, ["/bin/sh", "-c", script], {}, folder / f"{name}.log")
    rehearsal.containers[name] = container
    rehearsal.envs[name] = {"PATH": "/usr/bin:/bin"}
    container.start(folder / "r")
    return ContainerPlan(name, name, [], {}, {}, check, None, None)


def _rehearsal(make_config: Callable[..., LaunchConfig], folder: Path) -> Rehearsal:
    (folder / "r").mkdir()
    return Rehearsal(make_config(), folder=folder / "r", report=lambda _: None)


def test_the_first_check_runs_an_interval_after_the_start(
    make_config: Callable[..., LaunchConfig], tmp_path: Path
) -> None:
    rehearsal = _rehearsal(make_config, tmp_path)
    ran = tmp_path / "checks"
    check = {
        "command": ["CMD-SHELL", f"date +%s.%N >> {ran}"],
        "interval": 3,
        "timeout": 10,
        "retries": 3,
        "startPeriod": 0,
    }
    plan = _component(rehearsal, tmp_path, "scheduler", "sleep 60", check)
    try:
        row = rehearsal._wait_healthy(plan)
        started = rehearsal.containers["scheduler"].started_at
    finally:
        rehearsal.stop()
    assert (row.health, row.ok) == ("healthy", True)
    [first] = [float(line) for line in ran.read_text().split()]
    # the clock of `date` against the monotonic start: compare the delay through wall time
    delay = first - (time.time() - (time.monotonic() - started))
    assert delay >= 2.5, f"the first check ran {delay:.1f} s after the start"


def test_an_exit_before_the_first_check_is_noticed_at_once_and_runs_no_check(
    make_config: Callable[..., LaunchConfig], tmp_path: Path
) -> None:
    """A wrong command exits at once: its row says so within seconds, not an interval later,
    and no check ran on a component that was never up."""
    rehearsal = _rehearsal(make_config, tmp_path)
    ran = tmp_path / "checks"
    check = {
        "command": ["CMD-SHELL", f"echo ran >> {ran}"],
        "interval": 30,
        "timeout": 10,
        "retries": 3,
        "startPeriod": 120,
    }
    plan = _component(rehearsal, tmp_path, "flower", "sleep 1; exit 3", check)
    try:
        row = rehearsal._wait_healthy(plan)
    finally:
        rehearsal.stop()
    assert (row.health, row.ok) == ("exited 3", False)
    assert row.seconds < 15, row
    assert not ran.exists()
