"""Patch a console-made ECS cluster template: no public IPs, and user data that runs our bootstrap.

The runbook patches the CloudFormation template the ECS console made by hand. This does the same:
for every launch configuration or launch template, the instances get no public IP address, and the
user data gets the lines of `templates/user-data-lines.sh.j2` at its end, between the markers
`# airflow-ecs-wizard: begin` and `# airflow-ecs-wizard: end`. A block already there is replaced, so
a new cluster name or bootstrap URI updates it, and patching a patched template changes nothing.
Everything else in the template is left as it was.

The diff is between the dump of the original document and the dump of the patched one, not between
the input text and the output. Dumping normalises (YAML comments, quoting and flow style, JSON
spacing are not kept), so a diff against the raw text would mark every reformatted line as changed
and bury the few lines that matter; and a template fetched with `get_template` may be a dict with
no text at all. Both sides of the diff are written the same way, so it shows only what the patch
changed.
"""

from __future__ import annotations

import base64
import binascii
import copy
import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from wizard.cfn_template import load_template
from wizard.errors import BadInput
from wizard.render import render_template

LAUNCH_CONFIGURATION = "AWS::AutoScaling::LaunchConfiguration"
LAUNCH_TEMPLATE = "AWS::EC2::LaunchTemplate"
BLOCK_BEGIN = "# airflow-ecs-wizard: begin"
BLOCK_END = "# airflow-ecs-wizard: end"
BLOCK_TEMPLATE = "user-data-lines.sh.j2"
NEW_SCRIPT_START = "#!/bin/bash\n"

_BLOCK = re.compile(
    rf"^{re.escape(BLOCK_BEGIN)}$.*?^{re.escape(BLOCK_END)}$\n?", re.MULTILINE | re.DOTALL
)
_CLUSTER_NAME = re.compile(r"[A-Za-z0-9_-]{1,255}")
_S3_OBJECT = re.compile(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/\S*[^/\s]")
# Stands for an intrinsic function inside Fn::Join when reading the script's text.
_OPAQUE = "\x00"
_HINT_BY_HAND = "Patch that resource by hand, or make it look like the console's, and run again."

_MISSING = object()


@dataclass(frozen=True)
class PatchResult:
    """What patching a template's text produced.

    Attributes:
        text: The patched template, in the input's format.
        changed: Whether the patch changed anything.
        diff: A unified diff from the original to the patched template ("" when unchanged).
        fmt: The format of the input, and so of `text` and `diff`.
        changed_paths: The dotted paths the patch changed, such as
            `Resources.EcsInstanceLc.Properties.UserData`.
    """

    text: str
    changed: bool
    diff: str
    fmt: Literal["json", "yaml"]
    changed_paths: list[str]


def patch_template_text(
    text: str, *, cluster_name: str, bootstrap_uri: str, source_name: str = "template"
) -> PatchResult:
    """Patch a console-made ECS cluster template given as JSON or YAML text.

    Args:
        text: The template, JSON or YAML (short intrinsic tags allowed).
        cluster_name: The ECS cluster the instances join, when the user data does not say.
        bootstrap_uri: The S3 URI of the bootstrap script the instances copy and run.
        source_name: The input's name, used in error messages and the diff's file names.

    Returns:
        The patched text, whether it changed, a unified diff and the changed paths.

    Raises:
        BadInput: the text is not a template, or not one this can patch.
    """
    loaded = load_template(text, source_name=source_name)
    patched, paths = patch_template(
        loaded.doc, cluster_name=cluster_name, bootstrap_uri=bootstrap_uri
    )
    before = loaded.dump()
    after = loaded.dump(patched)
    diff = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=f"a/{source_name}",
        tofile=f"b/{source_name}",
    )
    return PatchResult(
        text=after, changed=bool(paths), diff="".join(diff), fmt=loaded.fmt, changed_paths=paths
    )


