"""What every step is: read-only `discover` and `plan`, and an idempotent `apply`.

A step looks before it creates, tags what it creates with the launch name, records each
created id in the state file the moment AWS returns it (before any wait), and on resume adopts
what an interrupted run created (found by tag or name) instead of creating a second one.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Literal

from botocore.exceptions import ClientError

from wizard.aws import Aws
from wizard.config import LaunchConfig
from wizard.errors import WizardError
from wizard.state import Resource, StateFile
from wizard.taskdefs import LAUNCH_TAG

Verb = Literal["create", "update", "no-op", "check"]


@dataclass(frozen=True)
class Action:
    """One thing a step would do: create, update, leave alone, or only check."""

    verb: Verb
    kind: str
    name: str
    detail: str = ""
    diff: str = ""

    def __str__(self) -> str:
        detail = f" ({self.detail})" if self.detail else ""
        return f"{self.verb:6} {self.kind} {self.name}{detail}"


@dataclass
class StepPlan:
    """What applying a step would do, with the artifacts to preview and what blocks it.

    Three kinds of entry tell apart who acts: `actions` are what apply does by itself;
    `consents` are changes apply makes only with the user's consent, to what this launch does
    not own (another team's security group, a console stack's instance role), given by
    confirming the preview or with `apply --yes`; `problems` are what only the user can do
    (fix the config, push an image, run the printed SQL), and they block the step.
    """

    step: str
    actions: list[Action] = field(default_factory=list)
    artifacts: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    consents: list[str] = field(default_factory=list)
    """Changes (also listed in `actions`) that need the user's consent, each saying what it
    changes and how to make it by hand instead."""

    @property
    def changes(self) -> list[Action]:
        """The actions that would change AWS."""
        return [action for action in self.actions if action.verb in ("create", "update")]

    def digest(self) -> str:
        """A digest of what was previewed: apply asks again when the plan changed since."""
        payload = {
            "actions": [asdict(action) for action in self.actions],
            "artifacts": self.artifacts,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Choice:
    """Something a user can pick in a form (a VPC, a bucket, an image tag)."""

    value: str
    label: str


@dataclass
class StepContext:
    """What a step works with: the config, AWS, the state, and a progress callback."""

    config: LaunchConfig
    aws: Aws
    account_id: str
    state: StateFile | None = None
    progress: Callable[[str], None] = field(default=lambda message: None)
    yes: bool = False

    @property
    def launch_tags(self) -> list[dict[str, str]]:
        """The launch tag in the `Key`/`Value` form most services take."""
        return [{"Key": LAUNCH_TAG, "Value": self.config.name}]

    def outputs(self, step: str) -> dict[str, Any]:
        """What another step recorded (empty when there is no state or it has not run)."""
        if self.state is None:
            return {}
        return dict(self.state.step(step).outputs)


class Step(ABC):
    """One checklist item of the runbook."""

    name: ClassVar[str]
    title: ClassVar[str]
    depends_on: ClassVar[tuple[str, ...]] = ()

    def discover(self, ctx: StepContext) -> dict[str, list[Choice]]:
        """Read-only lists a user chooses from, by config field (none by default)."""
        return {}

    @abstractmethod
    def plan(self, ctx: StepContext) -> StepPlan:
        """What apply would do; makes only read calls."""

    @abstractmethod
    def apply(self, ctx: StepContext) -> None:
        """Do it, exactly once, recording what was created as it goes."""

    def retire(self, ctx: StepContext) -> None:
        """Once every step applied: delete what earlier versions of this launch made under
        names it no longer uses (nothing by default)."""
        return None

    # Helpers for apply: record at once, so an interruption never loses a created resource.

    def created(self, ctx: StepContext, kind: str, identifier: str) -> None:
        """Record a resource this launch created."""
        self._record(ctx, kind, identifier, created=True)

    def adopted(self, ctx: StepContext, kind: str, identifier: str) -> None:
        """Record a resource that existed already and that this launch uses."""
        self._record(ctx, kind, identifier, created=False)

    def record_found(
        self, ctx: StepContext, kind: str, identifier: str, tags: Sequence[Mapping[str, str]]
    ) -> None:
        """Record a resource found in AWS: created by this launch when it has the launch tag
        (in the `Key`/`Value` or `key`/`value` form) or a create of it was under way when a
        run stopped, else adopted. Never decided from the state's silence."""
        mine = {LAUNCH_TAG: ctx.config.name}.items() <= {
            str(t.get("Key", t.get("key"))): str(t.get("Value", t.get("value"))) for t in tags
        }.items()
        intended = ctx.state is not None and ctx.state.intended(kind, identifier)
        self._record(ctx, kind, identifier, created=mine or intended)

    def is_own(self, ctx: StepContext, kind: str, identifier: str) -> bool:
        """Whether the state records this resource as made by this launch."""
        record = ctx.state.recorded(kind, identifier) if ctx.state is not None else None
        return record is not None and record.created

    def is_recorded(self, ctx: StepContext, kind: str, identifier: str) -> bool:
        """Whether the state records this resource already (so its tags need not be read)."""
        return ctx.state is not None and ctx.state.recorded(kind, identifier) is not None

    @contextmanager
    def creating(self, ctx: StepContext, kind: str, identifier: str) -> Iterator[None]:
        """Around a create whose result AWS cannot tag as the launch's in the same call: the
        intent is saved before it, so a run that dies before the record still knows the
        resource is its own. AWS refusing the call (a ClientError) drops the intent."""
        if ctx.state is not None:
            resource = Resource(kind=kind, id=identifier, created=True, region=ctx.aws.region)
            ctx.state.record_intent(self.name, resource)
        try:
            yield
        except ClientError:
            if ctx.state is not None:
                ctx.state.drop_intent(self.name, kind, identifier)
            raise

    def _record(self, ctx: StepContext, kind: str, identifier: str, *, created: bool) -> None:
        if ctx.state is not None:
            resource = Resource(kind=kind, id=identifier, created=created, region=ctx.aws.region)
            ctx.state.record_resource(self.name, resource)

    def set_outputs(self, ctx: StepContext, **outputs: Any) -> None:
        """Record what later steps need (ids, ARNs, endpoints; never a secret value)."""
        if ctx.state is not None:
            ctx.state.set_outputs(self.name, **outputs)

    def blocked(self, plan: StepPlan, ctx: StepContext | None = None) -> None:
        """Refuse to apply a plan with problems, listing them; with `ctx`, also one with
        changes that need a consent the user has not given."""
        if plan.problems:
            raise WizardError(
                "; ".join(plan.problems),
                title=f"{self.title}: cannot apply",
                hint="Fix the config or the account as described, then run apply again.",
            )
        if ctx is not None:
            refuse_without_consent(plan, yes=ctx.yes, title=self.title)


def refuse_without_consent(plan: StepPlan, *, yes: bool, title: str) -> None:
    """Refuse a plan whose changes need a consent that was not given (`yes`).

    Raises:
        WizardError: listing those changes, and how to give the consent or make them by hand.
    """
    if plan.consents and not yes:
        raise WizardError(
            "; ".join(plan.consents),
            title=f"{title}: needs your consent",
            hint="Confirm the preview in the wizard, or run apply with --yes, to let the wizard "
            "make these changes; or make them yourself as described, then apply again. "
            "Nothing was changed.",
        )
