"""CloudFormation templates as text: load JSON or YAML into plain data, dump it back the same way.

YAML templates use the short intrinsic tags (`!Ref`, `!Sub`, `!GetAtt a.b`, ...). They load as the
long JSON form (`{"Ref": x}`, `{"Fn::Sub": ...}`, `{"Fn::GetAtt": [a, b]}`) so that code reading a
template sees one shape whatever the format, and they are written back as short tags.

Dumping normalises: comments and the original quoting or key spacing are not kept, only the data and
its key order. Compare dumps with dumps, never a dump with the original text.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

import yaml
from yaml.emitter import ScalarAnalysis

from wizard.errors import BadInput
from wizard.input_limits import (
    MAX_INPUT_BYTES,
    check_depth,
    check_yaml_events,
    too_deep,
)

TemplateFormat = Literal["json", "yaml"]

_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_STR_TAG = "tag:yaml.org,2002:str"
_MAP_TAG = "tag:yaml.org,2002:map"
_UNPREFIXED = frozenset({"Ref", "Condition"})
_TAG_NAME = re.compile(r"[A-Za-z0-9]+")
_DEFAULT_JSON_INDENT = 2
_HINT_TEMPLATE = "Give the template exactly as CloudFormation shows it (JSON or YAML)."


@dataclass(frozen=True)
class LoadedTemplate:
    """A template read from text, with what is needed to write it back the same way.

    Attributes:
        doc: The template as plain data, intrinsic functions in their long JSON form.
        fmt: The format the text was in.
        json_indent: The indentation of the JSON text (a width, or the whitespace itself for tabs).
    """

    doc: dict[str, Any]
    fmt: TemplateFormat
    json_indent: int | str = _DEFAULT_JSON_INDENT

    def dump(self, doc: dict[str, Any] | None = None) -> str:
        """Write `doc` (by default this template's own) in this template's format and indent."""
        return dump_template(
            self.doc if doc is None else doc, self.fmt, json_indent=self.json_indent
        )


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that reads CloudFormation's short tags and keeps date-like scalars as strings.

    The timestamp resolver is removed for the whole document: CloudFormation reads
    `AWSTemplateFormatVersion: 2010-09-09` as the string "2010-09-09", and so must we.
    """


_CfnLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _long_name(short: str) -> str:
    return short if short in _UNPREFIXED else f"Fn::{short}"


def _construct_intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    """Turn `!Name value` into `{"Fn::Name": value}` (`Ref` and `Condition` keep their names)."""
    name = _long_name(suffix)
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if name == "Fn::GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:  # pragma: no cover - PyYAML has no other node kinds
        raise yaml.constructor.ConstructorError(None, None, f"unexpected node {node!r}")
    return {name: value}


_CfnLoader.add_multi_constructor("!", _construct_intrinsic)


class _CfnDumper(yaml.SafeDumper):
    """SafeDumper that writes intrinsics as short tags, block style, and indented sequences."""

    def ignore_aliases(self, data: Any) -> bool:
        """Never write anchors: a template is a tree, even where two values are one object."""
        return True

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        """Indent a sequence under its key, as the console and most editors do."""
        super().increase_indent(flow, False)

    def choose_scalar_style(self) -> str:
        """Let a short tag's string be plain (`!Ref Name`) wherever a plain string could be."""
        event = self.event
        if (
            isinstance(event, yaml.ScalarEvent)
            and not event.style
            and event.tag is not None
            and event.tag.startswith("!")
            and not event.tag.startswith("!!")
        ):
            analysis = self.analysis or self.analyze_scalar(event.value)
            self.analysis = analysis
            if _plain_allowed(
                analysis, flow_level=self.flow_level, simple_key=self.simple_key_context
            ):
                return ""
        return super().choose_scalar_style()


def _plain_allowed(analysis: ScalarAnalysis, *, flow_level: int, simple_key: bool) -> bool:
    if analysis.empty or (simple_key and analysis.multiline):
        return False
    return bool(analysis.allow_flow_plain if flow_level else analysis.allow_block_plain)


def _scalar_style(value: str) -> str | None:
    """Literal block for text with newlines; double quotes for a NEL, which PyYAML would lose.

    PyYAML writes U+0085 (NEL) raw inside single quotes and plain or block scalars, where YAML
    reads it as a line break; only double quotes escape it (as `\\N`).
    """
    if "\x85" in value:
        return '"'
    return "|" if "\n" in value else None


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    return dumper.represent_scalar(_STR_TAG, data, style=_scalar_style(data))


def _short_tag(mapping: dict[Any, Any]) -> tuple[str, Any] | None:
    """The short tag and value for a one-key intrinsic mapping, or None for any other mapping."""
    if len(mapping) != 1:
        return None
    ((key, value),) = mapping.items()
    if not isinstance(key, str):
        return None
    if key in _UNPREFIXED:
        short = key
    elif key.startswith("Fn::") and _TAG_NAME.fullmatch(key[4:]):
        short = key[4:]
    else:
        return None
    if not isinstance(value, str | list | dict):
        return None
    return f"!{short}", value


def _getatt_dotted(value: Any) -> str | None:
    """`a.b` for `[a, b]` when that reads back as the same list, else None."""
    if (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(part, str) for part in value)
        and "." not in value[0]
    ):
        return f"{value[0]}.{value[1]}"
    return None


