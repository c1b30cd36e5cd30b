"""A launch as the CLI and the TUI drive it: connect, plan every step, apply them in parallel.

Every apply re-runs every step: each one re-checks AWS, so a resource deleted out of band is
created again and nothing else is touched, and a launch that is complete makes no mutating
call. With `only`, the named steps run and their dependencies must be applied already.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from wizard.aws import Aws, AwsSettings, CallRecorder, wait_scale_from_environment
from wizard.config import LaunchConfig
from wizard.config_file import dump_config
from wizard.errors import BadInput, WizardError, aws_failure, failure_text
from wizard.runner import EventSink, RunResult, order, run_steps
from wizard.state import StateFile
from wizard.steps import GRAPH, STEPS
from wizard.steps.base import StepContext, StepPlan, refuse_without_consent


@dataclass
class Launch:
    """One launch, connected: its config, AWS, the account, and (when applying) its state."""

    config: LaunchConfig
    aws: Aws
    account_id: str
    state: StateFile | None = None
    yes: bool = False

    def context(self, progress: Callable[[str], None] | None = None) -> StepContext:
        """A step's context; `progress` receives the step's progress messages."""
        return StepContext(
            config=self.config,
            aws=self.aws,
            account_id=self.account_id,
            state=self.state,
            progress=progress or (lambda message: None),
            yes=self.yes,
        )


def config_digest(config: LaunchConfig) -> str:
    """A digest of the inputs, kept in the state to tell when they changed."""
    return hashlib.sha256(dump_config(config).encode()).hexdigest()


def settings_of(config: LaunchConfig) -> AwsSettings:
    """Where the config says to connect (and how long to pause between polls)."""
    return AwsSettings(
        region=config.aws.region,
        profile=config.aws.profile,
        endpoint_url=config.aws.endpoint_url,
        wait_scale=wait_scale_from_environment(),
    )


def connect(
    config: LaunchConfig, *, read_only: bool, recorder: CallRecorder | None = None
) -> Launch:
    """Connect to AWS and learn the account (STS is allowed in read-only mode too)."""
    aws = Aws(settings_of(config), read_only=read_only, recorder=recorder)
    return Launch(config=config, aws=aws, account_id=account_of(aws))


def account_of(aws: Aws) -> str:
    """The account of the credentials (the first call: it tells whether AWS answers)."""
    try:
        return str(aws.probe_client("sts").get_caller_identity()["Account"])
    except Exception as error:
        raise unreachable(error, aws.settings) from error


def unreachable(error: Exception, settings: AwsSettings) -> Exception:
    """Why the first call failed, as the user can act on it (other errors unchanged)."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectionError,
        NoCredentialsError,
        NoRegionError,
    )

    check = (
        "Check --profile, --region and --endpoint-url (or the config's [aws] table), or run "
        "`aws sts get-caller-identity` with the same settings."
    )
    message = f"Cannot reach AWS as the config says ({error})"
    if isinstance(error, NoCredentialsError):
        return WizardError(
            message,
            title="No AWS credentials",
            hint="Name a profile (--profile, or aws.profile in the config), run `aws sso login`, "
            "or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; `aws sts get-caller-identity` "
            "checks them. To try the wizard without an account: airflow-ecs-wizard --sandbox.",
        )
    if isinstance(error, NoRegionError):
        return WizardError(message, title="No AWS region", hint=check)
    if isinstance(error, ConnectionError):
        where = settings.endpoint_url or "AWS"
        return WizardError(
            message,
            title="AWS does not answer",
            hint=f"Nothing answered at {where}. If it is an emulator, start it again (a "
            "sandbox launch: airflow-ecs-wizard --sandbox); otherwise check the network. " + check,
        )
    everyday = aws_failure(error)  # a profile that does not exist, a server error, ...
    if everyday is not None:
        return everyday
    if isinstance(error, BotoCoreError | ClientError):
        return WizardError(message, title="AWS refused the credentials", hint=check)
    return error


