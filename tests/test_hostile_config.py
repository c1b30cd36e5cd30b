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


@pytest.mark.parametrize(("path", "is_list"), FIELDS, ids=[path for path, _ in FIELDS])
def test_a_trailing_newline_is_refused_in_every_field(path: str, is_list: bool) -> None:
    # `$` matches before a final newline: "airflow-staging\n" once passed as a launch name
    with pytest.raises(ProblemsError) as caught:
        parse_config(_toml(_with(path, is_list, _valid_value(path) + "\n")))
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
