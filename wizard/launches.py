"""The launches a user has: `NAME.toml` and `NAME.state.json` side by side in one folder.

The TUI keeps new launches in the user's data folder (platformdirs), so the start screen can
list them with their progress and resume any of them; `--state` opens one kept elsewhere (its
config is the `.toml` beside it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from wizard.checklist import CHECKLIST
from wizard.errors import BadInput, WizardError

if TYPE_CHECKING:
    from wizard.state import StateFile

HOME_VARIABLE = "AIRFLOW_ECS_WIZARD_HOME"
"""Overrides the folder launches are kept in (tests and the sandbox use their own)."""

StepStatus = Literal["pending", "previewed", "applied", "failed", "skipped"]
STATE_SUFFIX = ".state.json"


def launches_folder() -> Path:
    """Where the wizard keeps launches: $AIRFLOW_ECS_WIZARD_HOME, else the user data folder."""
    override = os.environ.get(HOME_VARIABLE)
    if override:
        return Path(override)
    from platformdirs import user_data_path

    return user_data_path("airflow-ecs-wizard", appauthor=False) / "launches"


def config_path_for(state_path: Path) -> Path:
    """The config kept beside a state file (`NAME.state.json` → `NAME.toml`).

    The one naming rule, everywhere (the TUI, `init --plain`, `sandbox --folder`): a launch's
    config is `NAME.toml` and its state `NAME.state.json` beside it, NAME being the config's
    file name (the wizard names the files it keeps after the launch)."""
    name = state_path.name.removesuffix(STATE_SUFFIX).removesuffix(".json")
    return state_path.with_name(f"{name}.toml")


def state_path_for(config_path: Path) -> Path:
    """The state file kept beside a config (`NAME.toml` → `NAME.state.json`)."""
    return config_path.with_name(f"{config_path.stem}{STATE_SUFFIX}")


@dataclass(frozen=True)
class KnownLaunch:
    """A launch found on disk, with its progress."""

    name: str
    config_path: Path
    state_path: Path
    statuses: dict[str, StepStatus]
    region: str = ""
    account_id: str = ""
    problem: str = ""
    """Why its state could not be read (the launch is listed, not resumable as it is)."""

    @property
    def applied(self) -> int:
        """How many steps have applied."""
        return sum(status == "applied" for status in self.statuses.values())

    @property
    def progress(self) -> str:
        """`7/12 applied`, `failed at redis`, `done`, or why the state is unreadable."""
        if self.problem:
            return f"unreadable: {self.problem}"
        failed = [name for name, status in self.statuses.items() if status == "failed"]
        if failed:
            return f"{self.applied}/{len(CHECKLIST)} applied, {', '.join(failed)} failed"
        if self.applied == len(CHECKLIST):
            return "done"
        return f"{self.applied}/{len(CHECKLIST)} applied"


def statuses_of(state: StateFile | None) -> dict[str, StepStatus]:
    """Every step's status as a state file records it (pending for a step never started)."""
    result: dict[str, StepStatus] = {}
    for name in CHECKLIST:
        status = state.step(name).status if state is not None else "pending"
        result[name] = status
    return result


def read_launch(config_path: Path, state_path: Path) -> KnownLaunch:
    """One launch's files, read without locking or changing them."""
    from wizard.state import StateFile

    name = config_path.stem
    if not state_path.exists():
        return KnownLaunch(name, config_path, state_path, statuses_of(None))
    try:
        state = StateFile.open(state_path)
    except WizardError as error:
        return KnownLaunch(name, config_path, state_path, statuses_of(None), problem=error.title)
    return KnownLaunch(
        state.state.launch,
        config_path,
        state_path,
        statuses_of(state),
        region=state.state.region,
        account_id=state.state.account_id,
    )


def find_launches(folder: Path) -> list[KnownLaunch]:
    """The launches kept in `folder`, most recently changed first."""
    if not folder.is_dir():
        return []
    configs = sorted(folder.glob("*.toml"), key=_changed, reverse=True)
    return [read_launch(path, state_path_for(path)) for path in configs]


def _changed(path: Path) -> float:
    state = state_path_for(path)
    return max(path.stat().st_mtime, state.stat().st_mtime if state.exists() else 0.0)


def launch_for_state(state_path: Path) -> KnownLaunch:
    """The launch a `--state` file belongs to.

    Raises:
        BadInput: the state file, or the config beside it, does not exist.
    """
    if not state_path.exists():
        raise BadInput(
            f"{state_path} does not exist",
            title="No such state file",
            hint="Give the NAME.state.json of a launch, or start a new one without --state.",
        )
    config_path = config_path_for(state_path)
    if not config_path.exists():
        raise BadInput(
            f"the state {state_path} has no config beside it ({config_path.name})",
            title="No config for this launch",
            hint=f"Put the launch's config at {config_path}, or resume headless with "
            f"`apply --config CONFIG --state {state_path}`.",
        )
    return read_launch(config_path, state_path)
