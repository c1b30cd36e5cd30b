"""Patch a console-made ECS cluster template: no public IPs, and user data that runs our bootstrap.

The runbook patches the CloudFormation template the ECS console made by hand. This does the same:
for every launch configuration or launch template, the instances get no public IP address (a launch
template's security group ids move onto its network interface, as EC2 requires), and the user data
gets our bootstrap block at its end (see `wizard.user_data_patch`). Patching a patched template
changes nothing. Everything else in the template is left as it was.

The diff is between the dump of the original document and the dump of the patched one, not between
the input text and the output. Dumping normalises (YAML comments, quoting and flow style, JSON
spacing are not kept), so a diff against the raw text would mark every reformatted line as changed
and bury the few lines that matter; and a template fetched with `get_template` may be a dict with
no text at all. Both sides of the diff are written the same way, so it shows only what the patch
changed.
"""

from __future__ import annotations

import copy
import difflib
import re
from dataclasses import dataclass
from typing import Any, Literal

from wizard.cfn_template import load_template
from wizard.errors import BadInput, quoted
from wizard.user_data_patch import BlockMaker, patch_user_data

LAUNCH_CONFIGURATION = "AWS::AutoScaling::LaunchConfiguration"
LAUNCH_TEMPLATE = "AWS::EC2::LaunchTemplate"
_CLUSTER_NAME = re.compile(r"[A-Za-z0-9_-]{1,255}", re.ASCII)
_S3_OBJECT = re.compile(
    r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/[^\s\x00-\x1f\x7f]*[^/\s\x00-\x1f\x7f]"
)
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
    block = BlockMaker(cluster_name=cluster_name, bootstrap_uri=bootstrap_uri)
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
            f"{quoted(cluster_name)} is not an ECS cluster name.",
            title="Bad cluster name",
            hint="Use up to 255 letters, digits, hyphens and underscores.",
        )
    if not _S3_OBJECT.fullmatch(bootstrap_uri):
        raise BadInput(
            f"{quoted(bootstrap_uri)} is not the S3 URI of a file.",
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
    resource: dict[str, Any], path: str, block: BlockMaker
) -> list[str]:
    properties = _properties(resource, path)
    _set_false(properties, "AssociatePublicIpAddress")
    user_data = f"{path}.Properties.UserData"
    properties["UserData"] = patch_user_data(properties.get("UserData"), user_data, block)
    return [f"{path}.Properties.AssociatePublicIpAddress", user_data]


def _patch_launch_template(resource: dict[str, Any], path: str, block: BlockMaker) -> list[str]:
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
    data["UserData"] = patch_user_data(data.get("UserData"), f"{data_path}.UserData", block)
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
