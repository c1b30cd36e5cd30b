"""The task_definitions step against the emulator: registers only what changed."""

from __future__ import annotations

import json
from collections.abc import Callable

from tests.test_steps import ACCOUNT, _context
from wizard.config import LaunchConfig
from wizard.steps.task_definitions import TaskDefinitionsStep, normalised

STEP = TaskDefinitionsStep()


def test_registers_every_component_once(
    make_config: Callable[..., LaunchConfig], aws_endpoint: str
) -> None:
    config = make_config(aws__endpoint_url=aws_endpoint)
    ctx = _context(config)
    plan = STEP.plan(ctx)
    assert [a.verb for a in plan.actions] == ["create"] * 7
    STEP.apply(ctx)
    ecs = ctx.aws.client("ecs")
    families = set(ecs.list_task_definition_families(status="ACTIVE")["families"])
    assert families == {config.family(c) for c in config.rendered_components}
    worker = ecs.describe_task_definition(taskDefinition=config.family("worker"))["taskDefinition"]
    container = worker["containerDefinitions"][0]
    assert container["image"] == config.image_uri(ACCOUNT)
    assert {s["name"] for s in container["secrets"]} >= {"AIRFLOW__CORE__FERNET_KEY"}

    # nothing changed: every action is a no-op and no call registers anything
    again = _context(config)
    assert {a.verb for a in STEP.plan(again).actions} == {"no-op"}
    STEP.apply(again)
    assert again.aws.recorder.mutating() == {}


def test_a_change_registers_one_new_revision_with_a_diff(
    make_config: Callable[..., LaunchConfig], aws_endpoint: str
) -> None:
    config = make_config(aws__endpoint_url=aws_endpoint)
    STEP.apply(_context(config))
    bigger = make_config(aws__endpoint_url=aws_endpoint, components__worker__memory=4096)
    ctx = _context(bigger)
    plan = STEP.plan(ctx)
    changed = [a for a in plan.actions if a.verb != "no-op"]
    assert [(a.verb, a.name, a.detail) for a in changed] == [
        ("update", "airflow-staging-worker", "revision 2")
    ]
    assert '-      "memory": 3072,\n+      "memory": 4096,' in changed[0].diff
    STEP.apply(ctx)
    assert ctx.aws.recorder.mutating() == {"ecs.RegisterTaskDefinition": 1}


def test_normalised_keeps_only_what_we_set() -> None:
    rendered = {"family": "f", "containerDefinitions": [{"name": "a", "memory": 1}]}
    registered = {
        "family": "f",
        "revision": 3,
        "containerDefinitions": [{"name": "a", "memory": 1, "volumesFrom": []}],
    }
    assert normalised(registered, rendered) == rendered
    registered["containerDefinitions"][0]["memory"] = 2
    assert json.dumps(normalised(registered, rendered)) != json.dumps(rendered)
