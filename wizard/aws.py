"""The one place that makes boto3 sessions and clients.

Profile, region and endpoint come from the command line, then the config, then the standard
`AWS_*` variables and the default credential chain. Every client retries throttling and 5xx in
botocore's standard mode. Two hooks sit on the session itself, so no code path can avoid them:

- a **read-only guard** (dry-run and `plan`): any operation that is not a read is refused before
  a request is built, so nothing can be changed by mistake;
- a **call recorder**: how many calls of each operation were made (tests and benchmarks read it).

Tests may also observe every call with its parameters (`observe_calls`), to check the calls a
launch made against AWS's own rules where the emulator accepts what AWS would refuse.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from wizard import __version__
from wizard.errors import BadInput, WizardError

READ_PREFIXES = ("Describe", "List", "Get", "Head", "Lookup", "Search", "BatchGet")
READ_OPERATIONS = frozenset(
    {
        "GetCallerIdentity",
        "ValidateTemplate",
        "GetTemplate",
        "GetTemplateSummary",
        "EstimateTemplateCost",
        "SimulatePrincipalPolicy",
        "SimulateCustomPolicy",
    }
)
"""Reads whose names do not say so by their prefix, allowed in read-only mode."""

_NOT_READS = frozenset({"GetAuthorizationToken"})
"""Named like reads but hand out credentials: not needed to plan, so refused in read-only mode."""

MAX_ATTEMPTS = 10


def is_read(operation: str) -> bool:
    """Whether an API operation only reads (by AWS's naming, with the exceptions above)."""
    if operation in _NOT_READS:
        return False
    return operation in READ_OPERATIONS or operation.startswith(READ_PREFIXES)


class Interrupted(WizardError):
    """The user asked to stop (Ctrl-C): no new AWS call is made, the state is kept."""

    exit_code = 130

    def __init__(self) -> None:
        super().__init__(
            "interrupted (Ctrl-C): stopped before its next AWS call",
            title="Interrupted",
            hint="Run the same apply again to resume where it stopped.",
        )


class ReadOnlyViolation(WizardError):
    """A mutating call was attempted in read-only mode: a bug, never a user's mistake."""


@dataclass(frozen=True)
class AwsSettings:
    """Where to connect; empty strings mean "let boto3 decide" (environment, profile files)."""

    region: str = ""
    profile: str = ""
    endpoint_url: str = ""
    wait_scale: float = 1.0
    """Multiplies every pause between polls: 1 for AWS; small for an emulator that is instant."""
    emulator_credentials: bool = False
    """When no credentials are found, sign with the sandbox's placeholder ones: for an emulator
    on this machine (which takes any), as a sandbox launch's state remembers it."""


EMULATOR_CREDENTIALS = {"aws_access_key_id": "sandbox", "aws_secret_access_key": "sandbox"}
"""What the sandbox signs with: its emulator accepts any credentials."""


WAIT_SCALE_VARIABLE = "AIRFLOW_ECS_WIZARD_WAIT_SCALE"
"""Set by the sandbox: the emulator creates everything at once, so polls need not wait long."""


def wait_scale_from_environment() -> float:
    """`wait_scale` as $AIRFLOW_ECS_WIZARD_WAIT_SCALE says (1, AWS's pace, when unset).

    Raises:
        BadInput: the variable is not a number.
    """
    text = os.environ.get(WAIT_SCALE_VARIABLE, "")
    try:
        return min(max(float(text), 0.0), 1.0) if text else 1.0
    except ValueError:
        raise BadInput(
            f"{WAIT_SCALE_VARIABLE}={text!r} is not a number",
            title="Bad environment",
            hint="Set it to a number from 0 to 1 (the sandbox uses 0.02), or unset it.",
        ) from None


class CallRecorder:
    """Counts API calls per `service.Operation`, from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def record(self, service: str, operation: str) -> None:
        """Count one call."""
        with self._lock:
            self._counts[f"{service}.{operation}"] += 1

    @property
    def counts(self) -> dict[str, int]:
        """A snapshot of the counts."""
        with self._lock:
            return dict(self._counts)

    def mutating(self) -> dict[str, int]:
        """The calls that were not reads."""
        return {name: n for name, n in self.counts.items() if not is_read(name.split(".")[1])}

    def reset(self) -> None:
        """Forget every count."""
        with self._lock:
            self._counts.clear()


CallObserver = Callable[[str, str, dict[str, Any], str, str], None]
"""Receives `(service, operation, params, region, endpoint_url)` for every call of every `Aws`."""

_observers: list[CallObserver] = []
_observers_lock = threading.Lock()


@contextmanager
def observe_calls(observer: CallObserver) -> Iterator[None]:
    """Pass every API call made while the block runs, with its parameters, to `observer`.

    For tests: the parameters may hold secret values (`PutParameter`), so they are handed over
    in memory and never kept here.
    """
    with _observers_lock:
        _observers.append(observer)
    try:
        yield
    finally:
        with _observers_lock:
            _observers.remove(observer)


class Aws:
    """boto3 clients for one launch, sharing one session and its guard and recorder.

    Clients are thread-safe and cached per service; creating them is serialised, since a boto3
    session is not safe to create clients from in several threads at once.
    """

    def __init__(
        self,
        settings: AwsSettings,
        *,
        read_only: bool = False,
        recorder: CallRecorder | None = None,
    ) -> None:
        import boto3

        from wizard.aws_models import lean_session

        self.settings = settings
        self.read_only = read_only
        self.recorder = recorder or CallRecorder()
        self._session = boto3.Session(
            profile_name=settings.profile or None,
            region_name=settings.region or None,
            botocore_session=lean_session(),  # the models without their prose
        )
        if settings.emulator_credentials and self._session.get_credentials() is None:
            self._session = boto3.Session(
                region_name=settings.region or None,
                botocore_session=lean_session(),
                **EMULATOR_CREDENTIALS,
            )
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.stop = threading.Event()
        """Set to stop: every pause ends at once and every later AWS call raises
        `Interrupted` (calls under way finish)."""
        events = self._session.events
        events.register("before-call.*.*", self._before_call)
        events.register("before-parameter-build.*.*", self._observe)

    @property
    def region(self) -> str:
        """The region the clients talk to."""
        return str(self._session.region_name or "")

    def client(self, service: str) -> Any:
        """The client of one service (created once)."""
        with self._lock:
            if service not in self._clients:
                self._clients[service] = self._session.client(
                    service,
                    endpoint_url=self.settings.endpoint_url or None,
                    config=_client_config(),
                )
            return self._clients[service]

    def probe_client(self, service: str) -> Any:
        """A client that gives up after two attempts (not cached): for the first call, which
        tells whether AWS answers at all. The standard ten attempts spend ~20 s on an endpoint
        that is gone before the user hears of it."""
        with self._lock:
            return self._session.client(
                service,
                endpoint_url=self.settings.endpoint_url or None,
                config=_client_config().merge(_probe_config()),
            )

    def pause(self, seconds: float) -> None:
        """Sleep between two polls of something AWS is creating (scaled by `wait_scale`).

        Raises:
            Interrupted: `stop` is set, before or during the pause.
        """
        if self.stop.wait(seconds * self.settings.wait_scale):
            raise Interrupted()

    def wait(self, waiter: Any, delay: float, max_attempts: int, **arguments: Any) -> None:
        """Run a botocore waiter, pausing with `pause` between its attempts (so `stop` ends
        the wait at once; botocore's own sleep would not).

        Raises:
            WaiterError: the waiter failed, or is still waiting after `max_attempts`.
            Interrupted: `stop` was set.
        """
        from botocore.exceptions import WaiterError

        for attempt in range(max_attempts):
            try:
                waiter.wait(**arguments, WaiterConfig={"Delay": 0, "MaxAttempts": 1})
                return
            except WaiterError as error:
                if "Max attempts exceeded" not in str(error) or attempt == max_attempts - 1:
                    raise
            self.pause(delay)

    def delay(self, seconds: float) -> float:
        """A botocore waiter's `Delay`, scaled like `pause`."""
        return seconds * self.settings.wait_scale

    def register(self, event: str, handler: Any) -> None:
        """Add a botocore event handler to every client of this session (tests inject faults),
        those made already included: a client copies the session's handlers when it is made, and
        the TUI makes the later steps' clients ahead of time."""
        with self._lock:
            self._session.events.register(event, handler)
            for client in self._clients.values():
                client.meta.events.register(event, handler)

    def _observe(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        if not _observers:
            return
        service = model.service_model.service_name
        for observer in list(_observers):
            observer(service, model.name, params, self.region, self.settings.endpoint_url)

    def _before_call(self, model: Any, **_: Any) -> None:
        if self.stop.is_set():
            raise Interrupted()
        service = model.service_model.service_name
        self.recorder.record(service, model.name)
        if self.read_only and not is_read(model.name):
            raise ReadOnlyViolation(
                f"{service}.{model.name} would change AWS, and this run is read-only "
                "(plan or --dry-run).",
                title="Refused in read-only mode",
                hint="Nothing was changed. Run `apply` without --dry-run to make changes.",
            )


def warm_up() -> None:
    """Import boto3 and botocore's client machinery ahead of the first AWS call (seconds on a
    busy machine): the TUI does it in a thread once its first screen is drawn, so the first
    preview does not pay for it."""
    import boto3  # noqa: F401 (the import is the work)
    import botocore.client  # noqa: F401


def _client_config() -> Any:
    from botocore.config import Config

    return Config(
        retries={"mode": "standard", "max_attempts": MAX_ATTEMPTS},
        user_agent_extra=f"airflow-ecs-wizard/{__version__}",
        connect_timeout=10,
        read_timeout=60,
    )


def _probe_config() -> Any:
    from botocore.config import Config

    return Config(retries={"mode": "standard", "max_attempts": 2}, connect_timeout=5)


def error_code(error: BaseException) -> str:
    """The AWS error code of a botocore ClientError ("" for anything else)."""
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""
