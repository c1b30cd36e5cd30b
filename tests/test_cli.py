"""The command line as a user meets it: exit codes, messages, files written or not."""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import ROOT, run_cli, run_python
from wizard import __version__
from wizard.cli import build_parser, main, only_wizard_flags
from wizard.errors import BadInput

FIXTURES = Path(__file__).parent / "fixtures" / "console"


def _run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    result: subprocess.CompletedProcess[str] = run_cli(*args, stdin=stdin)
    return result


def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"airflow-ecs-wizard {__version__}"
    with pytest.raises(SystemExit):
        main(["render", "--help"])
    help_text = capsys.readouterr().out
    assert "--lint" in help_text and "--endpoint-url" in help_text and "manifest.json" in help_text


def test_render_writes_every_artifact(example_path: Path, tmp_path: Path) -> None:
    result = _run("render", "--config", str(example_path), "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == sorted(
        [
            "bootstrap.sh",
            "user-data.sh",
            "cluster.cfn.json",
            "database.sql",
            "manifest.json",
            *(
                f"taskdef-{c}.json"
                for c in [
                    "webserver",
                    "scheduler",
                    "worker",
                    "flower",
                    "triggerer",
                    "dag_processor",
                    "initdb",
                ]
            ),
        ]
    )
    assert "wrote 12 files" in result.stderr


def test_render_with_lint(example_path: Path, tmp_path: Path) -> None:
    result = _run("render", "--config", str(example_path), "--out", str(tmp_path), "--lint")
    assert result.returncode == 0, result.stderr
    assert "botocore, cfn-lint, shellcheck" in result.stderr


def test_broken_config_lists_every_problem_and_writes_nothing(tmp_path: Path) -> None:
    config = tmp_path / "launch.toml"
    config.write_text(
        'name = "Bad Name"\n[s3]\nbucket = "x"\n[redis]\nmode = "existing"\n'
        "[components.worker]\nmemory = 512\nmemory_reservation = 1024\n"
    )
    out = tmp_path / "out"
    for command in (["render", "--out", str(out)], ["validate"]):
        result = _run(*command, "--config", str(config))
        assert result.returncode == 2
        for words in [
            "name: 'Bad Name' must be 2-32 lowercase letters",
            "s3.bucket: 'x' must be 3-63 characters",
            "redis.endpoint: is required with redis.mode = existing",
            "components.worker.memory_reservation: (1024 MiB) must not exceed memory (512 MiB)",
            "database.rds_instance_id: is required with database.mode = existing",
            "components: [components.webserver] is required",
        ]:
            assert words in result.stderr
        assert "nothing was changed" in result.stderr
    assert not out.exists()


def test_validate_runs_every_linter(example_path: Path) -> None:
    result = _run("validate", "--config", str(example_path))
    assert result.returncode == 0, result.stderr
    assert "launch airflow-staging is valid; 11 artifacts" in result.stdout


