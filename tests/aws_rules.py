"""AWS's rules, written down where the emulator does not enforce them.

moto accepts launches that AWS would refuse, or accept and then leave broken (a task no capacity
provider scales for, a security group that drops a flow, a secret in plain `environment`). Each
rule here states one such rule of AWS's, names the AWS document it comes from, and checks it over
what a launch did:

- `Evidence.calls`: every API call any `Aws` made during the test, with its parameters (recorded
  through `wizard.aws.observe_calls`, before the request is built, so it is what we *sent*, even
  where moto drops a field: `serviceConnectConfiguration`, `capacityProviderStrategy`);
- `Evidence.aws()`: clients on the emulator, to read what it holds after the test.

`conftest.py` runs every rule after every test that used the emulator (`aws_endpoint`) and
passed, and fails the test with the violations. A test that breaks a rule on purpose says so with
`@pytest.mark.breaks_aws_rule("rule-name")`. `tests/test_aws_rules.py` shows each rule failing
on a launch that breaks it.

Adding a rule: a function `(evidence) -> Iterable[str]` (one message per violation) decorated
with `@rule("name", source="URL — the sentence it rests on")`. A rule judges only the calls it is
about, so it passes trivially on tests that never made them.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from wizard.aws import Aws, AwsSettings, observe_calls


@dataclass(frozen=True)
class Call:
    """One API call as it was sent."""

    service: str
    operation: str
    params: dict[str, Any]
    region: str
    endpoint: str


@dataclass
class Evidence:
    """What a test's launch sent to AWS, and where."""

    calls: list[Call] = field(default_factory=list)

    def of(self, service: str, *operations: str) -> list[Call]:
        """The calls of these operations of one service, in the order they were made."""
        return [c for c in self.calls if c.service == service and c.operation in operations]

    def aws(self, region: str = "") -> Aws:
        """Clients on the endpoint and region the launch used (its first call's)."""
        first = self.calls[0]
        return Aws(AwsSettings(region=region or first.region, endpoint_url=first.endpoint))

    def secure_string_values(self) -> set[str]:
        """Every SecureString value the launch put into SSM."""
        return {
            str(c.params["Value"])
            for c in self.of("ssm", "PutParameter")
            if c.params.get("Type") == "SecureString" and c.params.get("Value")
        }


@dataclass(frozen=True)
class Rule:
    """One of AWS's rules and the document it comes from."""

    name: str
    source: str
    check: Callable[[Evidence], Iterable[str]]


RULES: dict[str, Rule] = {}


def rule(name: str, *, source: str) -> Callable[[Callable[[Evidence], Iterable[str]]], Any]:
    """Register a rule under `name`; `source` names the AWS document (URL and what it says)."""

    def register(check: Callable[[Evidence], Iterable[str]]) -> Callable[[Evidence], Any]:
        if name in RULES:
            raise ValueError(f"two rules named {name}")
        RULES[name] = Rule(name, source, check)
        return check

    return register


def violations(evidence: Evidence, *, skip: Iterable[str] = ()) -> list[str]:
    """Every violation of every rule (but those skipped), as `rule: message` lines."""
    skipped = set(skip)
    unknown = skipped - RULES.keys()
    if unknown:
        raise ValueError(f"no such rules: {sorted(unknown)}")
    if not evidence.calls:
        return []
    return [
        f"{name}: {message}  [{RULES[name].source}]"
        for name in sorted(RULES.keys() - skipped)
        for message in RULES[name].check(evidence)
    ]


@contextmanager
def recording() -> Iterator[Evidence]:
    """Collect every call made in the block into an `Evidence`."""
    evidence = Evidence()
    lock = threading.Lock()

    def observe(
        service: str, operation: str, params: dict[str, Any], region: str, endpoint: str
    ) -> None:
        with lock:
            evidence.calls.append(Call(service, operation, dict(params), region, endpoint))

    with observe_calls(observe):
        yield evidence


# --- the rules --------------------------------------------------------------------------------

SECRET_OPTION = re.compile(
    r"(FERNET_KEY|SECRET_KEY|JWT_SECRET|SQL_ALCHEMY_CONN|RESULT_BACKEND|PASSWORD|AUTH_TOKEN)$"
)
"""`AIRFLOW__…` names (and plain names) that carry a secret by what they are."""


def _containers(evidence: Evidence) -> Iterator[tuple[str, dict[str, Any]]]:
    for call in evidence.of("ecs", "RegisterTaskDefinition"):
        for container in call.params.get("containerDefinitions", []):
            yield str(call.params.get("family")), container


@rule(
    "no-secret-in-environment",
    source="https://docs.aws.amazon.com/AmazonECS/latest/developerguide/specifying-sensitive-data.html"
    " — sensitive data goes in `secrets` (Secrets Manager or SSM Parameter Store); `environment` "
    "values are visible to anyone who can describe the task definition",
)
def no_secret_in_environment(evidence: Evidence) -> Iterator[str]:
    """No task definition carries a secret in plain `environment`: neither an option that is a
    secret by name, nor a value the launch keeps in a SecureString."""
    values = evidence.secure_string_values()
    for family, container in _containers(evidence):
        for variable in container.get("environment", []):
            name, value = str(variable.get("name", "")), str(variable.get("value", ""))
            if SECRET_OPTION.search(name):
                yield f"{family}/{container.get('name')}: {name} is in environment"
            elif any(secret and secret in value for secret in values):
                yield f"{family}/{container.get('name')}: {name} holds a SecureString's value"


SSM_ARN = re.compile(r"^arn:aws[\w-]*:ssm:(?P<region>[\w-]+):\d{12}:parameter/.+")


@rule(
    "secrets-resolvable",
    source="https://docs.aws.amazon.com/AmazonECS/latest/developerguide/secrets-envvar-ssm-paramstore.html"
    " — a parameter in the task's Region may be named by name or ARN, in another Region by its "
    "full ARN; and https://docs.aws.amazon.com/systems-manager/latest/userguide/"
    "sysman-paramstore-su-create.html — a name that contains '/' must be fully qualified with a "
    "leading '/'",
)
def secrets_resolvable(evidence: Evidence) -> Iterator[str]:
    """Every `secrets[].valueFrom` names an SSM parameter ECS can find from the task's Region."""
    for call in evidence.of("ecs", "RegisterTaskDefinition"):
        for container in call.params.get("containerDefinitions", []):
            for secret in container.get("secrets", []):
                source = str(secret.get("valueFrom", ""))
                if source.startswith("arn:"):
                    match = SSM_ARN.match(source)
                    if match is None and ":secretsmanager:" not in source:
                        yield f"{call.params.get('family')}: {secret.get('name')} from {source}"
                elif not source.startswith("/") and "/" in source:
                    yield (
                        f"{call.params.get('family')}: {secret.get('name')} from {source!r}: a "
                        "name with a path must start with '/'"
                    )