def _represent_dict(dumper: yaml.SafeDumper, data: dict[Any, Any]) -> yaml.Node:
    tagged = _short_tag(data)
    if tagged is None:
        return dumper.represent_mapping(_MAP_TAG, data)
    tag, value = tagged
    if tag == "!GetAtt":
        value = _getatt_dotted(value) or value
    if isinstance(value, str):
        return dumper.represent_scalar(tag, value, style=_scalar_style(value))
    if isinstance(value, list):
        return dumper.represent_sequence(tag, value)
    return dumper.represent_mapping(tag, value)


_CfnDumper.add_representer(str, _represent_str)
_CfnDumper.add_representer(dict, _represent_dict)


def load_template(text: str, *, source_name: str = "template") -> LoadedTemplate:
    """Read a CloudFormation template from JSON or YAML text.

    The text is JSON if it parses as JSON. Text that starts with `{` but is not valid JSON is
    reported as broken JSON rather than read as YAML: no one writes a template as a YAML flow
    mapping, and reading broken JSON as YAML would hide the real mistake (and write YAML back).

    Args:
        text: The template's text.
        source_name: How to name the input in error messages (usually its file name).

    Returns:
        The template as plain data, its format, and its JSON indentation.

    Raises:
        BadInput: the text is neither JSON nor YAML, is not a mapping with `Resources`, or is
            beyond the limits of `wizard.input_limits` (size, nesting, YAML aliases).
    """
    if len(text.encode("utf-8", "surrogatepass")) > MAX_INPUT_BYTES:
        raise BadInput(
            f"{source_name} is larger than {MAX_INPUT_BYTES:,} bytes, CloudFormation's own "
            "limit for a template.",
            title="Template too large",
            hint=_HINT_TEMPLATE,
        )
    try:
        doc: Any = json.loads(text)
    except json.JSONDecodeError as error:
        if text.lstrip().startswith("{"):
            raise _bad_json(error, source_name) from error
        check_yaml_events(text, _CfnLoader, source_name, hint=_HINT_TEMPLATE)
        doc = _load_yaml(text, source_name)
        fmt: TemplateFormat = "yaml"
    except RecursionError:
        raise too_deep(source_name, hint=_HINT_TEMPLATE) from None
    else:
        fmt = "json"
    check_depth(doc, source_name, hint=_HINT_TEMPLATE)
    _check_template(doc, source_name)
    indent = _json_indent(text) if fmt == "json" else _DEFAULT_JSON_INDENT
    return LoadedTemplate(doc=doc, fmt=fmt, json_indent=indent)


def dump_template(
    doc: dict[str, Any], fmt: TemplateFormat, *, json_indent: int | str = _DEFAULT_JSON_INDENT
) -> str:
    """Write a template as JSON or YAML text, ending with a newline.

    JSON keeps key order and non-ASCII text as is. YAML is block style in key order, with short
    tags for intrinsic functions and literal block scalars for strings with newlines where YAML
    allows one (a line ending in a space, for example, forces a quoted string).

    Args:
        doc: The template as plain data.
        fmt: "json" or "yaml".
        json_indent: The JSON indentation: a width or a whitespace string such as a tab.

    Returns:
        The text.
    """
    if fmt == "json":
        return json.dumps(doc, indent=json_indent, ensure_ascii=False) + "\n"
    return yaml.dump(
        doc,
        Dumper=_CfnDumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=100,
    )


def _load_yaml(text: str, source_name: str) -> Any:
    try:
        # _CfnLoader is a SafeLoader: it builds plain data only, never Python objects.
        return yaml.load(text, Loader=_CfnLoader)
    except RecursionError:
        raise too_deep(source_name, hint=_HINT_TEMPLATE) from None
    except yaml.YAMLError as error:
        raise BadInput(
            f"{source_name} is neither JSON nor YAML: {_yaml_reason(error)}.",
            title="Unreadable template",
            hint="Give the template exactly as CloudFormation shows it (JSON or YAML).",
        ) from error


def _yaml_reason(error: yaml.YAMLError) -> str:
    if isinstance(error, yaml.MarkedYAMLError) and error.problem_mark is not None:
        mark = error.problem_mark
        return f"{error.problem} (line {mark.line + 1}, column {mark.column + 1})"
    return str(error)


def _bad_json(error: json.JSONDecodeError, source_name: str) -> BadInput:
    return BadInput(
        f"{source_name} is not valid JSON: {error.msg} "
        f"(line {error.lineno}, column {error.colno}).",
        title="Unreadable template",
        hint="Fix the JSON there (a missing comma or quote, a trailing comma) and run again.",
    )


def _check_template(doc: Any, source_name: str) -> None:
    hint = "Give the CloudFormation template of the ECS cluster stack (JSON or YAML)."
    if not isinstance(doc, dict):
        kind = "empty" if doc is None else f"a {type(doc).__name__}, not a mapping"
        raise BadInput(
            f"{source_name} is not a CloudFormation template: its top level is {kind}.",
            title="Not a CloudFormation template",
            hint=hint,
        )
    if not isinstance(doc.get("Resources"), dict):
        problem = (
            "has no Resources" if "Resources" not in doc else "has Resources, but not a mapping"
        )
        raise BadInput(
            f"{source_name} is not a CloudFormation template: it {problem}.",
            title="Not a CloudFormation template",
            hint=hint,
        )


def _json_indent(text: str) -> int | str:
    """The indentation of the first indented line: a width, or the whitespace if it has tabs."""
    for line in text.splitlines():
        body = line.lstrip(" \t")
        if body and body != line:
            lead = line[: len(line) - len(body)]
            return lead if "\t" in lead else len(lead)
    return _DEFAULT_JSON_INDENT