def test_validate_reports_lint_findings(example_path: Path, tmp_path: Path) -> None:
    # a version whose option names differ: still valid, and linted against its own list
    text = example_path.read_text().replace('version = "3.3"', 'version = "2.11"')
    config = tmp_path / "launch.toml"
    config.write_text(text)
    result = _run("validate", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert "Airflow 2 reached end of life" in result.stderr


def test_missing_config_and_bad_arguments(tmp_path: Path) -> None:
    result = _run("validate", "--config", str(tmp_path / "nope.toml"))
    assert result.returncode == 2
    assert "Cannot read the config" in result.stderr and "init" in result.stderr
    result = _run("render", "--config", "x.toml")
    assert result.returncode == 2
    assert "the following arguments are required: --out" in result.stderr
    result = _run("--region", "eu-west-1")
    assert result.returncode == 2


def test_region_override_is_validated(example_path: Path, tmp_path: Path) -> None:
    result = _run(
        "render", "--config", str(example_path), "--out", str(tmp_path), "--region", "mars"
    )
    assert result.returncode == 2
    assert "aws.region: 'mars' must be a region code" in result.stderr
    result = _run(
        "render", "--config", str(example_path), "--out", str(tmp_path), "--region", "eu-west-1"
    )
    assert result.returncode == 0
    assert "dkr.ecr.eu-west-1.amazonaws.com" in (tmp_path / "taskdef-worker.json").read_text()


def test_render_into_a_file_is_bad_input(example_path: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = _run("render", "--config", str(example_path), "--out", str(blocker))
    assert result.returncode == 2
    assert "Cannot write into" in result.stderr


def test_render_imports_neither_boto3_nor_textual(example_path: Path, tmp_path: Path) -> None:
    probe = (
        "import sys; from wizard.cli import main; "
        f"code = main(['render', '--config', {str(example_path)!r}, '--out', {str(tmp_path)!r}]); "
        "heavy = sorted(m for m in ('boto3', 'botocore', 'textual', 'questionary', 'cfnlint', "
        "'rich', 'cryptography') if m in sys.modules); print(code, heavy)"
    )
    assert run_python(probe).splitlines()[-1] == "0 []"


@pytest.mark.parametrize(
    "fixture", ["ec2containerservice-launchconfig.json", "infra-ecs-cluster-launchtemplate.yaml"]
)
def test_patch_template_command(fixture: str, tmp_path: Path) -> None:
    out = tmp_path / fixture
    args = [
        "patch-template",
        str(FIXTURES / fixture),
        "--cluster",
        "airflow-staging",
        "--bootstrap-uri",
        "s3://acme-dataplatform-airflow/airflow/staging/bootstrap/bootstrap.sh",
    ]
    result = _run(*args, "--out", str(out), "--diff")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"--- a/{fixture}\n+++ b/{fixture}\n")
    assert "+" in result.stdout and "AssociatePublicIpAddress" in result.stdout
    assert "changed: Resources." in result.stderr
    again = _run(*[str(out) if a == str(FIXTURES / fixture) else a for a in args], "--diff")
    assert again.returncode == 0
    assert again.stdout == ""
    assert "already patched" in again.stderr
    piped = _run(*["-" if a == str(FIXTURES / fixture) else a for a in args], stdin=out.read_text())
    assert piped.stdout == out.read_text()


def test_patch_template_bad_input(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"Resources": ')
    base = ["--cluster", "c1", "--bootstrap-uri", "s3://bucket/a/bootstrap.sh"]
    result = _run("patch-template", str(broken), *base)
    assert result.returncode == 2 and "JSON" in result.stderr
    empty = tmp_path / "empty.yaml"
    empty.write_text("Resources:\n  Bucket:\n    Type: AWS::S3::Bucket\n")
    result = _run("patch-template", str(empty), *base)
    assert result.returncode == 2
    assert "no AWS::AutoScaling::LaunchConfiguration or AWS::EC2::LaunchTemplate" in result.stderr
    result = _run("patch-template", str(empty), "--cluster", "c1", "--bootstrap-uri", "s3://b/dir/")
    assert result.returncode == 2 and "--bootstrap-uri" in result.stderr
    result = _run("patch-template", str(tmp_path / "missing.json"), *base)
    assert result.returncode == 2 and "Cannot read" in result.stderr


def test_an_aws_refusal_is_reported_without_a_traceback(tmp_path: Path) -> None:
    # an endpoint where nothing listens: botocore fails, the user gets words and a hint
    config = tmp_path / "launch.toml"
    text = (ROOT / "examples" / "launch.example.toml").read_text()
    config.write_text(text.replace('endpoint_url = ""', 'endpoint_url = "http://127.0.0.1:9"'))
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    result = run_cli("plan", "--config", str(config), env=env)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "error: AWS does not answer" in result.stderr
    assert "Nothing answered at http://127.0.0.1:9" in result.stderr


WIZARD_TOKENS = [
    "--sandbox", "--dry-run", "--debug", "--state", "--config", "--folder", "--state=s.json",
    "--folder=f", "launch.toml", "render", "status", "-h", "--version", "--sandbx", "--",
]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(WIZARD_TOKENS), max_size=5))
def test_the_wizards_short_parser_parses_as_the_whole_one(args: list[str]) -> None:
    """Without a COMMAND the wizard's first frame skips building the subcommands' parsers;
    whenever it does, the arguments mean the same, errors included."""

    def outcome(parser: argparse.ArgumentParser) -> object:
        error = io.StringIO()
        try:
            with contextlib.redirect_stderr(error), contextlib.redirect_stdout(io.StringIO()):
                parsed = vars(parser.parse_args(args))
        except SystemExit as done:
            return done.code, error.getvalue().splitlines()[-1:]
        except BadInput as bad:
            return "bad input", str(bad)
        parsed.pop("command", None)
        return parsed

    if only_wizard_flags(args):
        assert outcome(build_parser(commands=False)) == outcome(build_parser())
