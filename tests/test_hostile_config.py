"""The config is untrusted input: every string field, found from the models themselves, refuses
control characters, NUL, line breaks and absurd sizes with exit status 2 naming the field, and
no value can widen an IAM policy or escape into a rendered script."""

from __future__ import annotations

import contextlib
import io
import tomllib
import types
import typing
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from tests.conftest import EXAMPLE, with_changes
from tests.test_config import _toml
from wizard.cli import main
from wizard.config import LaunchConfig
from wizard.config_file import parse_config
from wizard.errors import ProblemsError


def _string_fields(model: type[BaseModel], path: str = "") -> list[tuple[str, bool]]:
    """Every field of `model` that holds text, as (dotted path, whether it is a list),
    descending into sections, optional sections and the components table."""
    found: list[tuple[str, bool]] = []
    for name, info in model.model_fields.items():
        dotted = f"{path}.{name}" if path else name
        annotation = info.annotation
        for kind in _alternatives(annotation):
            origin = typing.get_origin(kind)
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                found += _string_fields(kind, dotted)
            elif origin is dict:
                _, item = typing.get_args(kind)
                found += _string_fields(item, f"{dotted}.worker")
            elif origin is list:
                (item,) = typing.get_args(kind)
                if _is_text(item):
                    found.append((dotted, True))
            elif _is_text(kind):
                found.append((dotted, False))
    return found


def _alternatives(annotation: Any) -> list[Any]:
    """The members of a union (`X | None`), else the annotation itself."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [arg for arg in typing.get_args(annotation) if arg is not type(None)]
    return [annotation]


def _is_text(kind: Any) -> bool:
    if typing.get_origin(kind) is typing.Annotated:
        kind = typing.get_args(kind)[0]
    if kind is str:
        return True
    return typing.get_origin(kind) is typing.Literal and all(
        isinstance(arg, str) for arg in typing.get_args(kind)
    )


FIELDS = _string_fields(LaunchConfig)
EXAMPLE_DATA = tomllib.loads(EXAMPLE.read_text())


def _valid_value(path: str) -> str:
    """The example's value of a field (its first item for a list), else a plain word."""
    node: Any = EXAMPLE_DATA
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, list):
        node = node[0] if node else None
    return node if isinstance(node, str) and node else "x"


def _with(path: str, is_list: bool, value: str) -> dict[str, Any]:
    return with_changes(EXAMPLE_DATA, {path: [value] if is_list else value})


def test_the_fields_are_found_from_the_models() -> None:
    paths = {path for path, _ in FIELDS}
    # a sample of what must be among them: plain, optional, list, nested and component fields
    assert {
        "name",
        "environment",
        "database.host",
        "aws.profile",
        "network.subnet_ids",
        "airflow.secrets.fernet_key",
        "airflow.log_topic",
        "components.worker.command",
        "components.worker.health_check.command",
    } <= paths
    assert len(FIELDS) > 60


@pytest.mark.parametrize("suffix", ["\n", "\x00", "a" * (1 << 20)], ids=["LF", "NUL", "1MB"])
@pytest.mark.parametrize(("path", "is_list"), FIELDS, ids=[path for path, _ in FIELDS])
def test_a_trailing_newline_nul_or_megabyte_is_refused_in_every_field(
    path: str, is_list: bool, suffix: str
) -> None:
    # `$` matches before a final newline: "airflow-staging\n" once passed as a launch name
    with pytest.raises(ProblemsError) as caught:
        parse_config(_toml(_with(path, is_list, _valid_value(path) + suffix)))
    problems = {problem.path: problem.message for problem in caught.value.problems}
    assert path in problems, caught.value.problems
    assert caught.value.exit_code == 2


CONTROL = ["\x00", "\n", "\r", "\t", "\x1b", "\x7f", "\x85", "\u2028", "\u202e", "\x0b"]
MEGABYTE = "a" * (1 << 20)


@st.composite
def hostile(draw: st.DrawFn) -> str:
    """A value with a control character somewhere in it, or one a megabyte long."""
    if draw(st.integers(0, 9)) == 0:
        return MEGABYTE
    word = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-./:", max_size=12)
    return draw(word) + draw(st.sampled_from(CONTROL)) + draw(word)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(field=st.sampled_from(FIELDS), value=hostile())
def test_validate_refuses_hostile_text_in_any_field(
    tmp_path: Path, field: tuple[str, bool], value: str
) -> None:
    path, is_list = field
    config = tmp_path / "launch.toml"
    config.write_text(_toml(_with(path, is_list, value)), encoding="utf-8")
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        code = main(["validate", "--config", str(config)])
    assert code == 2, stderr.getvalue()
    assert f"  - {path}: " in stderr.getvalue()
    assert len(stderr.getvalue()) < 4000  # the value is quoted cut, not echoed whole


