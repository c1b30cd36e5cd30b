"""Forms, keys and exits off the happy path (issue 10, items 10 to 12): what the screens say
must be true, at 80x24 as at full size."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.app import App, ComposeResult

from screens.app import WizardApp, WizardOptions
from screens.launch import LaunchScreen
from screens.preview import PreviewPane
from screens.progress import ApplyProgress
from screens.summary import SummaryScreen
from tests.tui_support import half_done_launch, launch_screen, screen_text, wait_for
from wizard.config import LaunchConfig
from wizard.config_file import save_config
from wizard.runner import StepEvent
from wizard.session import Preview, WizardSession
from wizard.steps.base import Action, StepPlan

SIZE = (150, 45)


def _config(example_data: dict[str, Any], endpoint: str | None = None) -> LaunchConfig:
    """The example launch, talking to `endpoint` when given."""
    if endpoint is None:
        return LaunchConfig.model_validate(example_data)
    aws = {**example_data["aws"], "endpoint_url": endpoint}
    return LaunchConfig.model_validate({**example_data, "aws": aws})


def _session(
    tmp_path: Path, example_data: dict[str, Any], *, dry_run: bool, endpoint: str | None = None
) -> WizardSession:
    """A new launch of the example, its config saved in ./launches."""
    config = _config(example_data, endpoint)
    config_path = tmp_path / "launches" / "airflow-staging.toml"
    config_path.parent.mkdir()
    save_config(config, config_path)
    return WizardSession(config, config_path, dry_run=dry_run)


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


def _half_done(tmp_path: Path, example_data: dict[str, Any], endpoint: str) -> Path:
    """A launch in ./launches with four steps applied; its state file."""
    return half_done_launch(tmp_path / "launches", _config(example_data, endpoint)).path


def _resumed(
    tmp_path: Path, example_data: dict[str, Any], endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, WizardApp]:
    """The wizard started with `--state` on a half-done launch, from `tmp_path`."""
    monkeypatch.chdir(tmp_path)
    state = _half_done(tmp_path, example_data, endpoint)
    return state, WizardApp(WizardOptions(folder=tmp_path / "launches", state=state))


async def test_ctrl_q_on_a_half_done_launch_leaves_the_commands_that_resume_it(
    tmp_path: Path,
    example_data: dict[str, Any],
    aws_endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state, app = _resumed(tmp_path, example_data, aws_endpoint, monkeypatch)
    async with app.run_test(size=SIZE) as pilot:
        await launch_screen(pilot)
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: app.return_code is not None)
    assert app.return_code == 0
    lines = app.farewell.splitlines()
    assert lines[0] == "The launch airflow-staging is saved, 4 of 12 steps applied."
    assert "  airflow-ecs-wizard --state launches/airflow-staging.state.json" in lines
    assert (
        "  airflow-ecs-wizard apply --config launches/airflow-staging.toml "
        "--state launches/airflow-staging.state.json --yes"
    ) in lines
    # each command, as printed, names files that are there
    assert (tmp_path / "launches" / "airflow-staging.toml").exists() and state.exists()


async def test_ctrl_q_on_the_start_screen_prints_nothing(tmp_path: Path) -> None:
    app = WizardApp(WizardOptions(folder=tmp_path / "launches"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: app.return_code is not None)
    assert app.farewell == ""


def test_after_ctrl_q_the_terminal_keeps_the_resume_commands(
    tmp_path: Path, example_data: dict[str, Any], aws_endpoint: str
) -> None:
    """In a real terminal (tmux): the commands are printed once the full screen is gone."""
    import os
    import sys

    from tests.terminal import terminal, tmux_path

    if tmux_path() is None:
        pytest.fail("tmux is not installed (apt-get install -y tmux)")
    state = _half_done(tmp_path, example_data, aws_endpoint)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}  # this tree's code
    command = [sys.executable, "-m", "wizard.cli", "--state", str(state)]
    with terminal(command, width=120, height=30, env=env, cwd=tmp_path) as term:
        term.wait_for_text("Step 5 of 12", timeout=60)
        term.send("C-q")
        assert term.wait_for_exit(timeout=30) == 0
        printed = term.last_screen
    assert "The launch airflow-staging is saved, 4 of 12 steps applied." in printed
    assert "airflow-ecs-wizard --state launches/airflow-staging.state.json" in printed
    assert (
        "airflow-ecs-wizard apply --config launches/airflow-staging.toml "
        "--state launches/airflow-staging.state.json --yes"
    ) in printed


def test_a_sandbox_launch_is_resumed_through_the_sandbox(
    tmp_path: Path, example_data: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sandbox launch's endpoint lives only while a sandbox runs: the commands start one."""
    from screens.farewell import farewell

    monkeypatch.chdir(tmp_path)
    state = _half_done(tmp_path, example_data, "http://127.0.0.1:5999")
    session = WizardSession(_config(example_data), state.with_name("airflow-staging.toml"))
    lines = farewell(session, sandbox=True, sandbox_folder=tmp_path / "my sandbox").splitlines()
    assert "  airflow-ecs-wizard --sandbox --folder 'my sandbox'" in lines
    assert "  airflow-ecs-wizard sandbox --folder 'my sandbox'" in lines
    assert lines[-1].startswith("  airflow-ecs-wizard apply --config launches/airflow-staging.toml")
    assert farewell(WizardSession(session.config, session.config_path, dry_run=True)) == ""


