"""Put the airflow-ecs-wizard bootstrap block at the end of a CloudFormation user-data value.

An ECS cluster's instances run their user data at boot. This module adds the lines of
`templates/user-data-lines.sh.j2` to the end of each script in a `UserData` value, between the
markers `# airflow-ecs-wizard: begin` and `# airflow-ecs-wizard: end`. A block already there is
replaced, so a new cluster name or bootstrap URI updates it, and patching patched user data changes
nothing.

It reads the shapes console and hand-written templates use: `Fn::Base64` over a plain string,
`Fn::Sub` or `Fn::Join`, `Fn::If` choosing between two of those, a base64 string, or no user data
at all. Anything else is refused with a `BadInput` that says where, rather than guessed at.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wizard.errors import BadInput
from wizard.render import render_template

BLOCK_BEGIN = "# airflow-ecs-wizard: begin"
BLOCK_END = "# airflow-ecs-wizard: end"
BLOCK_TEMPLATE = "user-data-lines.sh.j2"
NEW_SCRIPT_START = "#!/bin/bash\n"

_BLOCK = re.compile(
    rf"^{re.escape(BLOCK_BEGIN)}$.*?^{re.escape(BLOCK_END)}$\n?", re.MULTILINE | re.DOTALL
)
# Stands for an intrinsic function inside Fn::Join when reading the script's text.
_OPAQUE = "\x00"


@dataclass(frozen=True)
class BlockMaker:
    """Renders our block for one user-data script, from what the script already does.

    Attributes:
        cluster_name: The ECS cluster the instances join, when the script does not say.
        bootstrap_uri: The S3 URI of the bootstrap script the instances copy and run.
    """

    cluster_name: str
    bootstrap_uri: str

    def for_script(self, script_text: str) -> str:
        """Render the block for one script.

        Args:
            script_text: The script's readable text (our old block in it is ignored).

        Returns:
            The block's lines, markers included, ending with a newline.
        """
        own = _BLOCK.sub("", script_text)
        return render_template(
            BLOCK_TEMPLATE,
            write_ecs_cluster="ECS_CLUSTER=" not in own,
            write_backend_host="ECS_BACKEND_HOST=" not in own,
            cluster_name=self.cluster_name,
            bootstrap_uri=self.bootstrap_uri,
        )


def patch_user_data(value: Any, path: str, block: BlockMaker) -> Any:
    """Return the user data `value` with our block at the end of each script in it.

    Handles what console and hand-written templates use: `Fn::Base64` over a string, `Fn::Sub`
    (string or `[string, variables]`) or `Fn::Join` (delimiter "" or "\\n"), `Fn::If` choosing
    between two of those, a base64 string, or no user data.

    Args:
        value: The `UserData` value (long-form intrinsics), or None when there is none.
        path: The value's dotted path in the template, used in error messages.
        block: Renders the block for each script.

    Returns:
        The new `UserData` value; `value` itself is not modified.

    Raises:
        BadInput: a shape this cannot patch without guessing.
    """
    if value is None or value == {"Ref": "AWS::NoValue"}:
        return {"Fn::Base64": _patch_text(NEW_SCRIPT_START, block, path)}
    if isinstance(value, str):
        return {"Fn::Base64": _patch_text(_decode_base64(value, path), block, path)}
    function, argument = _intrinsic(value)
    if function == "Fn::If":
        return {"Fn::If": _patch_if(argument, path, lambda v: patch_user_data(v, path, block))}
    if function == "Fn::Base64":
        return {"Fn::Base64": _patch_script(argument, path, block)}
    raise _unknown_shape(path, value)


def _patch_script(value: Any, path: str, block: BlockMaker) -> Any:
    """The script inside `Fn::Base64`, patched."""
    if isinstance(value, str):
        return _patch_text(value, block, path)
    function, argument = _intrinsic(value)
    if function == "Fn::Sub":
        return {"Fn::Sub": _patch_sub(argument, path, block)}
    if function == "Fn::Join":
        return {"Fn::Join": _patch_join(argument, path, block)}
    if function == "Fn::If":
        return {"Fn::If": _patch_if(argument, path, lambda v: _patch_script(v, path, block))}
    raise _unknown_shape(path, value)


def _intrinsic(value: Any) -> tuple[str | None, Any]:
    if isinstance(value, dict) and len(value) == 1:
        ((function, argument),) = value.items()
        return str(function), argument
    return None, None


def _patch_if(argument: Any, path: str, patch: Callable[[Any], Any]) -> list[Any]:
    if not (isinstance(argument, list) and len(argument) == 3):
        raise _unknown_shape(path, {"Fn::If": argument})
    condition, when_true, when_false = argument
    return [condition, patch(when_true), patch(when_false)]


def _patch_sub(argument: Any, path: str, block: BlockMaker) -> Any:
    if isinstance(argument, str):
        return _patch_text(argument, block, path, sub=True)
    if isinstance(argument, list) and len(argument) == 2 and isinstance(argument[0], str):
        return [_patch_text(argument[0], block, path, sub=True), argument[1]]
    raise _unknown_shape(path, {"Fn::Sub": argument})


def _patch_text(text: str, block: BlockMaker, path: str, *, sub: bool = False) -> str:
    """Replace our block in `text`, or append it on a line of its own."""
    _check_markers(text, path)
    lines = block.for_script(text)
    if sub:
        lines = lines.replace("${", "${!")
    if _BLOCK.search(text):
        return _replace_blocks(text, lines)
    separator = "" if not text or text.endswith("\n") else "\n"
    return text + separator + lines


def _replace_blocks(text: str, lines: str) -> str:
    """Put `lines` where the first block was, and drop any later copy."""
    first = True

    def replace(_match: re.Match[str]) -> str:
        nonlocal first
        keep, first = first, False
        return lines if keep else ""

    return _BLOCK.sub(replace, text)


def _patch_join(argument: Any, path: str, block: BlockMaker) -> list[Any]:
    if not (
        isinstance(argument, list)
        and len(argument) == 2
        and argument[0] in ("", "\n")
        and isinstance(argument[1], list)
    ):
        raise _unknown_shape(path, {"Fn::Join": argument})
    delimiter, parts = argument
    text = delimiter.join(part if isinstance(part, str) else _OPAQUE for part in parts)
    _check_markers(text, path)
    lines = block.for_script(text)
    return [delimiter, _join_parts(parts, delimiter, text, lines, path)]


def _join_parts(parts: list[Any], delimiter: str, text: str, lines: str, path: str) -> list[Any]:
    for index, part in enumerate(parts):
        if isinstance(part, str) and _BLOCK.search(part):
            return [*parts[:index], _replace_blocks(part, lines), *parts[index + 1 :]]
    if delimiter == "\n":
        return _join_lines(parts, lines, text, path)
    if _BLOCK.search(text):
        raise _split_block(path)
    separator = "" if not text or text.endswith("\n") else "\n"
    return [*parts, separator + lines]


def _join_lines(parts: list[Any], lines: str, text: str, path: str) -> list[Any]:
    """For `Fn::Join ["\\n", ...]`: our block as one element per line, replacing the old one."""
    new_lines = lines.rstrip("\n").split("\n")
    if BLOCK_BEGIN not in parts:
        if _BLOCK.search(text):
            raise _split_block(path)
        return [*parts, *new_lines]
    begin = parts.index(BLOCK_BEGIN)
    end = next((i for i in range(begin, len(parts)) if parts[i] == BLOCK_END), None)
    if end is None:
        raise _split_block(path)
    return [*parts[:begin], *new_lines, *parts[end + 1 :]]


def _check_markers(text: str, path: str) -> None:
    """Refuse a begin or end marker that is not part of a whole block: we would not know its end."""
    rest = _BLOCK.sub("", text)
    if BLOCK_BEGIN in rest or BLOCK_END in rest:
        raise BadInput(
            f"{path} has an airflow-ecs-wizard marker without its pair "
            f"({BLOCK_BEGIN!r} ... {BLOCK_END!r}), so the old block cannot be replaced safely.",
            title="Damaged user data",
            hint="Remove the old airflow-ecs-wizard lines from the user data and run again.",
        )


def _split_block(path: str) -> BadInput:
    return BadInput(
        f"{path} has an airflow-ecs-wizard block split across Fn::Join elements in a way "
        "patch-template did not write, so it cannot be replaced safely.",
        title="Damaged user data",
        hint="Remove the old airflow-ecs-wizard lines from the user data and run again.",
    )


def _decode_base64(value: str, path: str) -> str:
    try:
        return base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as error:
        raise BadInput(
            f"{path} is a string that is not base64-encoded text, so it is not user data.",
            title="Unreadable user data",
            hint="UserData must be base64: write it as Fn::Base64 over the script.",
        ) from error


def _unknown_shape(path: str, value: Any) -> BadInput:
    function, _ = _intrinsic(value)
    shape = function or type(value).__name__
    return BadInput(
        f"{path} is built with {shape} in a way patch-template does not know, "
        "so it cannot add the bootstrap lines safely.",
        title="Unknown user data",
        hint="Write UserData as Fn::Base64 over a string, Fn::Sub, or Fn::Join with delimiter "
        '"" or "\\n", and run again.',
    )
