"""`launch.toml` in and out: tomllib to read, a writer that keeps the file human-readable."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from wizard.airflow_versions import AirflowVersion, component_problems
from wizard.atomic_file import make_private_folder, write_atomically
from wizard.config import LaunchConfig
from wizard.errors import Problem, ProblemsError, quoted
from wizard.input_limits import MAX_CONFIG_BYTES, decode_utf8, read_limited

_HEADER = """\
# Inputs for one Airflow-on-ECS launch, written by airflow-ecs-wizard.
# Edit freely: `airflow-ecs-wizard validate --config FILE` checks it offline.
"""
_COMMENT_COLUMN = 34


def parse_config(text: str, source: str = "launch.toml") -> LaunchConfig:
    """Parse and validate a launch config.

    Raises:
        ProblemsError: every problem, each with the dotted path of the field to fix.
    """
    if len(text) > MAX_CONFIG_BYTES:
        raise ProblemsError(
            [Problem("", f"{source} is larger than {MAX_CONFIG_BYTES:,} characters")],
            title="Unreadable config",
        )
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ProblemsError(
            [Problem("", f"{source} is not valid TOML: {error}")], title="Unreadable config"
        ) from error
    except RecursionError:
        raise ProblemsError(
            [Problem("", f"{source} nests arrays or tables deeper than TOML can be read")],
            title="Unreadable config",
        ) from None
    try:
        return LaunchConfig.model_validate(data)
    except ValidationError as error:
        problems = sorted({*problems_from(error), *_component_key_problems(data)})
        raise ProblemsError(problems, title=f"Invalid config {source}") from error


def _component_key_problems(data: dict[str, Any]) -> list[Problem]:
    """The component checks need only the keys: report them even when a value is invalid
    (pydantic skips a field's validator once anything inside the field failed)."""
    airflow = data.get("airflow")
    components = data.get("components")
    version_text = airflow.get("version", "3.3") if isinstance(airflow, dict) else "3.3"
    try:
        version = AirflowVersion.parse(str(version_text))
    except ValueError:
        return []
    if components is None:
        return []
    keys = set(components) if isinstance(components, dict) else set()
    messages = component_problems(version, keys)
    return [Problem("components", "; ".join(messages))] if messages else []


def load_config(path: str | os.PathLike[str]) -> LaunchConfig:
    """Read and validate a config file (see `parse_config`)."""
    file = Path(path)
    hint = (
        "Give the path of a launch.toml (see shared/spec/launch.example.toml), "
        "or run `airflow-ecs-wizard init` to write one."
    )
    data = read_limited(file, "the config", hint=hint, title="No config", limit=MAX_CONFIG_BYTES)
    return parse_config(decode_utf8(data, str(file), hint=hint), str(file))


def problems_from(error: ValidationError) -> list[Problem]:
    """Pydantic's errors as problems a user can act on, one per field."""
    problems = []
    for item in error.errors():
        path = _dotted(item["loc"])
        kind = item["type"]
        if kind == "extra_forbidden":
            message = "is not a known field: check its spelling and its [section]"
        elif kind == "missing":
            message = "is required: add it"
        else:
            message = str(item["msg"]).removeprefix("Value error, ")
        problems.append(Problem(path, message))
    return sorted(set(problems))


def _dotted(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, str) and not part.replace("_", "").isalnum():
            part = quoted(part)  # a key of the user's (an unknown field): shown escaped, cut
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else str(part)
    return path


def dump_config(config: LaunchConfig) -> str:
    """The config as TOML: scalars first, then one table per section, each field commented.

    Fields with no value (None) are left out, since TOML has no null.
    """
    lines = [_HEADER]
    _write_table(lines, config, ())
    return "\n".join(lines).rstrip() + "\n"


def save_config(config: LaunchConfig, path: str | os.PathLike[str]) -> None:
    """Write the config atomically, readable by its owner only: it names the launch's secret
    parameters and hosts. A new folder for it is made 0700."""
    target = Path(path)
    make_private_folder(target.parent)
    write_atomically(target, dump_config(config), mode=0o600)


def _write_table(lines: list[str], model: BaseModel, path: tuple[str, ...]) -> None:
    tables: list[tuple[tuple[str, ...], BaseModel]] = []
    fields = type(model).model_fields
    for name, info in fields.items():
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            tables.append(((*path, name), value))
        elif isinstance(value, dict):
            tables.extend(((*path, name, key), item) for key, item in value.items())
        elif value is not None:
            assignment = f"{name} = {_toml_value(value)}"
            comment = info.description or ""
            if comment:
                assignment = f"{assignment.ljust(_COMMENT_COLUMN - 1)} # {comment}"
            lines.append(assignment)
    for table_path, table in tables:
        lines.append("")
        lines.append(f"[{'.'.join(table_path)}]")
        _write_table(lines, table, table_path)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")