async def test_the_replay_command_stays_whole_on_one_line_and_copies(
    tmp_path: Path, example_data: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 80 columns the command is wider than the screen: it scrolls sideways on its own
    line, never wrapped mid-argument, and `c` puts it whole on the clipboard."""
    from textual.containers import ScrollableContainer

    monkeypatch.chdir(tmp_path)
    session = _session(tmp_path, example_data, dry_run=True)
    command = (
        "airflow-ecs-wizard apply --config launches/airflow-staging.toml "
        "--state launches/airflow-staging.state.json --yes"
    )
    assert len(command) > 80
    app = WizardApp(WizardOptions(folder=tmp_path / "launches", dry_run=True))
    async with app.run_test(size=(80, 24)) as pilot:
        app.push_screen(SummaryScreen(session))
        await wait_for(pilot, lambda: "airflow-ecs-wizard apply" in screen_text(app), interval=0.2)
        rows = screen_text(app).splitlines()
        row = next(i for i, line in enumerate(rows) if "airflow-ecs-wizard apply" in line)
        assert "--state" not in rows[row + 1]  # not wrapped onto the next line
        assert ".state.json" not in rows[row + 1]
        line = next(
            c for c in app.screen.query(ScrollableContainer) if c.max_scroll_x > 0 and c.region
        )
        line.scroll_to(x=line.max_scroll_x, animate=False)
        await pilot.pause()
        assert screen_text(app).splitlines()[row].rstrip().endswith("--yes")
        await pilot.press("c")
        await pilot.pause()
        assert app.clipboard == command


class ProgressApp(App[None]):
    CSS_PATH = Path(__file__).parent.parent / "screens" / "wizard.tcss"
    CSS = "ApplyProgress { height: 20; }"

    def compose(self) -> ComposeResult:
        yield ApplyProgress(id="progress")


async def test_a_waiting_line_is_logged_once_with_a_counter_and_its_elapsed_time() -> None:
    from textual.widgets import RichLog

    app = ProgressApp()
    async with app.run_test(size=(120, 24)) as pilot:
        progress = app.query_one(ApplyProgress)
        now = [1000.0]
        progress.clock = lambda: now[0]
        progress.record(StepEvent("redis", "started"))
        for second in range(0, 150, 5):  # every 5 s for 150 s: 30 reports
            now[0] = 1000.0 + second
            progress.record(
                StepEvent("redis", "progress", f"replication group a: creating ({second} s)")
            )
            progress.record(StepEvent("services", "progress", "waiting for container instances"))
        await pilot.pause()
        text = screen_text(app)
        assert text.count("replication group a: creating") == 2  # the log, the running line
        assert text.count("waiting for container instances") == 2
        log = "\n".join(line.text for line in app.query_one("#log", RichLog).lines)
        assert log.count("replication group a: creating") == 1
        assert "(0 s)" not in log  # the elapsed time is the running line's, kept current
        assert "replication group a: creating (30 times, for 145 s)" in text
        now[0] = 1160.0  # the running line keeps counting between reports
        progress.record(StepEvent("redis", "progress", "replication group a: available (160 s)"))
        await pilot.pause()
        log = "\n".join(line.text for line in app.query_one("#log", RichLog).lines)
        assert "replication group a: available" in log  # news is logged
        assert "replication group a: available (" not in screen_text(app)  # news, no repeat


async def test_at_80x24_the_sidebar_folds_into_a_true_line_and_the_form_has_room(
    tmp_path: Path,
    example_data: dict[str, Any],
    aws_endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from wizard.state import StateFile

    state_path, app = _resumed(tmp_path, example_data, aws_endpoint, monkeypatch)
    state = StateFile.open(state_path)
    state.start_step("redis")
    state.fail_step("redis", "replication group airflow-staging is create-failed")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await launch_screen(pilot)
        await wait_for(pilot, lambda: "Step 5 of 12" in screen_text(app), interval=0.2)
        await wait_for(pilot, lambda: "^y Confirm" in screen_text(app), interval=0.2)
        text = screen_text(app)
        # what the folded sidebar says is what the state holds
        assert "airflow-staging: 4 of 12 applied, 1 failed · ctrl+t: all steps" in text
        assert sorted(screen.session.applied()) == ["account", "iam", "network", "s3_layout"]
        assert "Task execution and task roles" not in text  # the sidebar is folded away
        assert screen.query_one("#form-holder").size.width >= 30  # was 17 beside the sidebar
        assert screen.query_one(PreviewPane).size.width >= 30
        assert screen.query_one("StepForm").size.height >= 8  # was 5 under the buttons
        assert "Confirm and apply" not in text  # the buttons gave way to their keys (footer)
        await pilot.press("ctrl+t")  # what the line promises
        await wait_for(pilot, lambda: "Task execution and task roles" in screen_text(app))
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: "Task execution and task roles" not in screen_text(app))


async def test_at_full_size_the_sidebar_stays(
    tmp_path: Path, example_data: dict[str, Any], aws_endpoint: str
) -> None:
    from wizard.steps import STEPS

    app = WizardApp(WizardOptions(folder=tmp_path / "launches"))
    async with app.run_test(size=(140, 42)) as pilot:
        session = _session(tmp_path, example_data, dry_run=True, endpoint=aws_endpoint)
        await app.push_screen(LaunchScreen(session))
        await wait_for(pilot, lambda: "Step 1 of 12" in screen_text(app), interval=0.2)
        text = screen_text(app)
        assert all(step.title in text for step in STEPS.values())
        assert "ctrl+t: all steps" not in text


async def test_steps_6_7_and_12_open_at_their_first_field(
    aws_endpoint: str, tmp_path: Path
) -> None:
    """Arriving from the previous step with its last field focused (a user who edited it and
    pressed ctrl+y), the next form opens at its top: its first field's label is on screen."""
    from screens.step_form import StepForm
    from tests.tui_support import seeded_template
    from wizard.questions import questions

    template = seeded_template(aws_endpoint, tmp_path)
    app = WizardApp(WizardOptions(folder=tmp_path / "launches", template=template, dry_run=True))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, LaunchScreen))
        screen = app.screen
        assert isinstance(screen, LaunchScreen)
        for before, step in (
            ("bootstrap", "database"),
            ("database", "redis"),
            ("task_definitions", "services"),
        ):
            await screen.show_step(before)
            # confirmed only once linted (before, ctrl+y asks for the preview again)
            await wait_for(
                pilot, lambda: screen.preview is not None and screen.preview.linted, timeout=120
            )
            form = screen.query_one(StepForm)
            fields = [w for w in form.query("Input, Select, Switch") if w.focusable]
            fields[-1].focus()  # the previous form scrolled to its end
            await pilot.pause()
            await pilot.press("ctrl+y")
            await wait_for(
                pilot, lambda s=step: screen.step == s and screen.preview is not None, timeout=60
            )
            await pilot.pause(0.3)  # the choices listed from the account are in
            form = screen.query_one(StepForm)
            assert form.scroll_y == 0, step
            first = questions(step)[0].label
            assert first in screen_text(app), (step, first)


