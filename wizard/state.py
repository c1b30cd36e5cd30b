"""The state file of one launch (`<name>.state.json`): what each step did, saved at each change.

It holds the account and region, a digest of the config and, per step, its status, outputs and the
resources it created or adopted. Written atomically with mode 0600, locked while a wizard applies,
never holding a secret value. No AWS calls here.
"""

from __future__ import annotations

import base64
import getpass
import json
import logging
import os
import socket
import stat
import threading
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from wizard.atomic_file import make_private_folder, write_atomically
from wizard.errors import BadInput, WizardError

_log = logging.getLogger(__name__)
SCHEMA_VERSION = 2
"""2 added `StepState.intents`. Older files are read as they are and written as the current
schema, so an older wizard refuses them with "upgrade" instead of misreading them."""
REGION_PATTERN = r"^[a-z]{2}(-[a-z]+)+-[0-9]+$"
OutputValue = str | int | bool | list[str]
PathLike = str | os.PathLike[str]
_KEPT = "The file was left as it is."


def utc_now() -> str:
    """The current time, ISO-8601 UTC with microseconds (so the text sorts by time)."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class Resource(BaseModel):
    """One AWS resource a step created or adopted."""

    model_config = ConfigDict(extra="forbid", strict=True)

    kind: str
    """Service and type: `s3:bucket`, `ec2:security-group`, `ssm:parameter`..."""
    id: str
    """The name, ARN or id AWS knows it by."""
    created: bool
    """True: this launch created it (destroy removes it). False: adopted, it existed before."""
    region: str = Field(default="", pattern=rf"{REGION_PATTERN}|^$")
    """Where it was made ("" in states of early versions: the launch's region)."""
    recorded_at: str = Field(default_factory=utc_now)


class StepState(BaseModel):
    """Progress of one step."""

    model_config = ConfigDict(extra="forbid", strict=True)

    status: Literal["pending", "applied", "failed"] = "pending"
    outputs: dict[str, OutputValue] = Field(default_factory=dict)
    """Ids, ARNs and endpoints that later steps read."""
    resources: list[Resource] = Field(default_factory=list)
    intents: list[Resource] = Field(default_factory=list)
    """Creates under way whose result AWS cannot mark as the launch's (no tag in the same
    call): written before the call, replaced by the resource's record once it is known. One
    left behind means the process died in between, so what AWS holds under that id is ours."""
    preview_digest: str = ""
    """SHA-256 of the plan the user saw before it was applied."""
    started_at: str = ""
    finished_at: str = ""
    error: str = ""
    """The last error message; cleared when the step is applied."""


class LaunchState(BaseModel):
    """Everything the state file holds. Strict: a value of another JSON type (`"created":
    "yes"`) is refused, not coerced."""

    model_config = ConfigDict(extra="forbid", strict=True)

    schema_version: int = SCHEMA_VERSION
    launch: str
    account_id: str
    region: str = Field(pattern=REGION_PATTERN)
    config_digest: str
    created_at: str = Field(default_factory=utc_now)
    updated_at: str = Field(default_factory=utc_now)
    steps: dict[str, StepState] = Field(default_factory=dict)
    profile: str = ""
    """The AWS profile the launch was applied with ("" for the default credential chain)."""
    endpoint_url: str = ""
    """The endpoint it was applied through ("" for AWS); never trusted blindly (see
    `wizard.connection`), since whoever can write this file would receive signed requests."""
    destroyed: list[Resource] = Field(default_factory=list)
    """What `destroy` deleted, oldest first: an interrupted destroy says what is gone."""


def secret_forms(value: str) -> set[str]:
    """The ways a secret shows up in text: raw, URL-encoded, base64 (standard and url-safe,
    padding ignored), and each of those escaped inside a JSON string."""
    raw = value.encode()
    forms = {
        value,
        urllib.parse.quote(value),
        urllib.parse.quote(value, safe=""),
        urllib.parse.quote_plus(value),
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
    }
    escaped = {
        json.dumps(form, ensure_ascii=flag)[1:-1] for form in forms for flag in (True, False)
    }
    return (forms | escaped) - {""}


def contains_secret(text: str, values: Iterable[str]) -> bool:
    """Whether any of `values` appears in `text` in any of its `secret_forms`."""
    return any(form in text for value in values for form in secret_forms(value))


def _atomic_write(path: Path, text: str) -> None:
    """Replace `path` with `text`, readable by its owner only."""
    write_atomically(path, text, mode=0o600)


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object, refusing a key given twice (json keeps the last one silently)."""
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise _DuplicateKey(key)
        document[key] = value
    return document


def _parse(path: Path, data: bytes) -> LaunchState:
    """The state in a file's bytes, refusing anything this version cannot trust."""
    try:
        document = json.loads(data.decode("utf-8"), object_pairs_hook=_unique_keys)
    except _DuplicateKey as duplicate:
        raise BadInput(
            f"{path} names {duplicate.key!r} twice in one object: which one counts is not "
            "clear, so it is not read.",
            title="Ambiguous state file",
            hint=f"Restore it from a backup, or remove one of the two by hand. {_KEPT}",
        ) from None
    except (ValueError, RecursionError):  # invalid JSON or UTF-8, a file cut short, deep nesting
        raise BadInput(
            f"{path} is not a state file of airflow-ecs-wizard: it may be truncated or corrupt.",
            title="Unreadable state file",
            hint=f"Restore it from a backup or move it aside to start over. {_KEPT}",
        ) from None
    version = document.get("schema_version") if isinstance(document, dict) else None
    if type(version) is int and version > SCHEMA_VERSION:
        raise BadInput(
            f"{path} was written by a newer airflow-ecs-wizard (state schema {version}; this "
            f"version reads schema {SCHEMA_VERSION}).",
            title="State from a newer version",
            hint=f"Upgrade airflow-ecs-wizard and run the command again. {_KEPT}",
        )
    problem = "no schema_version"
    if type(version) is int and version >= 1:
        try:
            return LaunchState.model_validate(document)
        except ValidationError as error:
            first = error.errors()[0]
            problem = f"{'.'.join(map(str, first['loc']))}: {first['msg']}"
    raise BadInput(
        f"{path} is JSON, but not a state file of airflow-ecs-wizard ({problem}).",
        title="Not a state file",
        hint=f"Check the --state path: it names the <launch>.state.json this wizard wrote. {_KEPT}",
    )


class StateFile:
    """The state of one launch, bound to its file.

    Every mutator saves at once: the engine calls them right after each AWS create, before any
    wait. A change is made to a copy that replaces `state` only once it is on disk, so a refused or
    failed save leaves memory and file as they were. Safe to call from several step threads.

    A symlinked path is followed: the lock is named after the file it points to and writes go
    through to that file (the link stays), so a path and a link to it share one lock and one
    file.

    Attributes:
        path: The state file as given (shown in messages).
        real_path: The file itself, every link resolved: what is locked, read and written;
            `<real_path>.lock` is its lock, `<real_path>.lock.json` says who holds it.
        state: What the file holds now.
        fault_hook: Test-only: called with "before-save" and "after-save" around every write,
            so a test can raise to simulate a crash between an AWS create and its state write.
    """

    def __init__(self, path: PathLike, state: LaunchState) -> None:
        self.path = Path(path)
        self.real_path = Path(os.path.realpath(self.path))
        self.state = state
        self.fault_hook: Callable[[str], None] | None = None
        self.lock_path = self.real_path.with_name(self.real_path.name + ".lock")
        self.lock_info_path = self.real_path.with_name(self.real_path.name + ".lock.json")
        self._secrets: set[str] = set()
        self._mutex = threading.RLock()

    @classmethod
    def create(
        cls, path: PathLike, *, launch: str, account_id: str, region: str, config_digest: str
    ) -> StateFile:
        """Write the state of a new launch.

        Raises:
            BadInput: a file is already there (it is never overwritten).
        """
        file = Path(path)
        if file.exists():
            raise BadInput(
                f"{file} already exists: starting a new launch there would overwrite it.",
                title="State file exists",
                hint=f"Resume that launch with --state {file}, or give another path. {_KEPT}",
            )
        make_private_folder(Path(os.path.realpath(file)).parent)
        state = LaunchState(
            launch=launch, account_id=account_id, region=region, config_digest=config_digest
        )
        created = cls(file, state)
        created.save()
        return created

    @classmethod
    def open(cls, path: PathLike, *, launch: str | None = None) -> StateFile:
        """Read a state file, expecting the launch `launch` when given. The file is only read.

        Raises:
            BadInput: missing, unreadable, corrupt, foreign, newer schema, or another launch.
        """
        return cls(path, _read(Path(path), launch))

    @classmethod
    def open_or_create(
        cls, path: PathLike, *, launch: str, account_id: str, region: str, config_digest: str
    ) -> StateFile:
        """`open` the state of `launch` when the file exists, else `create` it."""
        if Path(path).exists():
            return cls.open(path, launch=launch)
        return cls.create(
            path, launch=launch, account_id=account_id, region=region, config_digest=config_digest
        )

    def check_target(self, account_id: str, region: str) -> None:
        """Refuse credentials for another account or region than the launch's, and a state
        whose records were made in another region than it says (edited): BadInput."""
        state = self.state
        elsewhere = sorted(
            {r.region for e in state.steps.values() for r in [*e.resources, *e.intents]}
            - {"", state.region}
        )
        if elsewhere:
            raise BadInput(
                f"{self.path} says its launch is in {state.region}, but its resources were "
                f"made in {', '.join(elsewhere)}: the file was edited or mixed up.",
                title="State does not match its resources",
                hint=f"Restore the state file from a backup. Nothing was changed. {_KEPT}",
            )
        if (state.account_id, state.region) != (account_id, region):
            raise BadInput(
                f"This state belongs to account {state.account_id} in {state.region}; your "
                f"credentials are for {account_id} in {region}: {self.path} does not apply there.",
                title="Another account or region",
                hint="Use the profile and region of this launch (--profile, --region), or give "
                f"another --state file to start a new launch. {_KEPT}",
            )

    @contextmanager
    def lock(self, owner_description: str) -> Iterator[StateFile]:
        """Hold the launch's lock (while applying), and re-read the file once it is held.

        Args:
            owner_description: What the holder does, shown to anyone refused (e.g. "apply").

        Raises:
            BadInput: another process or another StateFile holds it; says who and since when.
        """
        from filelock import FileLock, Timeout

        os_lock = FileLock(self.lock_path, timeout=0, thread_local=False, mode=0o600)
        try:
            os_lock.acquire()
        except Timeout:
            raise self._locked_error() from None
        try:  # the OS drops the lock of a dead process; its info file stays and is overwritten
            info = {
                "launch": self.state.launch,
                "pid": os.getpid(),
                "hostname": socket.gethostname(),
                "user": _user(),
                "started_at": utc_now(),
                "description": owner_description,
            }
            _atomic_write(self.lock_info_path, json.dumps(info, indent=2) + "\n")
            with self._mutex:
                self.state = _read(self.path, self.state.launch)
            yield self
        finally:
            self.lock_info_path.unlink(missing_ok=True)
            os_lock.release()

    def _locked_error(self) -> BadInput:
        try:
            info: dict[str, Any] = json.loads(self.lock_info_path.read_text(encoding="utf-8"))
            who = (
                f"pid {info['pid']} on host {info['hostname']} since {info['started_at']} "
                f"({info['description']}, user {info['user']})"
            )
        except (OSError, ValueError, KeyError, TypeError):
            who = "another process (it has not yet recorded which)"
        return BadInput(
            f"Launch {self.state.launch} is being applied by {who}.",
            title="Launch in use",
            hint=f"Wait for it, or if that process is gone remove {self.lock_path}.",
        )

    def register_secret(self, value: str) -> None:
        """Refuse every later save whose text holds `value` in any form (kept in memory only)."""
        if not value:
            raise ValueError("an empty string cannot be guarded as a secret")
        with self._mutex:
            self._secrets.add(value)

    def save(self) -> None:
        """Write the state now, refreshing `updated_at` (every mutator does this for you).

        Raises:
            WizardError: a registered secret would be written (nothing is), or writing failed.
        """
        self._mutate(lambda state: None)

    def _mutate(self, change: Callable[[LaunchState], object]) -> None:
        with self._mutex:
            draft = self.state.model_copy(deep=True)
            change(draft)
            draft.schema_version = SCHEMA_VERSION
            draft.updated_at = utc_now()
            text = json.dumps(draft.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"
            if contains_secret(text, self._secrets):
                raise WizardError(
                    f"A secret value was about to be written to {self.path}; nothing was written.",
                    title="Secret in state",
                    hint="This is a bug in airflow-ecs-wizard: please report it.",
                )
            if self.fault_hook:
                self.fault_hook("before-save")
            try:
                _atomic_write(self.real_path, text)
            except OSError as error:
                raise WizardError(
                    f"Cannot write the state file {self.path}: {error.strerror or error}.",
                    title="State not saved",
                    hint="Free disk space or fix the directory's permissions, then run again.",
                ) from error
            self.state = draft
            if self.fault_hook:
                self.fault_hook("after-save")

    def _update(self, step: str, **fields: Any) -> None:
        def change(state: LaunchState) -> None:
            entry = state.steps.setdefault(step, StepState())
            for name, value in fields.items():
                setattr(entry, name, value)

        self._mutate(change)

    def start_step(self, step: str) -> None:
        """Mark a step as running: pending, with a start time (its last error is kept)."""
        self._update(step, status="pending", started_at=utc_now(), finished_at="")

    def record_resource(self, step: str, resource: Resource) -> bool:
        """Record what a step created or adopted, dropping its intent; False when that kind
        and id already were (the first record, and its `created`, stay)."""
        with self._mutex:
            entry = self.step(step)
            key = (resource.kind, resource.id)
            intents = [i for i in entry.intents if (i.kind, i.id) != key]
            if any((r.kind, r.id) == key for r in entry.resources):
                if intents != entry.intents:
                    self._update(step, intents=intents)
                return False
            self._update(step, resources=[*entry.resources, resource.model_copy()], intents=intents)
            if any((r.kind, r.id) == (resource.kind, resource.id) for r in self.state.destroyed):

                def made_again(state: LaunchState) -> None:
                    state.destroyed = [
                        r for r in state.destroyed if (r.kind, r.id) != (resource.kind, resource.id)
                    ]

                self._mutate(made_again)
            return True

    def record_intent(self, step: str, resource: Resource) -> None:
        """Record, before the call, a create whose result AWS cannot tag as the launch's."""
        with self._mutex:
            intents = self.step(step).intents
            if all((i.kind, i.id) != (resource.kind, resource.id) for i in intents):
                self._update(step, intents=[*intents, resource.model_copy()])

    def drop_intent(self, step: str, kind: str, identifier: str) -> None:
        """Forget an intent whose create AWS refused (nothing was made)."""
        with self._mutex:
            intents = self.step(step).intents
            kept = [i for i in intents if (i.kind, i.id) != (kind, identifier)]
            if kept != intents:
                self._update(step, intents=kept)

    def intended(self, kind: str, identifier: str) -> bool:
        """Whether a create of this resource was under way when a run stopped."""
        return any(
            (i.kind, i.id) == (kind, identifier)
            for entry in self.state.steps.values()
            for i in entry.intents
        )

    def recorded(self, kind: str, identifier: str) -> Resource | None:
        """The record of a resource, from whichever step made it (None: never recorded)."""
        return next(
            (
                r
                for entry in self.state.steps.values()
                for r in entry.resources
                if (r.kind, r.id) == (kind, identifier)
            ),
            None,
        )

    def forget_resource(self, kind: str, identifier: str) -> None:
        """Drop a resource that `destroy` deleted, from whichever step recorded it, and list it
        as destroyed; a step that recorded it is no longer applied."""

        def change(state: LaunchState) -> None:
            for entry in state.steps.values():
                gone = [r for r in entry.resources if (r.kind, r.id) == (kind, identifier)]
                entry.intents = [i for i in entry.intents if (i.kind, i.id) != (kind, identifier)]
                if gone:
                    entry.resources = [r for r in entry.resources if r not in gone]
                    if entry.status == "applied":
                        entry.status, entry.finished_at, entry.preview_digest = "pending", "", ""
                    if not any((r.kind, r.id) == (kind, identifier) for r in state.destroyed):
                        state.destroyed.append(
                            gone[0].model_copy(update={"recorded_at": utc_now()})
                        )

        self._mutate(change)

    def remember_connection(self, *, profile: str, endpoint_url: str) -> None:
        """Keep the profile and endpoint the launch is applied with (no secret: an endpoint's
        user and password, if any, are dropped)."""
        endpoint = _without_userinfo(endpoint_url)
        if (self.state.profile, self.state.endpoint_url) != (profile, endpoint):

            def change(state: LaunchState) -> None:
                state.profile, state.endpoint_url = profile, endpoint

            self._mutate(change)

    def set_outputs(self, step: str, **outputs: OutputValue) -> None:
        """Add or replace outputs of a step (ids, ARNs, endpoints)."""
        with self._mutex:
            self._update(step, outputs={**self.step(step).outputs, **outputs})

    def finish_step(self, step: str, preview_digest: str = "") -> None:
        """Mark a step applied, with the digest of the plan the user saw; clears its error."""
        self._update(
            step, status="applied", finished_at=utc_now(), error="", preview_digest=preview_digest
        )

    def mark_previewed(self, step: str, preview_digest: str) -> None:
        """Keep the digest of the plan the user confirmed (its status does not change)."""
        self._update(step, preview_digest=preview_digest)

    def fail_step(self, step: str, error: str) -> None:
        """Mark a step failed with its error; its outputs and resources stay."""
        self._update(step, status="failed", finished_at=utc_now(), error=error)

    def reset_step(self, step: str) -> None:
        """Send a step back to pending; its outputs, resources and last error stay."""
        self._update(step, status="pending", finished_at="", preview_digest="")

    def step(self, name: str) -> StepState:
        """A step's state; a fresh pending one (not stored) for a step never started."""
        return self.state.steps.get(name) or StepState()

    def applied_steps(self) -> list[str]:
        """The names of the applied steps, in the order they first appeared."""
        return [name for name, entry in self.state.steps.items() if entry.status == "applied"]

    def created_resources(self, created_only: bool = True) -> list[Resource]:
        """Resources of all steps, newest first (the order `destroy` removes them in), each
        kind and id once; adopted ones only when `created_only` is False. A create left under
        way (an intent) counts as created: whatever AWS holds under that id is the launch's."""
        records = [
            (resource.recorded_at, step_index, index, resource)
            for step_index, entry in enumerate(self.state.steps.values())
            for index, resource in enumerate([*entry.resources, *entry.intents])
            if resource.created or not created_only
        ]
        records.sort(key=lambda record: record[:3], reverse=True)
        newest: dict[tuple[str, str], Resource] = {}
        for *_, resource in records:
            newest.setdefault((resource.kind, resource.id), resource)
        return list(newest.values())

    def summary_rows(self) -> list[tuple[str, str, int, str]]:
        """One row per step for `status`: name, status, number of resources, last error."""
        return [
            (name, entry.status, len(entry.resources), entry.error)
            for name, entry in self.state.steps.items()
        ]


def _tighten(path: Path) -> None:
    """A state readable or writable by others is made 0600 at once, with a warning."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            os.chmod(path, 0o600)
    except OSError:
        return  # missing or not ours: reading it says what is wrong
    if mode & 0o077:
        _log.warning(
            "warning: %s was readable or writable by others (mode %s); it is now 0600",
            path,
            oct(mode),
        )


def _read(path: Path, launch: str | None) -> LaunchState:
    _tighten(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise BadInput(
            f"Cannot read the state file {path}: {error.strerror or error}.",
            title="No state file",
            hint="Give the --state path of an existing launch.",
        ) from None
    state = _parse(path, data)
    if launch is not None and state.launch != launch:
        raise BadInput(
            f"{path} holds the state of launch {state.launch!r}, not {launch!r}.",
            title="State of another launch",
            hint=f"Give the state file of {launch!r}, or another path to start it. {_KEPT}",
        )
    return state


def _without_userinfo(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name in some containers
        return f"uid {os.getuid()}"
