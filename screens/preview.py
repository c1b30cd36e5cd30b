"""The preview of one step: what it would create, change or leave alone, and every file.

Actions come first (create / update / no change / check), then what blocks the step (problems,
linter findings) and warnings; each rendered artifact and each diff against what exists has a
tab with syntax highlighting. Secret values never reach this widget: the plan masks them.
"""

from __future__ import annotations

from rich.syntax import Syntax
from textual.app import ComposeResult
from textual.containers import ScrollableContainer, Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import LoadingIndicator, Static, TabbedContent, TabPane

from wizard.errors import WizardError
from wizard.session import Preview, artifact_lexer

LINTING = "linting the files (confirm once the findings show)…"
"""The status of a preview whose linters run in the lint process."""

VERB_STYLES = {
    "create": "$success",
    "update": "$warning",
    "no-op": "$text-muted",
    "check": "$accent",
}


def actions_content(preview: Preview) -> Content:
    """The plan as lines of text: actions by verb (what apply does by itself), then what
    needs the user's consent (given by confirming), what only the user can do (problems),
    and warnings."""
    plan = preview.plan
    lines: list[Content] = []
    for action in plan.actions:
        style = VERB_STYLES.get(action.verb, "")
        verb = "no change" if action.verb == "no-op" else action.verb
        detail = f" ({action.detail})" if action.detail else ""
        lines.append(
            Content.assemble(
                (f"{verb:9}", f"bold {style}"), f" {action.kind} {action.name}{detail}"
            )
        )
    if not plan.actions:
        lines.append(Content("nothing to create or change"))
    for consent in plan.consents:
        lines.append(Content.assemble(("consent  ", "bold $warning"), consent))
    for problem in [*plan.problems, *preview.lint_problems]:
        lines.append(Content.assemble(("problem  ", "bold $error"), problem))
    for warning in plan.warnings:
        lines.append(Content.assemble(("warning  ", "bold $warning"), warning))
    return Content("\n").join(lines)


class PreviewPane(Vertical):
    """A step's preview; `show(preview)` replaces it, `planning()` waits for the next one."""

    def compose(self) -> ComposeResult:
        yield Static("Press Preview to see what this step will do.", id="preview-status")
        yield LoadingIndicator(id="preview-loading")
        yield TabbedContent(id="preview-tabs")

    def on_mount(self) -> None:
        self.query_one("#preview-loading").display = False

    def planning(self) -> None:
        """A preview is being made: the previous one (maybe another step's) is hidden."""
        self.query("#preview-tabs").set(display=False)  # none while a preview is replaced
        self.remove_class("-blocked", "-stale")
        self.query_one("#preview-loading").display = True
        self.query_one("#preview-status", Static).update("Planning against the account…")

    def failed(self, error: WizardError) -> None:
        """The preview could not be made (the error dialog says why and what to do)."""
        self.query_one("#preview-loading").display = False
        self.query_one("#preview-status", Static).update(
            Content(f"No preview: {error.title}. Fix it, then press Preview (ctrl+r) again.")
        )

    def stale(self) -> None:
        """The form changed since this preview: it must be made again before confirming."""
        self.query_one("#preview-status", Static).update(
            "The form changed: press Preview again before you confirm."
        )
        self.add_class("-stale")

    async def show(self, preview: Preview) -> None:
        """Show a step's preview: the actions tab first, then each artifact and diff."""
        self.remove_class("-stale")
        self.query_one("#preview-loading").display = False
        plan = preview.plan
        self._show_status(preview)
        actions = Static(actions_content(preview), id="preview-actions")
        panes = [TabPane("Actions", VerticalScroll(actions), id="tab-actions")]
        for index, action in enumerate(a for a in plan.actions if a.diff):
            panes.append(
                TabPane(f"diff {action.name}", _code(action.diff, "diff"), id=f"tab-diff-{index}")
            )
        for index, (name, text) in enumerate(plan.artifacts.items()):
            panes.append(TabPane(name, _code(text, artifact_lexer(name)), id=f"tab-file-{index}"))
        # one new TabbedContent rather than clear_panes/add_pane: the tabs' underline is placed
        # once the whole bar is laid out (added one by one, it could measure a tab not yet sized)
        tabs = TabbedContent(id="preview-tabs", initial="tab-actions")
        for pane in panes:
            tabs.compose_add_child(pane)  # what `with TabbedContent():` does in compose
        await self._tabs().remove()
        if not self.is_attached:  # the screen closed (ctrl+q) while the old tabs went
            return
        await self.mount(tabs)

    def linted(self, preview: Preview) -> None:
        """The linters' findings of the preview on screen are in: show them. Not when the
        screen has closed (ctrl+q as they came), nor on tabs being replaced (the new ones are
        built from the linted preview)."""
        if not self.is_attached:
            return
        self._show_status(preview)
        for actions in self.query("#preview-actions").results(Static):
            actions.update(actions_content(preview))

    def _tabs(self) -> TabbedContent:
        """The tabs on screen. Each preview replaces them, so they are never looked up with
        `query_one`: Textual keeps what it found in a cache on this pane (up to 1024 entries),
        and every replaced preview, its files drawn, would stay in memory."""
        return self.query("#preview-tabs").only_one(TabbedContent)

    def _show_status(self, preview: Preview) -> None:
        plan = preview.plan
        changes = len(plan.changes)
        if preview.blocked:
            status = "Blocked: fix the problems below (only you can), then preview again."
        elif not preview.linted:
            status = f"{changes} change(s) planned; {LINTING}"
        elif plan.consents:
            status = (  # a change to what the launch does not own: confirming consents
                f"{changes} change(s) to apply. Confirm to apply them, with your consent to "
                f"{len(plan.consents)} below."
            )
        elif changes:
            status = f"{changes} change(s) to apply. Confirm to apply them."
        else:
            status = "Nothing to change: confirm to go on."
        self.query_one("#preview-status", Static).update(status)
        self.set_class(preview.blocked, "-blocked")


def _code(text: str, lexer: str) -> ScrollableContainer:
    """A file with its lines whole: a long line scrolls sideways (shift+wheel, or arrows)."""
    syntax = Syntax(text, lexer, line_numbers=True, word_wrap=False, theme="ansi_dark")
    return ScrollableContainer(Static(syntax), classes="code")