def patch_template(
    doc: dict[str, Any], *, cluster_name: str, bootstrap_uri: str
) -> tuple[dict[str, Any], list[str]]:
    """Patch a template given as data (long-form intrinsics); the input is not modified.

    Args:
        doc: The template, as loaded from JSON or YAML.
        cluster_name: The ECS cluster the instances join, when the user data does not say.
        bootstrap_uri: The S3 URI of the bootstrap script the instances copy and run.

    Returns:
        A new, patched template and the dotted paths whose values changed.

    Raises:
        BadInput: a bad cluster name or URI, no launch configuration or launch template, or one
            this cannot patch safely (the message says which and why).
    """
    _check_arguments(cluster_name, bootstrap_uri)
    resources = doc.get("Resources")
    if not isinstance(resources, dict):
        raise BadInput(
            "The template has no Resources mapping.",
            title="Not a CloudFormation template",
            hint="Give the CloudFormation template of the ECS cluster stack.",
        )
    patched = copy.deepcopy(doc)
    block = _BlockMaker(cluster_name=cluster_name, bootstrap_uri=bootstrap_uri)
    touched: list[str] = []
    for name, resource in patched["Resources"].items():
        kind = resource.get("Type") if isinstance(resource, dict) else None
        if kind == LAUNCH_CONFIGURATION:
            touched += _patch_launch_configuration(resource, f"Resources.{name}", block)
        elif kind == LAUNCH_TEMPLATE:
            touched += _patch_launch_template(resource, f"Resources.{name}", block)
    if not touched:
        raise BadInput(
            f"no {LAUNCH_CONFIGURATION} or {LAUNCH_TEMPLATE} in Resources: "
            "is this the console's ECS cluster stack?",
            title="Nothing to patch",
            hint="Give the template of the stack the ECS console made for the cluster's instances.",
        )
    return patched, [path for path in touched if _at(doc, path) != _at(patched, path)]


def _check_arguments(cluster_name: str, bootstrap_uri: str) -> None:
    if not _CLUSTER_NAME.fullmatch(cluster_name):
        raise BadInput(
            f"{cluster_name!r} is not an ECS cluster name.",
            title="Bad cluster name",
            hint="Use up to 255 letters, digits, hyphens and underscores.",
        )
    if not _S3_OBJECT.fullmatch(bootstrap_uri):
        raise BadInput(
            f"{bootstrap_uri!r} is not the S3 URI of a file.",
            title="Bad bootstrap URI",
            hint="Give the bootstrap script's object, e.g. s3://BUCKET/PREFIX/ENV/bootstrap/"
            "bootstrap.sh (not a folder: the instances copy one file and run it).",
        )


def _at(doc: Any, path: str) -> Any:
    """The value at a dotted path, or a marker when there is none."""
    for key in path.split("."):
        if not isinstance(doc, dict) or key not in doc:
            return _MISSING
        doc = doc[key]
    return doc


def _properties(resource: dict[str, Any], path: str) -> dict[str, Any]:
    properties = resource.setdefault("Properties", {})
    if not isinstance(properties, dict):
        raise BadInput(
            f"{path}.Properties is not a mapping, so it cannot be patched.", hint=_HINT_BY_HAND
        )
    return properties


def _is_false(value: Any) -> bool:
    return value is False or (isinstance(value, str) and value.lower() == "false")


def _set_false(mapping: dict[str, Any], key: str) -> None:
    """Set `key` to false, keeping a false the template already spells its own way."""
    if not _is_false(mapping.get(key)):
        mapping[key] = False


def _patch_launch_configuration(
    resource: dict[str, Any], path: str, block: _BlockMaker
) -> list[str]:
    properties = _properties(resource, path)
    _set_false(properties, "AssociatePublicIpAddress")
    user_data = f"{path}.Properties.UserData"
    properties["UserData"] = _patch_user_data(properties.get("UserData"), user_data, block)
    return [f"{path}.Properties.AssociatePublicIpAddress", user_data]


def _patch_launch_template(resource: dict[str, Any], path: str, block: _BlockMaker) -> list[str]:
    data_path = f"{path}.Properties.LaunchTemplateData"
    data = _properties(resource, path).setdefault("LaunchTemplateData", {})
    if not isinstance(data, dict):
        raise BadInput(
            f"{data_path} is not a mapping, so it cannot be patched.", hint=_HINT_BY_HAND
        )
    if "NetworkInterfaces" in data:
        _patch_interfaces(data, data_path)
    else:
        _add_interface(data, data_path)
    data["UserData"] = _patch_user_data(data.get("UserData"), f"{data_path}.UserData", block)
    return [f"{data_path}.{key}" for key in ("NetworkInterfaces", "SecurityGroupIds", "UserData")]


