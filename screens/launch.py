"""One launch, step by step: the sidebar of every step, the step's form, its preview, and the
progress of what is applying in the background.

The screen shows and asks; the `WizardSession` does the work in thread workers that post
messages back. Confirming a preview applies that step as soon as what it depends on has
applied, while the user goes on to the next form.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Static
from textual.worker import Worker, WorkerState, get_current_worker

from screens.preview import PreviewPane
from screens.progress import ApplyProgress
from screens.step_form import StepForm
from screens.widgets import DryRunBanner, StepList, display_path
from wizard.engine import PlanChanged
from wizard.errors import ProblemsError, WizardError, as_wizard_error
from wizard.questions import questions
from wizard.runner import RunResult, StepEvent
from wizard.session import Preview, WizardSession
from wizard.steps import GRAPH, STEPS
from wizard.steps.base import Choice

if TYPE_CHECKING:
    from screens.app import WizardApp

DESCRIPTIONS = {
    "account": "Who and where: the AWS account and region this launch goes to.",
    "network": "The VPC, its private subnets and the security groups; what can reach what.",
    "iam": "The task execution role and the task role, created least-privilege or checked.",
    "s3_layout": "The bucket and its prod/staging folders: dags, plugins, logs, bootstrap.",
    "bootstrap": "The script each instance runs at boot to mount the environment's S3 folder.",
    "database": "Airflow's database and user in the RDS instance, and their SecureStrings.",
    "redis": "The ElastiCache broker Celery uses.",
    "image": "The Airflow image in ECR the tasks run.",
    "secrets": "The Fernet key and shared secrets, generated once into SSM SecureStrings.",
    "cluster": "The ECS cluster's CloudFormation stack: created, or the console's one patched.",
    "task_definitions": "One task definition per Airflow component, and the migrate task.",
    "services": "The migrate task, the load balancer and one service per component.",
}


WIDTHS = [(0, "-narrow"), (110, "-wide")]
"""Below 110 columns the sidebar folds into one line (ctrl+t shows it), so the form and the
preview share the width."""
HEIGHTS = [(0, "-short"), (32, "-tall")]
"""Below 32 rows the buttons give way to their keys (the footer lists them), and the progress
pane shrinks, so the form keeps its height."""


class LaunchScreen(Screen[None]):
    """The steps of one launch."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+r", "preview", "Preview", priority=True),
        Binding("ctrl+y", "confirm", "Confirm", priority=True),
        Binding("ctrl+b", "back", "Back", priority=True),
        Binding("ctrl+s", "summary", "Summary"),
        Binding("ctrl+t", "toggle_steps", "Steps", show=False),
        Binding("ctrl+l", "rehearse", "Rehearse"),
    ]
    HORIZONTAL_BREAKPOINTS = WIDTHS
    VERTICAL_BREAKPOINTS = HEIGHTS
    COMMANDS_HELP: ClassVar[dict[str, str]] = {
        "preview": "Preview the step with the form's values",
        "confirm": "Confirm the preview and go on",
        "back": "Back to the previous step",
        "summary": "The launch's summary",
        "toggle_steps": "Show or hide the list of steps",
        "rehearse": "Rehearse the previewed task definitions on this machine",
    }

    class Discovered(Message):
        """The choices of a step's form, listed from the account."""

        def __init__(self, step: str, choices: dict[str, list[Choice]], problem: str = "") -> None:
            super().__init__()
            self.step = step
            self.choices = choices
            self.problem = problem

    class Previewed(Message):
        """A step's preview is ready."""

        def __init__(self, step: str, preview: Preview) -> None:
            super().__init__()
            self.step = step
            self.preview = preview

    class Linted(Message):
        """The linters' findings of a preview on screen are in."""

        def __init__(self, step: str, shown: Preview, preview: Preview) -> None:
            super().__init__()
            self.step = step
            self.shown = shown
            self.preview = preview

    class Progress(Message):
        """An event of the runner, from the apply worker."""

        def __init__(self, event: StepEvent) -> None:
            super().__init__()
            self.event = event

    class Applied(Message):
        """An apply run ended."""

        def __init__(self, result: RunResult) -> None:
            super().__init__()
            self.result = result

    def __init__(self, session: WizardSession) -> None:
        super().__init__()
        self.session = session
        self.step = session.first_open_step()
        self.preview: Preview | None = None
        """The preview of the current step, while it matches the form."""
        self.confirmed_previews: dict[str, Preview] = {}

    @property
    def wizard(self) -> WizardApp:
        return cast("WizardApp", self.app)

    def compose(self) -> ComposeResult:
        yield Header()
        yield DryRunBanner()
        with Horizontal(id="launch-body"):
            with Vertical(id="sidebar"):
                yield Static(self.session.config.name, id="launch-name")
                yield StepList(id="steps")
            with Vertical(id="main"):
                yield Static("", id="steps-compact", markup=False)
                yield Static("", id="step-title")
                yield Static("", id="step-description")
                with Horizontal(id="step-body"):
                    yield Vertical(id="form-holder")
                    yield PreviewPane(id="preview")
                with Horizontal(id="step-buttons"):
                    yield Button("Back", id="back")
                    yield Button("Preview", id="preview-button", variant="primary")
                    confirm = "Confirm, go on" if self.session.dry_run else "Confirm and apply"
                    yield Button(confirm, id="confirm", variant="success", disabled=True)
                    yield Button("Rehearse locally", id="rehearse")
                yield ApplyProgress(id="progress")
        yield Footer()

    async def on_mount(self) -> None:
        self.sub_title = display_path(self.session.config_path)
        self.query_one(ApplyProgress).display = not self.session.dry_run
        await self.show_step(self.step)

    # Moving between steps

    async def show_step(self, step: str) -> None:
        """Show a step's form filled from the config, list its choices, and preview it."""
        self.step = step
        self.preview = None
        self.query_one("#confirm", Button).disabled = True  # nothing to confirm until planned
        self.query_one("#rehearse", Button).display = False  # the task definitions' preview
        self.query_one(PreviewPane).planning()
        title = STEPS[step].title
        self.query_one("#step-title", Static).update(
            f"Step {list(STEPS).index(step) + 1} of {len(STEPS)}: {title}"
        )
        self.query_one("#step-description", Static).update(DESCRIPTIONS.get(step, ""))
        holder = self.query_one("#form-holder")
        await holder.remove_children()
        form = StepForm(questions(step), id="form")
        await holder.mount(form)
        form.load(self.session.config)
        self.refresh_statuses()
        self.query_one("#steps", StepList).highlight(step)
        if any(q.discovered for q in form.questions):
            self.discover(step)
        self.run_preview()

    def form(self) -> StepForm:
        """The step's form on screen. Not `query_one`: Textual caches what it finds on the node
        asked, under the DOM's generation, and keeps up to 1024 such entries, so each step's
        form (and every field in it) would stay in memory after it is replaced."""
        return self.query(StepForm).only_one()

    def refresh_statuses(self) -> None:
        """The sidebar shows each step's status now (folded, one line of counts)."""
        statuses = self.session.statuses()
        self.query_one("#steps", StepList).show(statuses)
        counts = [
            f"{sum(status == word for status in statuses.values())} {word}"
            for word in ("running", "failed")
            if word in statuses.values()
        ]
        applied = sum(status == "applied" for status in statuses.values())
        done = "previewed" if self.session.dry_run else "applied"
        if self.session.dry_run:
            applied = len(self.session.confirmed)
        self.query_one("#steps-compact", Static).update(
            ", ".join([f"{self.session.config.name}: {applied} of {len(STEPS)} {done}", *counts])
            + " · ctrl+t: all steps"
        )

    def action_toggle_steps(self) -> None:
        """Show or hide the sidebar where it is folded away (a narrow terminal)."""
        self.toggle_class("-show-steps")

    @on(StepList.StepChosen)
    async def _step_chosen(self, event: StepList.StepChosen) -> None:
        await self.show_step(event.step)

    @on(Button.Pressed, "#back")
    async def action_back(self) -> None:
        names = list(STEPS)
        index = names.index(self.step)
        if index > 0:
            await self.show_step(names[index - 1])

    # The form and its preview

    @on(StepForm.Edited)
    def _form_edited(self) -> None:
        if self.preview is not None:
            self.preview = None
            self.query_one(PreviewPane).stale()
            self.query_one("#confirm", Button).disabled = True
            self.query_one("#rehearse", Button).display = False
            self.refresh_bindings()

    def save_answers(self) -> bool:
        """Validate the form into the config (saved at once); False with the problems shown."""
        form = self.form()
        try:
            self.session.answer(form.answers())
        except ProblemsError as error:
            elsewhere = form.show_problems(error.problems)
            if elsewhere:
                self.notify(
                    "\n".join(str(problem) for problem in elsewhere),
                    title="Also fix",
                    severity="error",
                    markup=False,
                )
            return False
        form.clear_problems()
        return True

    @on(Button.Pressed, "#preview-button")
    def action_preview(self) -> None:
        if self.save_answers():
            if any(q.discovered for q in self.form().questions):
                self.discover(self.step)
            self.run_preview()

    def run_preview(self) -> None:
        """Plan the current step in a worker."""
        self.query_one(PreviewPane).planning()
        self.preview_worker(self.step)

    @work(thread=True, exclusive=True, group="preview", exit_on_error=False, description="preview")
    def preview_worker(self, step: str) -> None:
        """The plan at once, then its lint from the lint process (warmed meanwhile)."""
        self.session.lints.warm()
        preview = self.session.plan_preview(step)
        self.post_message(self.Previewed(step, preview))
        if not preview.linted:
            linted = self.session.lint(preview)
            if not get_current_worker().is_cancelled:  # a newer preview of the form is coming
                self.post_message(self.Linted(step, preview, linted))

    @work(thread=True, exclusive=True, group="discover", exit_on_error=False)
    def discover(self, step: str) -> None:
        """List the form's choices; when the account cannot be read, the fields stay manual."""
        try:
            choices = self.session.discover(step)
        except Exception as error:  # a failed listing only loses the select lists
            self.post_message(self.Discovered(step, {}, as_wizard_error(error).message))
            return
        self.post_message(self.Discovered(step, choices))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # the event reaches only this screen (it does not bubble): the app shows the error
        if event.state == WorkerState.ERROR and event.worker.group == "preview":
            self.query_one(PreviewPane).failed(as_wizard_error(event.worker.error or Exception()))
        self.wizard.worker_state_changed(event)

    def retry_worker(self, group: str) -> None:
        """Run a failed worker's job again (the error modal's Retry)."""
        if group == "preview":
            self.run_preview()
        elif group == "discover":
            self.discover(self.step)

    @on(Discovered)
    def _discovered(self, message: Discovered) -> None:
        if message.step != self.step:
            return
        form = self.form()
        form.set_choices(message.choices)
        if message.problem:
            self.notify(
                f"Choices are not listed ({message.problem}); type the values.",
                severity="warning",
                markup=False,
            )

    @on(Previewed)
    async def _previewed(self, message: Previewed) -> None:
        if message.step != self.step:
            return
        self.preview = message.preview
        await self.query_one(PreviewPane).show(message.preview)
        self._show_buttons(message.step, message.preview)

    @on(Linted)
    def _linted(self, message: Linted) -> None:
        if message.step != self.step or self.preview is not message.shown:
            return  # another step, or the form changed since
        self.preview = message.preview
        self.query_one(PreviewPane).linted(message.preview)
        self._show_buttons(message.step, message.preview)

    def _show_buttons(self, step: str, preview: Preview) -> None:
        """Confirm (and Rehearse, for the task definitions) once the preview is linted clean."""
        self.query_one("#confirm", Button).disabled = not preview.confirmable
        rehearsable = step == "task_definitions" and preview.confirmable
        self.query_one("#rehearse", Button).display = rehearsable
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """`ctrl+l` (rehearse) only where its button is offered: the buttons give way to their
        keys in a short terminal."""
        if action == "rehearse":
            buttons = self.query("#rehearse").results(Button)
            return any(button.display for button in buttons)
        return True

    @on(Button.Pressed, "#rehearse")
    def action_rehearse(self) -> None:
        """Boot the previewed task definitions here (the form is saved into the config the
        preview was made from)."""
        from screens.rehearse import RehearsalScreen

        self.app.push_screen(RehearsalScreen(self.session))

    # Confirming and applying

    @on(Button.Pressed, "#confirm")
    async def action_confirm(self) -> None:
        preview = self.preview
        if preview is None:  # the form changed since its preview: show the new one first
            self.action_preview()
            self.notify("Review the new preview, then confirm.", severity="warning")
            return
        if preview.blocked:
            self.notify("This step has problems to fix first.", severity="error")
            return
        if not preview.linted:
            self.notify("The files are still being linted: confirm once the findings show.")
            return
        self.session.confirm(self.step, preview)
        self.confirmed_previews[self.step] = preview
        if not self.session.dry_run:
            self.apply_worker()
        self.refresh_statuses()
        following = self.session.next_step(self.step)
        if following is not None:
            await self.show_step(following)
        else:
            self.finish_if_done()

    @work(thread=True, group="apply", exit_on_error=False, description="apply")
    def apply_worker(self) -> None:
        """Apply what is ready; the runner's events come back as messages."""

        def on_event(event: StepEvent) -> None:
            self.post_message(self.Progress(event))

        result = self.session.apply_ready(on_event)
        self.post_message(self.Applied(result))

    @on(Progress)
    def _progress(self, message: Progress) -> None:
        self.query_one(ApplyProgress).record(message.event)
        self.refresh_statuses()

    @on(Applied)
    def _applied(self, message: Applied) -> None:
        self.refresh_statuses()
        for step, error in message.result.failed.items():
            self._failed(step, as_wizard_error(error))
        if self.session.ready():
            self.apply_worker()
        self.finish_if_done()

    def _failed(self, step: str, error: WizardError) -> None:
        def show_again() -> None:
            self.call_later(self.show_step, step)

        def retry() -> None:
            self.session.confirm(step, self.confirmed_previews[step])
            self.refresh_statuses()
            self.apply_worker()

        def skip() -> None:
            self.session.skip(step)
            self.refresh_statuses()

        title = STEPS[step].title
        error.title = f"{title}: {error.title}"
        if isinstance(error, PlanChanged):
            self.wizard.show_error(error, retry=show_again)
        else:
            self.wizard.show_error(error, retry=retry, skip=skip)

    def finish_if_done(self) -> None:
        """At the end of the walk: the summary, once everything has applied (or, in a dry
        run, once every preview is confirmed)."""
        if self.app.screen is not self:  # the summary (or a dialog) is already up
            return
        finished = (
            set(self.session.confirmed) >= set(GRAPH)
            if self.session.dry_run
            else self.session.done()
        )
        if finished:
            self.show_summary()
        elif self.session.next_step(self.step) is None and self.session.confirmed:
            waiting = [STEPS[name].title for name in self.session.running]
            if waiting:
                self.notify(f"Waiting for: {', '.join(waiting)}", title="Almost done")

    def action_summary(self) -> None:
        if self.session.summary() is None and not self.session.dry_run:
            self.notify("Nothing has applied yet.", severity="warning")
            return
        self.show_summary()

    def show_summary(self) -> None:
        """The summary screen, once (two finished runs must not push it twice)."""
        from screens.summary import SummaryScreen

        if not any(isinstance(screen, SummaryScreen) for screen in self.app.screen_stack):
            # the walk is over: the lint process's memory goes back (it starts again if needed)
            self.session.lints.shutdown()
            self.app.push_screen(SummaryScreen(self.session))

    def on_unmount(self) -> None:
        self.session.close()