def open_state(launch: Launch, path: Path) -> StateFile:
    """The launch's state: opened and checked against the credentials, or created."""
    config = launch.config
    if path.exists():
        state = StateFile.open(path, launch=config.name)
        state.check_target(launch.account_id, launch.aws.region)
    else:
        state = StateFile.create(
            path,
            launch=config.name,
            account_id=launch.account_id,
            region=launch.aws.region,
            config_digest=config_digest(config),
        )
    return state


def plan_step(launch: Launch, name: str) -> StepPlan:
    """One step's plan; a step that cannot be planned yet (an earlier step has not applied, the
    account lacks something) gets a plan whose problem says why, instead of an error."""
    try:
        return STEPS[name].plan(launch.context())
    except WizardError as error:
        return StepPlan(name, problems=[error.message])


def plan_launch(launch: Launch, steps: Iterable[str] | None = None) -> dict[str, StepPlan]:
    """Every step's plan, in dependency order; read-only whatever `launch.aws` allows."""
    names = list(steps) if steps is not None else order(GRAPH)
    return {name: STEPS[name].plan(launch.context()) for name in names}


class PlanChanged(WizardError):
    """What a step would do is no longer what the user confirmed: show the preview again."""

    def __init__(self, step: str) -> None:
        super().__init__(
            f"What {step} would do changed since its preview was confirmed "
            "(AWS or an earlier step changed it).",
            title="The plan changed",
            hint="Look at the preview again and confirm it; nothing was applied.",
        )
        self.step = step


def apply_launch(
    launch: Launch,
    *,
    only: Iterable[str] | None = None,
    on_event: EventSink | None = None,
    confirmed: Mapping[str, str] | None = None,
) -> RunResult:
    """Apply the launch's steps in parallel where independent, recording progress in state.

    Args:
        launch: the connected launch, with its state.
        only: apply just these steps (their dependencies must have applied).
        on_event: receives the runner's events (from worker threads).
        confirmed: the digest of each step's plan as the user confirmed it; a step whose plan
            now differs fails with `PlanChanged` before it changes anything.

    Raises:
        BadInput: `only` names an unknown step, or a step whose dependencies have not applied.
    """
    state = launch.state
    if state is None:
        raise WizardError("apply needs a state file", title="No state")
    chosen = list(only) if only is not None else None
    done: list[str] = []
    if chosen is not None:
        unknown = sorted(set(chosen) - set(STEPS))
        if unknown:
            raise BadInput(
                f"unknown step(s) {', '.join(unknown)}",
                title="Bad --only",
                hint=f"The steps are: {', '.join(STEPS)}.",
            )
        done = state.applied_steps()
        missing = sorted({d for name in chosen for d in GRAPH[name]} - set(done) - set(chosen))
        if missing:
            raise BadInput(
                f"{', '.join(chosen)} needs {', '.join(missing)} applied first",
                title="Bad --only",
                hint="Run apply without --only, or name those steps too.",
            )

    def apply_one(name: str, progress: Callable[[str], None]) -> None:
        context = launch.context(progress)
        step = STEPS[name]
        state.start_step(name)
        try:
            plan = step.plan(context)
            if confirmed is not None and confirmed.get(name) != plan.digest():
                raise PlanChanged(name)
            refuse_without_consent(plan, yes=launch.yes, title=step.title)
            step.apply(context)
        except BaseException as error:
            state.fail_step(name, failure_text(error))
            raise
        state.finish_step(name, preview_digest=plan.digest())

    # where it is applied, for destroy (whose flags still override it)
    state.remember_connection(
        profile=launch.aws.settings.profile, endpoint_url=launch.aws.settings.endpoint_url
    )
    result = run_steps(
        GRAPH, apply_one, only=chosen, done=done, on_event=on_event, stop=launch.aws.stop
    )
    if result.ok and set(state.applied_steps()) >= set(STEPS):
        context = launch.context()
        for name in reversed(order(GRAPH)):  # the users of an old name have moved off it
            STEPS[name].retire(context)
    return result
