"""One launch as the wizard walks it, with no UI: the TUI and the plain prompts drive this.

The session keeps the config on disk as the user answers, connects to AWS when first needed,
lists choices (`discover`) and previews (`preview`) with read-only calls, remembers the preview
the user confirmed, and applies confirmed steps in the background as soon as what they depend
on has applied. A step whose plan changed since it was confirmed is not applied: the engine
refuses it (`PlanChanged`) and the UI shows the preview again.

Methods that call AWS block: the UI calls them from worker threads. The session's own
bookkeeping is guarded by a lock.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from wizard.config import LaunchConfig
from wizard.config_file import save_config
from wizard.engine import Launch, apply_launch, connect, open_state, plan_step, settings_of
from wizard.errors import BadInput, Problem, ProblemsError, WizardError
from wizard.launches import KnownLaunch, state_path_for, statuses_of
from wizard.lint_pool import LintPool
from wizard.questions import with_answers
from wizard.runner import EventSink, RunResult, order
from wizard.state import StateFile
from wizard.steps import GRAPH, STEPS
from wizard.steps.base import Choice, StepPlan
from wizard.summary import LaunchSummary, summarize

PREFETCHED_CLIENTS = (
    "ec2",
    "iam",
    "s3",
    "ssm",
    "rds",
    "elasticache",
    "ecr",
    "cloudformation",
    "ecs",
    "elbv2",
)
"""The services every launch's later steps call."""

Status = Literal["pending", "previewed", "running", "applied", "failed", "skipped"]


@dataclass
class Preview:
    """A step's plan as the user sees it before confirming, with the linters' findings."""

    plan: StepPlan
    lint_problems: list[str] = field(default_factory=list)
    linted: bool = True
    """Whether the linters' findings are in (a TUI preview shows before they are)."""

    @property
    def blocked(self) -> bool:
        """Whether something must be fixed before this step can be applied."""
        return bool(self.plan.problems or self.lint_problems)

    @property
    def confirmable(self) -> bool:
        """Whether the user may confirm it: linted, and nothing to fix."""
        return self.linted and not self.blocked


