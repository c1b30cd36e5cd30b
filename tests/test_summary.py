"""The summary tells the truth: "Airflow is up" only when every step applied and the web
health check answered; otherwise how far the launch is and what to do next."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from wizard.checklist import CHECKLIST
from wizard.config import LaunchConfig
from wizard.state import StateFile
from wizard.summary import LaunchSummary, summarize


def _summary(
    config: LaunchConfig,
    tmp_path: Path,
    applied: list[str],
    *,
    web_health: str = "",
    statuses: dict[str, str] | None = None,
) -> LaunchSummary:
    state = StateFile.create(
        tmp_path / "s.state.json",
        launch=config.name,
        account_id="123456789012",
        region="us-east-1",
        config_digest="x",
    )
    for step in applied:
        state.start_step(step)
        state.finish_step(step)
    if web_health:
        state.set_outputs("services", web_url="http://web", web_health=web_health)
    return summarize(
        config,
        state,
        config_path=tmp_path / "c.toml",
        state_path=tmp_path / "s.state.json",
        statuses=statuses,
    )


def test_up_only_when_every_step_applied_and_the_web_health_check_answered(
    make_config: Callable[..., LaunchConfig], tmp_path: Path
) -> None:
    summary = _summary(make_config(), tmp_path, list(CHECKLIST), web_health="healthy")
    assert summary.up and summary.headline == "Airflow is up."
    assert summary.next_steps == [] and summary.progress == {}


def test_stable_services_whose_health_check_did_not_answer_are_not_up(
    make_config: Callable[..., LaunchConfig], tmp_path: Path
) -> None:
    summary = _summary(
        make_config(), tmp_path, list(CHECKLIST), web_health="unhealthy (Target.Timeout)"
    )
    assert not summary.up
    assert "web health check (GET /api/v2/version) has not answered" in summary.headline
    assert "unhealthy (Target.Timeout)" in summary.headline
    assert "aws ecs describe-services --cluster airflow-staging" in summary.next_steps[0]


def test_a_launch_half_way_says_what_is_done_running_failed_and_pending(
    make_config: Callable[..., LaunchConfig], tmp_path: Path
) -> None:
    statuses = {name: "applied" for name in list(CHECKLIST)[:9]}
    statuses |= {"cluster": "failed", "task_definitions": "running", "services": "previewed"}
    summary = _summary(make_config(), tmp_path, list(CHECKLIST)[:9], statuses=statuses)
    assert not summary.up
    assert summary.headline == "Airflow is not up yet: 9 of 12 steps applied."
    assert summary.progress["failed"] == ["ECS cluster"]
    assert summary.progress["running"] == ["Task definitions"]
    assert summary.progress["pending"] == ["Services and load balancer"]
    text = "\n".join(summary.next_steps)
    assert "Fix what stopped ECS cluster" in text
    assert "Wait for Task definitions" in text
    assert "Services and load balancer first" in text


def test_by_default_the_statuses_are_the_states(
    make_config: Callable[..., LaunchConfig], tmp_path: Path
) -> None:
    summary = _summary(make_config(), tmp_path, ["account"])
    assert summary.headline == "Airflow is not up yet: 1 of 12 steps applied."
    assert summary.progress["applied"] == ["AWS account"]
    assert len(summary.progress["pending"]) == 11


def test_the_password_command_reaches_the_launchs_own_account(
    make_config: Callable[..., LaunchConfig], tmp_path: Path
) -> None:
    """The summary's `aws ssm get-parameter` goes where the launch went: its profile and, for
    the sandbox or another emulator, its endpoint (without it the command asks real AWS)."""
    (tmp_path / "sandbox").mkdir()
    plain = _summary(make_config(), tmp_path, list(CHECKLIST), web_health="healthy")
    assert "--endpoint-url" not in plain.password_command
    sandbox = _summary(
        make_config(aws__endpoint_url="http://127.0.0.1:5123", aws__profile="ops"),
        tmp_path / "sandbox",
        list(CHECKLIST),
        web_health="healthy",
    )
    assert "--endpoint-url http://127.0.0.1:5123" in sandbox.password_command
    assert "--profile ops" in sandbox.password_command
