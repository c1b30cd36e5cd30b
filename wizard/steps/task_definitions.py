"""Step task_definitions: register a revision per component only when the rendered definition
differs from the latest active one."""

from __future__ import annotations

import difflib
import json
from typing import Any

from botocore.exceptions import ClientError

from wizard.aws import error_code
from wizard.checklist import CHECKLIST
from wizard.render import render_artifacts
from wizard.steps.base import Action, Step, StepContext, StepPlan


def normalised(registered: Any, rendered: Any) -> Any:
    """What AWS holds, cut down to the keys the rendered definition sets.

    AWS adds keys (ARN, revision, status, defaults such as empty `volumesFrom`); comparing
    only what we set means an unchanged definition compares equal, and a changed value of
    anything we set does not.
    """
    if isinstance(rendered, dict) and isinstance(registered, dict):
        return {key: normalised(registered.get(key), value) for key, value in rendered.items()}
    if isinstance(rendered, list) and isinstance(registered, list):
        if len(rendered) != len(registered):
            return registered
        return [normalised(have, want) for have, want in zip(registered, rendered, strict=True)]
    return registered


class TaskDefinitionsStep(Step):
    """One task definition per component (and the migrate task), registered when changed."""

    name = "task_definitions"
    title = CHECKLIST["task_definitions"]
    depends_on = ("iam", "secrets", "database", "redis", "image")

    def rendered(self, ctx: StepContext) -> dict[str, dict[str, Any]]:
        """The `RegisterTaskDefinition` input of every component, by component."""
        artifacts = render_artifacts(ctx.config, ctx.account_id)
        return {
            name.removeprefix("taskdef-").removesuffix(".json"): json.loads(text)
            for name, text in artifacts.items()
            if name.startswith("taskdef-")
        }

    def plan(self, ctx: StepContext) -> StepPlan:
        plan = StepPlan(self.name)
        for component, document, current in self._assess(ctx):
            plan.artifacts[f"taskdef-{component}.json"] = _text(document)
            plan.actions.append(_action(component, document, current))
        return plan

    def apply(self, ctx: StepContext) -> None:
        ecs = ctx.aws.client("ecs")
        revisions: dict[str, str] = {}
        for component, document, current in self._assess(ctx):
            if current is not None and _action(component, document, current).verb == "no-op":
                revisions[component] = arn = current["taskDefinitionArn"]
                # a revision registered by a run that died before recording it is tagged ours
                self.record_found(ctx, "ecs:task-definition", arn, current.get("tags", []))
                continue
            arn = ecs.register_task_definition(**document)["taskDefinition"]["taskDefinitionArn"]
            self.created(ctx, "ecs:task-definition", arn)
            revisions[component] = arn
        self.set_outputs(ctx, **revisions)

    def _assess(self, ctx: StepContext) -> list[tuple[str, dict[str, Any], dict[str, Any] | None]]:
        """Each component's rendered definition and the latest active one AWS holds."""
        return [
            (component, document, self._latest(ctx, document["family"]))
            for component, document in self.rendered(ctx).items()
        ]

    @staticmethod
    def _latest(ctx: StepContext, family: str) -> dict[str, Any] | None:
        try:
            found = ctx.aws.client("ecs").describe_task_definition(
                taskDefinition=family, include=["TAGS"]
            )
        except ClientError as error:
            if error_code(error) in {"ClientException", "InvalidParameterException"}:
                return None
            raise
        definition = dict(found["taskDefinition"])
        definition["tags"] = found.get("tags", [])  # returned beside the definition, not in it
        return definition if definition.get("status") == "ACTIVE" else None


def _text(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2) + "\n"


def _action(component: str, document: dict[str, Any], current: dict[str, Any] | None) -> Action:
    """Create, update (with a diff against the registered revision) or leave alone."""
    family = document["family"]
    if current is None:
        return Action("create", "ecs:task-definition", family, "revision 1")
    have, want = _text(normalised(current, document)), _text(document)
    if have == want:
        return Action(
            "no-op", "ecs:task-definition", family, f"revision {current['revision']} is current"
        )
    diff = "".join(
        difflib.unified_diff(
            have.splitlines(keepends=True),
            want.splitlines(keepends=True),
            fromfile=f"{family}:{current['revision']} (registered)",
            tofile=f"taskdef-{component}.json (rendered)",
        )
    )
    return Action(
        "update", "ecs:task-definition", family, f"revision {current['revision'] + 1}", diff
    )
