"""What the wizard prints after it quits: how to take up a launch that is not finished.

`ctrl+q` quits at once (the config and state are saved as the user goes); a launch left half
done is then only as good as the user's memory of how to resume it, so the terminal keeps the
two commands that do: the wizard on the same launch, and the headless replay.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from screens.widgets import command_path
from wizard.session import WizardSession
from wizard.steps import STEPS
from wizard.summary import replay_command


def farewell(
    session: WizardSession, *, sandbox: bool = False, sandbox_folder: Path | None = None
) -> str:
    """The lines to print once the app has exited, for a launch that is not finished ("" when
    there is nothing to resume: a dry run, or a launch that has fully applied)."""
    if session.dry_run or session.done():
        return ""
    config = command_path(session.config_path)
    state = command_path(session.state_path)
    applied = len(session.applied())
    name = session.config.name
    if session.state_path.exists():
        lines = [f"The launch {name} is saved, {applied} of {len(STEPS)} steps applied."]
    elif session.config_path.exists():
        lines = [f"The launch {name} is saved (nothing applied yet)."]
    else:
        return ""
    replay = replay_command(config, state)
    if sandbox:
        start = "airflow-ecs-wizard --sandbox"
        server = "airflow-ecs-wizard sandbox"
        if sandbox_folder is not None:
            folder = shlex.quote(command_path(sandbox_folder))
            start, server = f"{start} --folder {folder}", f"{server} --folder {folder}"
        lines += [
            "Resume it in the wizard (then press r on it):",
            f"  {start}",
            "Or headless: start the sandbox's emulator, export what it prints, then run:",
            f"  {server}",
            f"  {replay}",
        ]
    else:
        wizard = (
            f"airflow-ecs-wizard --state {shlex.quote(state)}"
            if session.state_path.exists()
            else f"airflow-ecs-wizard --config {shlex.quote(config)}"
        )
        lines += [
            "Resume it in the wizard:",
            f"  {wizard}",
            "Or headless (it applies nothing that has applied):",
            f"  {replay}",
        ]
    return "\n".join(lines)