# (field, value, words the message must contain): values that would widen an IAM policy, climb out
# of a folder or break a script, each refused with the field named
REFUSED: list[tuple[str, Any, str]] = [
    ("airflow.remote_log_folder", "s3://*", "s3://BUCKET/PREFIX"),
    ("airflow.remote_log_folder", "s3://acme-logs/airflow/*", "no * or ?"),
    ("airflow.remote_log_folder", "s3://acme-logs/${aws:username}", "s3://BUCKET/PREFIX"),
    ("s3.prefix", "air*flow", "letters, digits"),
    ("s3.prefix", "air?flow", "letters, digits"),
    ("s3.environments", ["stag*"], "one folder name"),
    ("bootstrap.mount_point", "/mnt/../etc", ".. parts"),
    ("airflow.home", "/opt/./airflow", ".. parts"),
    ("database.host", 'db" -c "select 1" ; touch /tmp/x #', "DNS name"),
    ("database.host", "fe80::1%$(touch x)", "%scope"),
    ("redis.endpoint", "cache;touch x:6379", "HOST:PORT"),
    ("airflow.log_topic", "t" * (3 << 20), "1024 at most"),
    ("airflow.pythonpath", "dags:/opt/lib", "absolute paths"),
    ("airflow.admin_email", "admin", "e-mail address"),
    ("aws.profile", "dev profile", "profile name"),
    ("aws.endpoint_url", "http://localhost:5000/?x=$(id)", "without a query"),
    ("aws.account_id", "١٢٣٤٥٦٧٨٩٠١٢", "12-digit"),
    ("airflow.execution_api_url", "http://api server/execution/", "http(s)://"),
]


@pytest.mark.parametrize(("path", "value", "words"), REFUSED, ids=[r[0] for r in REFUSED])
def test_values_that_widen_a_policy_or_escape_are_refused(
    path: str, value: Any, words: str
) -> None:
    changes = {path: value}
    if path == "redis.endpoint":
        changes["redis.mode"] = "existing"
    with pytest.raises(ProblemsError) as caught:
        parse_config(_toml(with_changes(EXAMPLE_DATA, changes)))
    problems = {problem.path: problem.message for problem in caught.value.problems}
    assert path in problems, caught.value.problems
    assert words in problems[path]
    assert len(problems[path]) < 400  # the value quoted cut, whatever its size


def test_hosts_and_urls_that_are_fine_still_pass() -> None:
    config = parse_config(
        _toml(
            with_changes(
                EXAMPLE_DATA,
                {
                    "database.host": "127.0.0.1",
                    "aws.endpoint_url": "http://localhost:5000",
                    "airflow.remote_log_folder": "s3://acme-logs/airflow/staging/logs/",
                    "airflow.pythonpath": "/opt/airflow/dags:/opt/airflow/lib",
                    "aws.profile": "dev-admin@acme",
                },
            )
        )
    )
    assert config.database.host == "127.0.0.1"
    assert config.remote_log_folder == "s3://acme-logs/airflow/staging/logs"
    for host in ("staging-rds.abc123.us-east-1.rds.amazonaws.com", "Localhost", "::1"):
        assert parse_config(_toml(with_changes(EXAMPLE_DATA, {"database.host": host})))


def test_a_huge_rejected_value_comes_back_cut(tmp_path: Path) -> None:
    config = tmp_path / "launch.toml"
    huge = "x" * (180 << 10)
    config.write_text(_toml(with_changes(EXAMPLE_DATA, {"cluster.name": huge})), encoding="utf-8")
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        code = main(["validate", "--config", str(config)])
    assert code == 2
    assert "cluster.name: 'xxxxxxxx" in stderr.getvalue()
    assert f"({len(huge)} characters)" in stderr.getvalue()
    assert len(stderr.getvalue()) < 1000


def test_an_unknown_key_with_a_line_break_is_named_escaped(tmp_path: Path) -> None:
    config = tmp_path / "launch.toml"
    text = EXAMPLE.read_text().replace("[image]\n", '[image]\n"tag\\n$(id)" = "x"\n')
    config.write_text(text, encoding="utf-8")
    code, stderr = _main_validate(config)
    assert code == 2
    assert "  - image.'tag\\n$(id)': is not a known field" in stderr


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--cluster", "c" * 200_000], "(200000 characters)"),
        (["--cluster", "c1\n"], "'c1\\n' must be 1-255"),
        (["--bootstrap-uri", "s3://acme-bucket/air\x00flow/b.sh"], "'s3://acme-bucket/air\\x00"),
    ],
)
def test_patch_template_arguments_are_checked_and_echoed_cut(
    tmp_path: Path, args: list[str], words: str
) -> None:
    template = next((Path(__file__).parent / "fixtures" / "console").glob("*.json"))
    base = {"--cluster": "c1", "--bootstrap-uri": "s3://acme-bucket/airflow/bootstrap.sh"}
    base[args[0]] = args[1]
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        code = main(["patch-template", str(template), *(x for kv in base.items() for x in kv)])
    assert code == 2
    assert words in stderr.getvalue()
    assert len(stderr.getvalue()) < 1000


def _main_validate(config: Path) -> tuple[int, str]:
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        code = main(["validate", "--config", str(config)])
    return code, stderr.getvalue()


def test_an_unknown_component_with_a_line_break_is_named_escaped(tmp_path: Path) -> None:
    config = tmp_path / "launch.toml"
    config.write_text(EXAMPLE.read_text() + '\n[components."x\\ny"]\nmemory = 10\n')
    code, stderr = _main_validate(config)
    assert code == 2
    assert "unknown component(s) 'x\\ny'" in stderr
    assert "x\ny" not in stderr
