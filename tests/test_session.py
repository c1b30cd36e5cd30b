"""The session the wizard's UIs drive, without a UI: answers, previews, confirmations, applies.

Against the emulator server; each test asserts on what the files or the account hold.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tui_support import seeded_template
from wizard.aws import Aws, AwsSettings
from wizard.config_file import load_config
from wizard.engine import PlanChanged
from wizard.errors import ProblemsError, WizardError
from wizard.launches import find_launches
from wizard.questions import all_questions, questions, value_of
from wizard.session import WizardSession
from wizard.steps import STEPS


@pytest.fixture
def session(aws_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> WizardSession:
    monkeypatch.setenv("AIRFLOW_ECS_WIZARD_WAIT_SCALE", "0")
    template = seeded_template(aws_endpoint, tmp_path)
    return WizardSession.new(load_config(template), tmp_path / "launches")


def _confirm(session: WizardSession, step: str) -> None:
    preview = session.preview(step)
    assert not preview.blocked, (preview.plan.problems, preview.lint_problems)
    session.confirm(step, preview)


def test_every_step_asks_about_fields_the_config_has(session: WizardSession) -> None:
    asked = all_questions()
    assert set(asked) == set(STEPS)
    current = {q.path: value_of(session.config, q.path) for qs in asked.values() for q in qs}
    session.answer(current)  # every path exists, and the config's own values are valid answers
    for step_questions in asked.values():
        for question in step_questions:
            assert question.label and question.help, question
            if question.kind == "choice":
                assert str(current[question.path]) in question.options, question


def test_an_answer_is_validated_by_field_and_only_a_valid_one_is_saved(
    session: WizardSession,
) -> None:
    with pytest.raises(ProblemsError) as raised:
        session.answer({"s3.bucket": "Bad_Bucket!", "cluster.min_size": 3, "cluster.max_size": 1})
    paths = {problem.path for problem in raised.value.problems}
    assert "s3.bucket" in paths and "cluster" in {p.split(".")[0] for p in paths}
    assert load_config(session.config_path).s3.bucket == "acme-dataplatform-airflow"
    session.answer({"s3.bucket": "another-airflow-bucket"})
    assert load_config(session.config_path).s3.bucket == "another-airflow-bucket"


def test_renaming_moves_the_config_until_the_launch_has_a_state(session: WizardSession) -> None:
    folder = session.config_path.parent
    session.answer({"name": "airflow-blue"})
    assert [known.name for known in find_launches(folder)] == ["airflow-blue"]
    _confirm(session, "account")
    session.apply_ready()
    with pytest.raises(ProblemsError, match="cannot change once the launch has started"):
        session.answer({"name": "airflow-green"})
    session.close()


def test_confirmed_steps_apply_in_dependency_order_and_wait_for_what_they_need(
    session: WizardSession,
) -> None:
    _confirm(session, "bootstrap")  # needs s3_layout, not confirmed yet
    assert session.ready() == []
    for step in ("account", "network", "iam", "s3_layout"):
        _confirm(session, step)
    assert session.ready() == ["account", "network", "iam", "s3_layout", "bootstrap"]
    result = session.apply_ready()
    session.close()
    assert result.ok
    assert set(result.applied) == {"account", "network", "iam", "s3_layout", "bootstrap"}
    assert result.applied.index("s3_layout") < result.applied.index("bootstrap")
    assert session.statuses()["bootstrap"] == "applied"
    assert session.statuses()["database"] == "pending"
    assert session.first_open_step() == "database"


def test_a_plan_that_changed_since_its_preview_is_not_applied(
    session: WizardSession, aws_endpoint: str
) -> None:
    for step in ("account", "network", "iam"):
        _confirm(session, step)
    _confirm(session, "s3_layout")
    aws = Aws(AwsSettings(region="us-east-1", endpoint_url=aws_endpoint))
    aws.client("s3").create_bucket(Bucket="acme-dataplatform-airflow")  # made out of band

    result = session.apply_ready()
    session.close()
    assert isinstance(result.failed["s3_layout"], PlanChanged)
    assert "s3_layout" not in session.confirmed  # the user must see the new preview
    assert session.statuses()["s3_layout"] == "failed"
    calls = session.launch().aws.recorder.counts
    assert "s3.PutObject" not in calls and "s3.PutPublicAccessBlock" not in calls


def test_a_dry_run_session_previews_but_refuses_to_apply(aws_endpoint: str, tmp_path: Path) -> None:
    template = seeded_template(aws_endpoint, tmp_path)
    session = WizardSession.new(load_config(template), tmp_path / "launches", dry_run=True)
    for step in STEPS:
        preview = session.preview(step)
        session.confirm(step, preview)
    assert set(session.statuses().values()) == {"skipped"}
    with pytest.raises(WizardError, match="dry run"):
        session.apply_ready()
    assert session.launch().aws.recorder.mutating() == {}
    assert not session.state_path.exists()


def test_the_questions_mark_exactly_the_fields_discover_lists(session: WizardSession) -> None:
    for step in STEPS:
        discovered = {q.path for q in questions(step) if q.discovered}
        assert discovered == set(session.discover(step)), step


def test_a_rename_to_a_taken_name_is_refused_and_changes_nothing(session: WizardSession) -> None:
    kept = session.config_path
    (kept.parent / "airflow-blue.toml").write_text(kept.read_text())
    with pytest.raises(ProblemsError, match="a launch named airflow-blue exists already"):
        session.answer({"name": "airflow-blue"})
    assert session.config_path == kept and kept.exists()
    assert session.state_path.name == "airflow-staging.state.json"
    session.answer({"s3.prefix": "dags-root"})
    assert load_config(kept).s3.prefix == "dags-root"