class WizardSession:
    """One launch: its config file, its state file, and what the user confirmed.

    Args:
        config: the launch's inputs.
        config_path: where the config is kept (saved after every answer).
        state_path: the launch's state file (created at the first apply).
        dry_run: walk and preview only; AWS is read-only and nothing is applied.
    """

    def __init__(
        self,
        config: LaunchConfig,
        config_path: Path,
        *,
        state_path: Path | None = None,
        dry_run: bool = False,
    ) -> None:
        self.config = config
        self.config_path = config_path
        self.state_path = state_path or state_path_for(config_path)
        self.dry_run = dry_run
        self.confirmed: dict[str, str] = {}
        """The digest of each step's preview as the user confirmed it."""
        self.skipped: set[str] = set()
        self.running: set[str] = set()
        self._launch: Launch | None = None
        self._state: StateFile | None = None
        self._lock = threading.RLock()
        self._held = ExitStack()
        self._locked = False
        self._prefetched: Launch | None = None
        self.lints = LintPool()
        """The lint process of `plan_preview`'s previews (started when needed)."""

    @classmethod
    def new(cls, config: LaunchConfig, folder: Path, *, dry_run: bool = False) -> WizardSession:
        """A new launch kept in `folder` as `NAME.toml` (saved at once)."""
        session = cls(config, folder / f"{config.name}.toml", dry_run=dry_run)
        session.save()
        return session

    @classmethod
    def resume(cls, known: KnownLaunch, *, dry_run: bool = False) -> WizardSession:
        """A launch found on disk, with what its state says has applied."""
        from wizard.config_file import load_config

        if known.problem:
            raise BadInput(
                f"the state of {known.name} cannot be read: {known.problem}",
                title="Cannot resume",
                hint=f"See `airflow-ecs-wizard status --state {known.state_path}`.",
            )
        return cls(
            load_config(known.config_path),
            known.config_path,
            state_path=known.state_path,
            dry_run=dry_run,
        )

    # The config

    def save(self) -> None:
        """Write the config where it is kept."""
        save_config(self.config, self.config_path)

    def answer(self, answers: Mapping[str, Any]) -> None:
        """Set some fields, validate the whole config, and save it.

        Raises:
            ProblemsError: every problem, by field; the config is left as it was.
        """
        config = with_answers(self.config, answers)
        with self._lock:
            if config.name != self.config.name:
                self._rename(config.name)
            if settings_of(config) != settings_of(self.config):
                self._launch = None  # connect again, to the new region or endpoint
            self.config = config
            if self._launch is not None:
                self._launch.config = config
            self.save()

    def _rename(self, name: str) -> None:
        if self.state_path.exists():
            raise ProblemsError(
                [Problem("name", "cannot change once the launch has started (it names its state)")]
            )
        renamed = self.config_path.with_name(f"{name}.toml")
        if renamed.exists():
            raise ProblemsError([Problem("name", f"a launch named {name} exists already")])
        self.config_path.unlink(missing_ok=True)
        self.config_path = renamed
        self.state_path = state_path_for(renamed)

    # AWS

    def launch(self) -> Launch:
        """The launch, connected (once per AWS settings), with its state if it has one."""
        with self._lock:
            if self._launch is None:
                self._launch = connect(self.config, read_only=self.dry_run)
                self._launch.yes = True  # confirming a preview is the wizard's --yes
                self._state = None
            if self._state is None and self.state_path.exists():
                self._state = StateFile.open(self.state_path, launch=self.config.name)
                self._state.check_target(self._launch.account_id, self._launch.aws.region)
            self._launch.state = self._state
            return self._launch

    def discover(self, step: str) -> dict[str, list[Choice]]:
        """The choices the step's form lists, by config path (read-only)."""
        launch = self.launch()
        return STEPS[step].discover(launch.context())

    def preview(self, step: str) -> Preview:
        """What applying `step` would do, with its artifacts linted (read-only)."""
        launch = self.launch()
        plan = plan_step(launch, step)
        lint_problems: list[str] = []
        if plan.artifacts:
            from wizard.lint import lint_artifacts

            report = lint_artifacts(plan.artifacts, launch.aws.region, self.config.airflow.version)
            lint_problems = [str(problem) for problem in report.problems]
            plan.warnings += [w for w in report.warnings if w not in plan.warnings]
        return Preview(plan, lint_problems)

    def plan_preview(self, step: str) -> Preview:
        """What applying `step` would do, at once: its artifacts are not linted yet (`lint`
        does it in the lint process). Read-only."""
        launch = self.launch()
        plan = plan_step(launch, step)
        self._prefetch_clients(launch)
        return Preview(plan, linted=not plan.artifacts)

    def _prefetch_clients(self, launch: Launch) -> None:
        """Create the clients of the later steps in the background, once per connection,
        while the user reads the first preview (EC2's alone takes seconds on a busy machine)."""
        with self._lock:
            if self._prefetched is launch:
                return
            self._prefetched = launch

        def create() -> None:
            for service in PREFETCHED_CLIENTS:
                try:
                    launch.aws.client(service)
                except Exception:  # the step that needs it reports it, with its context
                    return

        threading.Thread(target=create, name="prefetch clients", daemon=True).start()

    def lint(self, preview: Preview) -> Preview:
        """The preview with its linters' findings, made in the lint process (blocks)."""
        if preview.linted:
            return preview
        region, version = self.launch().aws.region, self.config.airflow.version
        report = self.lints.lint(preview.plan.artifacts, region, version)
        warnings = preview.plan.warnings + [
            w for w in report.warnings if w not in preview.plan.warnings
        ]
        plan = replace(preview.plan, warnings=warnings)  # the shown preview is not mutated
        return Preview(plan, [str(problem) for problem in report.problems], linted=True)

    def confirm(self, step: str, preview: Preview) -> None:
        """Remember that the user confirmed this preview (apply refuses a different plan)."""
        digest = preview.plan.digest()
        with self._lock:
            self.confirmed[step] = digest
            self.skipped.discard(step)
            if self._state is not None and not self.dry_run:
                self._state.mark_previewed(step, digest)

    def skip(self, step: str) -> None:
        """Leave a failed step for now (what depends on it waits until it applies)."""
        with self._lock:
            self.confirmed.pop(step, None)
            self.skipped.add(step)

    # Applying

    def ready(self) -> list[str]:
        """Confirmed steps that can apply now: everything they depend on has applied, or is
        confirmed and can apply with them."""
        with self._lock:
            applied = set(self.applied())
            batch: list[str] = []
            for name in order(GRAPH):  # dependencies first, so one pass decides every step
                waiting = name not in self.confirmed or name in applied or name in self.running
                if not waiting and set(GRAPH[name]) <= applied | set(batch):
                    batch.append(name)
            return batch

    def apply_ready(self, on_event: EventSink | None = None) -> RunResult:
        """Apply the steps that are ready, independent ones at the same time.

        Raises:
            WizardError: in a dry run (the AWS guard would refuse it too).
        """
        if self.dry_run:
            raise WizardError(
                "this is a dry run: nothing is applied",
                title="Dry run",
                hint="Run the wizard without --dry-run to apply.",
            )
        launch = self.launch()
        with self._lock:
            if self._state is None:
                self._state = open_state(launch, self.state_path)
                launch.state = self._state
                for step, digest in self.confirmed.items():
                    self._state.mark_previewed(step, digest)
            if not self._locked:  # hold the state's lock for as long as the wizard runs
                self._held.enter_context(self._state.lock("airflow-ecs-wizard (TUI)"))
                self._locked = True
            batch = self.ready()
            self.running |= set(batch)
        try:
            if not batch:
                return RunResult()
            result = apply_launch(
                launch, only=batch, on_event=on_event, confirmed=dict(self.confirmed)
            )
        finally:
            with self._lock:
                self.running -= set(batch)
        with self._lock:  # a failed step waits for the user: retry confirms it again
            for name in [*result.failed, *result.skipped]:
                self.confirmed.pop(name, None)
        return result

    def close(self) -> None:
        """Release the state's lock and end the lint process."""
        self.lints.shutdown()
        self._held.close()
        self._locked = False

    # What the UI shows

    def applied(self) -> list[str]:
        """The steps the state records as applied."""
        state = self._state_for_reading()
        return state.applied_steps() if state is not None else []

    def statuses(self) -> dict[str, Status]:
        """Every step's status for the sidebar and the checklist."""
        with self._lock:
            recorded = statuses_of(self._state_for_reading())
            result: dict[str, Status] = {}
            for name, status in recorded.items():
                if name in self.running:
                    result[name] = "running"
                elif status in ("applied", "failed"):
                    result[name] = status
                elif name in self.skipped:
                    result[name] = "skipped"
                elif name in self.confirmed:
                    result[name] = "skipped" if self.dry_run else "previewed"
                else:
                    result[name] = "pending"
            return result

    def first_open_step(self) -> str:
        """Where a resumed launch continues: the first step that has not applied."""
        applied = set(self.applied())
        return next((name for name in STEPS if name not in applied), list(STEPS)[-1])

    def next_step(self, after: str) -> str | None:
        """The step the walk goes to after `after` (None at the end)."""
        steps = list(STEPS)  # the runbook's order, which respects the dependencies
        index = steps.index(after)
        return steps[index + 1] if index + 1 < len(steps) else None

    def done(self) -> bool:
        """Whether every step has applied."""
        return set(self.applied()) >= set(STEPS)

    def summary(self) -> LaunchSummary | None:
        """The launch's summary, once it has a state."""
        state = self._state_for_reading()
        if state is None:
            return None
        return summarize(
            self.config,
            state,
            config_path=self.config_path,
            state_path=self.state_path,
            statuses=self.statuses(),
        )

    def _state_for_reading(self) -> StateFile | None:
        with self._lock:
            if self._state is None and self.state_path.exists():
                self._state = StateFile.open(self.state_path, launch=self.config.name)
            return self._state


LEXERS = (
    (".sh", "bash"),
    (".json", "json"),
    (".sql", "sql"),
    (".diff", "diff"),
    (".toml", "toml"),
)


def artifact_lexer(name: str) -> str:
    """The syntax highlighting for an artifact, by its file name (Pygments' lexer name)."""
    return next((lexer for suffix, lexer in LEXERS if name.endswith(suffix)), "text")