def _add_interface(data: dict[str, Any], data_path: str) -> None:
    """Add device 0 without a public IP, carrying the template's security groups."""
    if "SecurityGroups" in data:
        raise BadInput(
            f"{data_path} names its security groups (SecurityGroups), so they cannot move onto a "
            "network interface: an interface takes security group ids only, and EC2 refuses "
            "security groups on both the template and an interface.",
            title="Security groups by name",
            hint="Change SecurityGroups to SecurityGroupIds (the sg-... ids) and run again.",
        )
    interface: dict[str, Any] = {"DeviceIndex": 0, "AssociatePublicIpAddress": False}
    if "SecurityGroupIds" in data:
        interface["Groups"] = data.pop("SecurityGroupIds")
    data["NetworkInterfaces"] = [interface]


def _patch_interfaces(data: dict[str, Any], data_path: str) -> None:
    """Turn off public IPs on every interface; move template-level group ids onto device 0."""
    interfaces = data["NetworkInterfaces"]
    if not isinstance(interfaces, list) or not all(isinstance(i, dict) for i in interfaces):
        raise BadInput(
            f"{data_path}.NetworkInterfaces is not a list of interfaces, so it cannot be patched.",
            hint=_HINT_BY_HAND,
        )
    for interface in interfaces:
        _set_false(interface, "AssociatePublicIpAddress")
    if "SecurityGroupIds" in data:
        _move_groups(data, interfaces, data_path)


def _move_groups(data: dict[str, Any], interfaces: list[dict[str, Any]], data_path: str) -> None:
    primary = next((i for i in interfaces if str(i.get("DeviceIndex")) == "0"), None)
    if primary is None:
        raise BadInput(
            f"{data_path} has SecurityGroupIds and NetworkInterfaces without device index 0, "
            "so there is no interface to move the security groups onto.",
            hint="Put the security group ids on the interface with DeviceIndex 0 and run again.",
        )
    groups = data.pop("SecurityGroupIds")
    existing = primary.get("Groups")
    if existing is None:
        primary["Groups"] = groups
    elif isinstance(existing, list) and isinstance(groups, list):
        primary["Groups"] = existing + [group for group in groups if group not in existing]
    else:
        raise BadInput(
            f"{data_path} has SecurityGroupIds and device 0's Groups, and they cannot be merged "
            "(one is not a plain list).",
            hint="Keep the security group ids on the interface only and run again.",
        )


@dataclass(frozen=True)
class _BlockMaker:
    """Renders our block for one user-data script, from what the script already does."""

    cluster_name: str
    bootstrap_uri: str

    def for_script(self, script_text: str) -> str:
        """The block for a script whose readable text is `script_text` (our old block ignored)."""
        own = _BLOCK.sub("", script_text)
        return render_template(
            BLOCK_TEMPLATE,
            write_ecs_cluster="ECS_CLUSTER=" not in own,
            write_backend_host="ECS_BACKEND_HOST=" not in own,
            cluster_name=self.cluster_name,
            bootstrap_uri=self.bootstrap_uri,
        )


def _patch_user_data(value: Any, path: str, block: _BlockMaker) -> Any:
    """The user data `value` (absent: None) with our block at the end of each script in it.

    Handles what console and hand-written templates use: `Fn::Base64` over a string, `Fn::Sub`
    (string or `[string, variables]`) or `Fn::Join` (delimiter "" or "\\n"), `Fn::If` choosing
    between two of those, a base64 string, or no user data.

    Raises:
        BadInput: a shape this cannot patch without guessing.
    """
    if value is None or value == {"Ref": "AWS::NoValue"}:
        return {"Fn::Base64": _patch_text(NEW_SCRIPT_START, block, path)}
    if isinstance(value, str):
        return {"Fn::Base64": _patch_text(_decode_base64(value, path), block, path)}
    function, argument = _intrinsic(value)
    if function == "Fn::If":
        return {"Fn::If": _patch_if(argument, path, lambda v: _patch_user_data(v, path, block))}
    if function == "Fn::Base64":
        return {"Fn::Base64": _patch_script(argument, path, block)}
    raise _unknown_shape(path, value)


def _patch_script(value: Any, path: str, block: _BlockMaker) -> Any:
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


def _patch_sub(argument: Any, path: str, block: _BlockMaker) -> Any:
    if isinstance(argument, str):
        return _patch_text(argument, block, path, sub=True)
    if isinstance(argument, list) and len(argument) == 2 and isinstance(argument[0], str):
        return [_patch_text(argument[0], block, path, sub=True), argument[1]]
    raise _unknown_shape(path, {"Fn::Sub": argument})


def _patch_text(text: str, block: _BlockMaker, path: str, *, sub: bool = False) -> str:
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


def _patch_join(argument: Any, path: str, block: _BlockMaker) -> list[Any]:
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