async def test_the_password_command_is_whole_on_its_own_line(
    tmp_path: Path, example_data: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Airflow is up: the command that fetches the Admin password is one line that scrolls
    sideways (copied from a terminal, a wrapped command breaks mid-argument)."""
    from wizard.checklist import CHECKLIST
    from wizard.state import StateFile

    monkeypatch.chdir(tmp_path)
    state_path = _half_done(tmp_path, example_data, "http://127.0.0.1:1")
    state = StateFile.open(state_path)
    for step in CHECKLIST:
        if step not in state.applied_steps():
            state.start_step(step)
            state.finish_step(step)
    state.set_outputs(
        "services", web_url="http://internal-web.elb.amazonaws.com", web_health="healthy"
    )
    session = WizardSession(_config(example_data), state_path.with_name("airflow-staging.toml"))
    summary = session.summary()
    assert summary is not None and summary.up and len(summary.password_command) > 80
    app = WizardApp(WizardOptions(folder=tmp_path / "launches"))
    async with app.run_test(size=(80, 24)) as pilot:
        app.push_screen(SummaryScreen(session))
        await wait_for(pilot, lambda: "Airflow is up." in screen_text(app), interval=0.2)
        rows = screen_text(app).splitlines()
        row = next(i for i, line in enumerate(rows) if "aws ssm get-parameter" in line)
        assert "--output text" not in rows[row + 1]  # not wrapped onto the next line
        line = app.screen.query_one("#password-line")
        line.scroll_to(x=line.max_scroll_x, animate=False)
        await pilot.pause()
        assert screen_text(app).splitlines()[row].rstrip().endswith("--output text")


async def test_quit_from_the_error_dialog_also_leaves_the_resume_commands(
    tmp_path: Path,
    example_data: dict[str, Any],
    aws_endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from screens.modals import ErrorModal
    from wizard.errors import WizardError

    _, app = _resumed(tmp_path, example_data, aws_endpoint, monkeypatch)
    async with app.run_test(size=SIZE) as pilot:
        await launch_screen(pilot)
        app.show_error(WizardError("AWS refused", title="Refused"), retry=lambda: None)
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorModal))
        await wait_for(pilot, lambda: "Quit (state saved)" in screen_text(app), interval=0.2)
        await pilot.click("#quit")
        await wait_for(pilot, lambda: app.return_code is not None)
    assert app.return_value == 1  # run_wizard's exit status
    assert "  airflow-ecs-wizard --state launches/airflow-staging.state.json" in app.farewell
