"""Limits on untrusted input, checked before anything is parsed whole.

A config, a state file or a template given to `patch-template` may be anything: bytes that are not
UTF-8, a file of many megabytes, 100,000 nested brackets, or a few kilobytes of YAML aliases that
expand to gigabytes (a "billion laughs"). Each is refused as bad input (exit 2) with a message,
before a parser recurses or a loader builds the expansion.

The size limit is CloudFormation's own: a template body read from S3 is at most 1 MB
(https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from wizard.errors import BadInput

MAX_INPUT_BYTES = 1024 * 1024
"""The largest template read: CloudFormation's template size limit (1 MB)."""
MAX_CONFIG_BYTES = 4 * MAX_INPUT_BYTES
"""The largest config read: a real one is a few kilobytes, and this leaves room for a field's
absurd value to be named as such by validation (every string field is capped far below)."""
MAX_DEPTH = 100
"""The deepest nesting of lists and mappings accepted (a real template nests about 10 deep)."""
MAX_YAML_ALIASES = 50
"""The most YAML aliases (`*name`) a template may use."""
MAX_YAML_NODES = 500_000
"""The most nodes a YAML document may hold once its aliases are expanded."""


def read_limited(
    path: Path | None,
    what: str,
    *,
    hint: str,
    title: str = "Unreadable",
    limit: int = MAX_INPUT_BYTES,
) -> bytes:
    """A file's bytes (stdin's for None), refusing more than `limit` without reading further.

    Raises:
        BadInput: the input cannot be read, or is too large.
    """
    source = "stdin" if path is None else str(path)
    try:
        if path is None:
            data = sys.stdin.buffer.read(limit + 1)
        else:
            with path.open("rb") as file:
                data = file.read(limit + 1)
    except OSError as error:
        raise BadInput(
            f"Cannot read {what} {source}: {error.strerror or error}", title=title, hint=hint
        ) from error
    if len(data) > limit:
        raise BadInput(
            f"{source} is larger than {limit:,} bytes, the limit for {what}.",
            title="Input too large",
            hint=hint,
        )
    return data


def decode_utf8(data: bytes, source: str, *, hint: str) -> str:
    """The text of UTF-8 bytes; binary data and UTF-16 are refused with where they go wrong.

    Raises:
        BadInput: the bytes are not UTF-8 text.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BadInput(
            f"{source} is not UTF-8 text (byte 0x{data[error.start]:02x} at offset "
            f"{error.start}): it may be binary, or saved as UTF-16 or Latin-1.",
            title="Not UTF-8",
            hint=f"Save it as UTF-8. {hint}",
        ) from None
    if "\x00" in text:
        raise BadInput(
            f"{source} holds NUL bytes: it is binary, or UTF-16 text, not UTF-8.",
            title="Not UTF-8",
            hint=f"Save it as UTF-8. {hint}",
        )
    return text


def too_deep(source: str, *, hint: str) -> BadInput:
    """The error for input nested deeper than `MAX_DEPTH` (or than the parser can follow)."""
    return BadInput(
        f"{source} nests lists or mappings more than {MAX_DEPTH} deep.",
        title="Input nested too deep",
        hint=hint,
    )


def check_depth(document: Any, source: str, *, hint: str) -> None:
    """Refuse parsed data nested deeper than `MAX_DEPTH` (walked without recursion).

    Raises:
        BadInput: the data is nested too deep.
    """
    stack: list[tuple[Any, int]] = [(document, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise too_deep(source, hint=hint)
        children: Iterable[Any] = (
            node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        )
        stack.extend((child, depth + 1) for child in children)


def check_yaml_events(text: str, loader: type[Any], source: str, *, hint: str) -> None:
    """Walk the YAML event stream (which builds nothing) and refuse, before loading: nesting deeper
    than `MAX_DEPTH`, more than `MAX_YAML_ALIASES` aliases, or more than `MAX_YAML_NODES` nodes
    once aliases are expanded. A YAML syntax error is left for the loader to report.

    Raises:
        BadInput: the document is nested too deep, or uses too many aliases or nodes.
    """
    import yaml

    sizes: dict[str, int] = {}  # anchor -> the expanded node count of what it names
    open_nodes: list[tuple[str | None, int]] = []  # (anchor, nodes so far) per open collection
    aliases = done = 0
    try:
        for event in yaml.parse(text, Loader=loader):
            size = 0
            if isinstance(event, yaml.AliasEvent):
                aliases += 1
                if aliases > MAX_YAML_ALIASES:
                    raise _too_many(f"more than {MAX_YAML_ALIASES} YAML aliases", source, hint)
                size = sizes.get(event.anchor or "", 1)
            elif isinstance(event, yaml.ScalarEvent):
                size = 1
                if event.anchor:
                    sizes[event.anchor] = 1
            elif isinstance(event, yaml.CollectionStartEvent):
                open_nodes.append((event.anchor, 1))
                if len(open_nodes) > MAX_DEPTH:
                    raise too_deep(source, hint=hint)
                continue
            elif isinstance(event, yaml.CollectionEndEvent):
                anchor, size = open_nodes.pop()
                if anchor:
                    sizes[anchor] = size
            else:
                continue
            if open_nodes:
                anchor, count = open_nodes[-1]
                open_nodes[-1] = (anchor, count + size)
            else:
                done += size
            # every node so far: the finished documents' and the open collections' (each holds
            # its finished children, so none is counted twice)
            if done + sum(count for _, count in open_nodes) > MAX_YAML_NODES:
                raise _too_many(f"more than {MAX_YAML_NODES:,} nodes", source, hint)
    except yaml.YAMLError:
        return


def _too_many(what: str, source: str, hint: str) -> BadInput:
    return BadInput(
        f"{source} expands to {what} (YAML aliases repeat what they name): refused before "
        "loading, so that a few kilobytes cannot take gigabytes of memory.",
        title="Template too large once expanded",
        hint=hint,
    )
