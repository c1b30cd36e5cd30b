"""Each of AWS's rules (tests/aws_rules.py) fails on a launch that breaks it, and holds on what
the wizard renders; the rules' bookkeeping itself (every call recorded, with its parameters,
from every thread)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import pytest

from tests.aws_rules import RULES, Evidence, recording, violations
from wizard.aws import Aws, AwsSettings
from wizard.config import LaunchConfig
from wizard.render import render_artifacts


def _aws(endpoint: str) -> Aws:
    return Aws(AwsSettings(region="us-east-1", endpoint_url=endpoint))


def _taskdef(config: LaunchConfig, component: str = "worker") -> dict[str, Any]:
    text = render_artifacts(config, "123456789012")[f"taskdef-{component}.json"]
    return dict(json.loads(text))


def test_every_rule_names_its_aws_source() -> None:
    assert RULES
    for rule in RULES.values():
        assert rule.source.startswith("https://docs.aws.amazon.com/"), rule.name
        assert " — " in rule.source, f"{rule.name}: say what the document says"


def test_calls_are_recorded_with_their_parameters_from_every_thread(aws_endpoint: str) -> None:
    aws = _aws(aws_endpoint)
    with recording() as evidence:
        threads = [
            threading.Thread(
                target=lambda n=n: aws.client("ssm").put_parameter(
                    Name=f"/rules/{n}", Value="v", Type="String"
                )
            )
            for n in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    names = sorted(call.params["Name"] for call in evidence.of("ssm", "PutParameter"))
    assert names == [f"/rules/{n}" for n in range(4)]
    assert {call.endpoint for call in evidence.calls} == {aws_endpoint}
    assert {call.region for call in evidence.calls} == {"us-east-1"}


def test_a_rendered_task_definition_keeps_the_rules(
    aws_endpoint: str, make_config: Callable[..., LaunchConfig]
) -> None:
    config = make_config()
    with recording() as evidence:
        ecs = _aws(aws_endpoint).client("ecs")
        for component in ("webserver", "worker", "initdb"):
            ecs.register_task_definition(**_taskdef(config, component))
    assert len(evidence.of("ecs", "RegisterTaskDefinition")) == 3
    assert violations(evidence) == []


@pytest.mark.breaks_aws_rule("no-secret-in-environment")
def test_a_secret_in_environment_breaks_the_rule(
    aws_endpoint: str, make_config: Callable[..., LaunchConfig]
) -> None:
    config = make_config()
    aws = _aws(aws_endpoint)
    document = _taskdef(config)
    fernet = "b2Zmb3JfdGhlX3J1bGVzX3Rlc3Rfb25seV9fX19fX18="
    with recording() as evidence:
        aws.client("ssm").put_parameter(
            Name="/rules/fernet", Value=fernet, Type="SecureString", Overwrite=True
        )
        broken = json.loads(json.dumps(document))
        broken["containerDefinitions"][0]["environment"].append(
            {"name": "AIRFLOW__CORE__FERNET_KEY", "value": fernet}
        )
        aws.client("ecs").register_task_definition(**broken)
    found = violations(evidence)
    assert len(found) == 1
    assert found[0].startswith("no-secret-in-environment: ")
    assert "AIRFLOW__CORE__FERNET_KEY is in environment" in found[0]

    # the same value under an innocent name is caught by its value
    with recording() as evidence:
        aws.client("ssm").put_parameter(
            Name="/rules/fernet", Value=fernet, Type="SecureString", Overwrite=True
        )
        broken = json.loads(json.dumps(document))
        broken["containerDefinitions"][0]["environment"].append(
            {"name": "MY_SETTING", "value": f"key={fernet}"}
        )
        aws.client("ecs").register_task_definition(**broken)
    assert [v.split("  [")[0] for v in violations(evidence)] == [
        f"no-secret-in-environment: {config.family('worker')}/worker: MY_SETTING holds a "
        "SecureString's value"
    ]


@pytest.mark.breaks_aws_rule("secrets-resolvable")
def test_a_secret_from_a_relative_path_breaks_the_rule(
    aws_endpoint: str, make_config: Callable[..., LaunchConfig]
) -> None:
    broken = _taskdef(make_config())
    broken["containerDefinitions"][0]["secrets"][0]["valueFrom"] = "airflow/fernet_key"
    with recording() as evidence:
        _aws(aws_endpoint).client("ecs").register_task_definition(**broken)
    assert [v.split(":")[0] for v in violations(evidence)] == ["secrets-resolvable"]


def test_skipping_an_unknown_rule_is_refused() -> None:
    with pytest.raises(ValueError, match="no such rules"):
        violations(Evidence(), skip=["no-such-rule"])
