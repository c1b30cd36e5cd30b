"""Reading IAM policy documents without asking IAM: the permissions a policy grants, as checks,
and whether a set of documents allows one.

The iam step uses it to check a role the config names when IAM's policy simulator cannot be
asked. It approximates IAM's evaluation of the documents given (only the string and ARN
condition operators are judged) and gives the role the benefit of the doubt: a condition it
cannot judge holds for an Allow and not for a Deny.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from dataclasses import dataclass
from typing import Any

Document = dict[str, Any]
SAMPLE = "airflow-ecs-wizard-check"
"""Stands for `*` in a resource or condition value when a given role is checked."""
_CONDITIONS = {"StringEquals", "StringLike", "ArnEquals", "ArnLike"}


@dataclass(frozen=True)
class Need:
    """One permission a role must have: an action on a resource, in a request's context."""

    action: str
    resource: str
    context: tuple[tuple[str, str], ...] = ()


def needs_of(policy: Document) -> list[Need]:
    """The permissions a policy grants, as checks (each `*` replaced by a sample value).

    Args:
        policy: A policy document this wizard writes (a `Statement` list of Allows).

    Returns:
        One need per action and resource, with the statement's condition keys as the context;
        the KMS statement is left out (the AWS managed key's policy grants it through SSM).
    """
    needs = []
    for statement in policy["Statement"]:
        if statement.get("Sid") == "DecryptParameters":
            continue  # the AWS managed key's own policy grants it to callers through SSM
        context = tuple(
            (key, listed(values)[0].replace("*", SAMPLE))
            for block in statement.get("Condition", {}).values()
            for key, values in block.items()
        )
        resources = listed(statement["Resource"])
        for resource in resources:
            if f"{resource}:*" not in resources:  # a log group's `:*` form stands for both
                sample = resource if resource == "*" else resource.replace("*", SAMPLE)
                needs += [Need(a, sample, context) for a in listed(statement["Action"])]
    return needs


def allows(documents: list[Document], need: Need) -> bool:
    """Whether the documents allow a need: an Allow applies and no Deny does.

    A condition on a key the need does not name is taken to hold for an Allow and not for a
    Deny.

    Args:
        documents: Policy documents, as dicts (see `parse_document`).
        need: The action, resource and request context to judge.

    Returns:
        True when some statement allows the need and none denies it.
    """
    allowed = False
    for statement in (s for d in documents for s in listed(d.get("Statement", []))):
        deny = statement.get("Effect") == "Deny"
        if _applies(statement, need, deny=deny):
            if deny:
                return False
            allowed = True
    return allowed


def parse_document(value: Any) -> Document:
    """A policy document as a dict.

    Args:
        value: A document as boto3 returns it: decoded already, or a raw URL-encoded string.

    Returns:
        The document (a copy).
    """
    if isinstance(value, str):
        return dict(json.loads(urllib.parse.unquote(value)))
    return dict(value)


def listed(value: Any) -> list[Any]:
    """A policy element that may be one value or a list of them, as a list.

    Args:
        value: An `Action`, `Resource`, `Statement` or condition value.

    Returns:
        The value itself when it is a list, else a list of it alone.
    """
    return list(value) if isinstance(value, list) else [value]


def _applies(statement: Document, need: Need, *, deny: bool) -> bool:
    for key, value, fold in (("Action", need.action, True), ("Resource", need.resource, False)):
        if key in statement:
            if not any(_glob(p, value, fold) for p in listed(statement[key])):
                return False
        elif any(_glob(p, value, fold) for p in listed(statement.get(f"Not{key}", []))):
            return False
    context = dict(need.context)
    for operator, block in statement.get("Condition", {}).items():
        base = operator.split(":")[-1].removesuffix("IfExists")
        for name, values in block.items():
            given = context.get(name)
            if given is None or base not in _CONDITIONS:
                if deny:
                    return False
                continue
            like = base.endswith("Like")
            if not any(_glob(v, given, False) if like else v == given for v in listed(values)):
                return False
    return True


def _glob(pattern: str, value: str, fold: bool) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE if fold else 0) is not None
