"""Plain mode (`init --plain`): prompts answered by message, asserted on the launch.toml written."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from wizard.cli import build_parser
from wizard.config import LaunchConfig
from wizard.config_file import load_config, save_config
from wizard.prompts import OTHER, QuestionaryAsker, ask_question, run_plain
from wizard.questions import questions
from wizard.runner import order
from wizard.steps import GRAPH
from wizard.steps.base import Choice

NOWHERE = "http://127.0.0.1:9"
"""An endpoint nothing answers on: a test can never reach a real account through it."""


@dataclass
class Prompt:
    """One prompt as the user saw it."""

    kind: str
    message: str
    default: Any
    choices: list[Choice] = field(default_factory=list)


class ScriptedAsker:
    """Answers a prompt whose message contains a script key with that key's next answer (a
    callable answer is given the choices); any other prompt gets its default, as if the user
    pressed Enter. Every prompt is recorded."""

    def __init__(self, script: dict[str, list[Any]] | None = None) -> None:
        self.script = {key: list(answers) for key, answers in (script or {}).items()}
        self.prompts: list[Prompt] = []

    def asked(self, key: str) -> list[Prompt]:
        """The prompts whose message contains `key`."""
        return [prompt for prompt in self.prompts if key in prompt.message]

    def _answer(self, prompt: Prompt) -> Any:
        self.prompts.append(prompt)
        for key, answers in self.script.items():
            if key in prompt.message and answers:
                answer = answers.pop(0)
                return answer(prompt.choices) if callable(answer) else answer
        return prompt.default

    def text(self, message: str, default: str) -> str | None:
        return self._answer(Prompt("text", message, default))

    def select(self, message: str, choices: Sequence[Choice], default: str | None) -> str | None:
        return self._answer(Prompt("select", message, default, list(choices)))

    def checkbox(
        self, message: str, choices: Sequence[Choice], checked: Sequence[str]
    ) -> list[str] | None:
        return self._answer(Prompt("checkbox", message, list(checked), list(choices)))

    def confirm(self, message: str, default: bool) -> bool | None:
        return self._answer(Prompt("confirm", message, default))


Run = Callable[..., tuple[int, str]]


@pytest.fixture
def run(tmp_path: Path) -> Run:
    """Run `init --plain --config tmp/launch.toml ARGS` with an asker; (exit status, output)."""

    def run_init(asker: Any, *args: str) -> tuple[int, str]:
        parsed = build_parser().parse_args(
            ["init", "--plain", "--config", str(tmp_path / "launch.toml"), *args]
        )
        output = io.StringIO()
        code = run_plain(parsed, asker=asker, console=Console(file=output, width=200))
        return code, output.getvalue()

    return run_init


def test_answers_are_written_once_confirmed(offline: None, run: Run, tmp_path: Path) -> None:
    asker = ScriptedAsker(
        {
            "(name)": ["analytics"],
            "(s3.bucket)": ["analytics-airflow"],
            "(s3.create_bucket)": [True],
            "(s3.environments)": ["staging, qa"],
            "(redis.engine)": ["redis"],
            "(components.worker.desired_count)": ["3"],
        }
    )
    code, output = run(asker, "--endpoint-url", NOWHERE)

    assert code == 0
    written = load_config(tmp_path / "launch.toml")
    assert written.name == "analytics"
    assert written.aws.endpoint_url == NOWHERE
    assert written.s3.bucket == "analytics-airflow"
    assert written.s3.create_bucket is True
    assert written.s3.environments == ["staging", "qa"]
    assert written.redis.engine == "redis"
    assert written.components["worker"].desired_count == 3
    assert "AWS does not answer, so choices are not listed" in output
    assert "bootstrap.sh" in output and "The files `render` writes for it" in output
    state = tmp_path / "launch.state.json"  # beside launch.toml, as `--state` looks for it
    assert f"airflow-ecs-wizard apply --config {tmp_path / 'launch.toml'} --state {state}" in output
    assert f"airflow-ecs-wizard rehearse --config {tmp_path / 'launch.toml'}\n" in output
    assert [p.kind for p in asker.asked("Write it to")] == ["confirm"]


def test_every_step_is_asked_in_order(offline: None, run: Run) -> None:
    asker = ScriptedAsker({"Write it to": [False]})
    run(asker, "--endpoint-url", NOWHERE)

    expected = [f"({q.path})" for step in order(GRAPH) for q in questions(step)]
    asked = [prompt.message for prompt in asker.prompts[:-1]]
    assert len(asked) == len(expected)
    assert all(path in message for path, message in zip(expected, asked, strict=True))


def test_declining_writes_nothing(offline: None, run: Run, tmp_path: Path) -> None:
    code, output = run(ScriptedAsker({"Write it to": [False]}), "--endpoint-url", NOWHERE)

    assert code == 2
    assert "nothing was written" in output
    assert not (tmp_path / "launch.toml").exists()


def test_ctrl_c_stops_at_once_and_writes_nothing(offline: None, run: Run, tmp_path: Path) -> None:
    asker = ScriptedAsker({"(network.vpc_id)": [None]})
    code, output = run(asker, "--endpoint-url", NOWHERE)

    assert code == 2
    assert "nothing was written" in output
    assert "(network.vpc_id)" in asker.prompts[-1].message
    assert list(tmp_path.iterdir()) == []


def test_a_bad_bucket_is_reported_by_field_and_asked_again(
    offline: None, run: Run, tmp_path: Path
) -> None:
    asker = ScriptedAsker({"(s3.bucket)": ["Bad_Bucket!", "good-bucket"]})
    code, output = run(asker, "--endpoint-url", NOWHERE)

    assert code == 0
    assert "Check these fields:" in output
    assert "✗ s3.bucket: " in output
    bucket_prompts = asker.asked("(s3.bucket)")
    assert [prompt.default for prompt in bucket_prompts] == [
        "acme-dataplatform-airflow",
        "Bad_Bucket!",  # the user edits what they typed
    ]
    assert len(asker.asked("(s3.prefix)")) == 1  # only the field named is asked again
    assert load_config(tmp_path / "launch.toml").s3.bucket == "good-bucket"


def test_words_for_a_number_are_asked_again(offline: None, run: Run, tmp_path: Path) -> None:
    asker = ScriptedAsker({"(components.worker.desired_count)": ["many", "3"]})
    code, output = run(asker, "--endpoint-url", NOWHERE)

    assert code == 0
    assert "✗ components.worker.desired_count: 'many' must be a whole number" in output
    assert load_config(tmp_path / "launch.toml").components["worker"].desired_count == 3


@pytest.mark.parametrize("overwrite", [False, True])
def test_an_existing_file_is_overwritten_only_when_confirmed(
    offline: None, run: Run, tmp_path: Path, overwrite: bool
) -> None:
    existing = tmp_path / "launch.toml"
    existing.write_text("# keep me\n")
    asker = ScriptedAsker({"(name)": ["rewritten"], "overwrite": [overwrite]})
    code, output = run(asker, "--endpoint-url", NOWHERE)

    assert [p.default for p in asker.asked("exists: overwrite it?")] == [False]
    if overwrite:
        assert code == 0 and load_config(existing).name == "rewritten"
    else:
        assert code == 2 and existing.read_text() == "# keep me\n"
        assert "nothing was written" in output


def test_starts_from_a_config_with_the_aws_options_applied(
    offline: None, run: Run, tmp_path: Path, make_config: Callable[..., LaunchConfig]
) -> None:
    start = tmp_path / "start.toml"
    save_config(make_config(name="from-file", s3__prefix="pipelines"), start)
    asker = ScriptedAsker()
    code, _ = run(asker, "--from", str(start), "--region", "eu-west-1", "--endpoint-url", NOWHERE)

    assert code == 0
    assert asker.asked("(name)")[0].default == "from-file"
    assert asker.asked("(aws.region)")[0].default == "eu-west-1"
    written = load_config(tmp_path / "launch.toml")
    assert (written.name, written.aws.region, written.s3.prefix) == (
        "from-file",
        "eu-west-1",
        "pipelines",
    )


def test_choices_and_previews_come_from_the_account(
    aws_endpoint: str, run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wizard.aws import Aws, AwsSettings
    from wizard.sandbox import seed_account

    monkeypatch.delenv("AIRFLOW_ECS_WIZARD_DB_ADMIN_PASSWORD", raising=False)
    seeded = seed_account(Aws(AwsSettings(region="us-east-1", endpoint_url=aws_endpoint)))
    asker = ScriptedAsker(
        {
            "(network.vpc_id)": [lambda choices: seeded.vpc_id],
            "(network.subnet_ids)": [lambda choices: seeded.subnet_ids],
            "(network.public_subnet_ids)": [lambda choices: seeded.public_subnet_ids],
        }
    )
    code, output = run(asker, "--endpoint-url", aws_endpoint, "--region", "us-east-1")

    assert code == 0
    vpc = asker.asked("(network.vpc_id)")[0]
    assert vpc.kind == "select"
    assert seeded.vpc_id in [choice.value for choice in vpc.choices]
    assert vpc.choices[-1].value == OTHER  # manual entry stays possible
    subnets = asker.asked("(network.subnet_ids)")[0]  # listed for the VPC just chosen
    assert subnets.kind == "checkbox"
    assert set(seeded.subnet_ids) <= {choice.value for choice in subnets.choices}
    assert "Reading account 123456789012 (read-only)" in output
    assert "no-op  ecr:repository zdp-airflow (exists)" in output
    assert "AWS does not answer" not in output
    written = load_config(tmp_path / "launch.toml")
    assert written.network.vpc_id == seeded.vpc_id
    assert written.network.subnet_ids == seeded.subnet_ids
    assert written.network.public_subnet_ids == seeded.public_subnet_ids


def test_real_prompts_answered_through_a_pipe(offline: None, run: Run, tmp_path: Path) -> None:
    """Questionary itself, fed keys: Ctrl-U and a new name, Enter for every default, `y` for
    the bucket's create_bucket, Enter again (the write confirmation defaults to yes)."""
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    paths = [q.path for step in order(GRAPH) for q in questions(step)]
    before_create_bucket = paths.index("s3.create_bucket") - 1  # after the name
    with create_pipe_input() as keys:
        keys.send_text("\x15piped\r" + "\r" * before_create_bucket + "y" + "\r" * 100)
        code, _ = run(QuestionaryAsker(input=keys, output=DummyOutput()), "--endpoint-url", NOWHERE)

    assert code == 0
    written = load_config(tmp_path / "launch.toml")
    assert written.name == "piped"
    assert written.s3.create_bucket is True
    assert written.s3.bucket == "acme-dataplatform-airflow"


def test_a_value_the_account_lacks_is_offered_in_words_a_user_reads() -> None:
    """An empty field reads as "leave it empty", a config value the account lacks as coming
    from the config; never "(empty) (current, not found)"."""
    question = next(q for q in questions("database") if q.path == "database.rds_instance_id")
    found = [Choice("staging-rds", "postgres 16.4, available")]

    empty = ScriptedAsker()
    assert ask_question(question, "", found, empty) == ""  # Enter keeps it empty
    labels = [choice.label for choice in empty.prompts[0].choices]
    assert labels[0] == "leave it empty (the default)"
    assert labels[1] == "staging-rds  postgres 16.4, available"

    kept = ScriptedAsker()
    assert ask_question(question, "old-rds", found, kept) == "old-rds"
    label = kept.prompts[0].choices[0].label
    assert label == "old-rds  (from the config; not in this account)"
    for prompt in (*empty.prompts, *kept.prompts):
        assert not any(
            "(empty)" in c.label or "current, not found" in c.label for c in prompt.choices
        )
