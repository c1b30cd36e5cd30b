"""The sandbox's account kept between runs: a seed, and the requests that changed it.

The emulator keeps its account in memory, so each run of the sandbox would start from scratch
and the launches kept beside it could not be resumed. Instead the sandbox records every request
that changes the account (moto's request recorder) in `account.jsonl`, in the sandbox's folder,
and a new run replays them into a fresh emulator. Replayed requests must draw the same ids as
the first time, so the emulator process:

- seeds moto's random generator (`POST /moto-api/seed`) before the first recorded request,
  with every service's backend already created (creating one draws ids, e.g. EC2's default VPC);
- draws request ids from a generator of their own (every answer carries one, and reads, which
  are not recorded, would otherwise shift the ids drawn after them);
- serves one AWS request at a time, so the file's order is the order ids were drawn in.

Removing the sandbox's folder resets the account (and forgets its launches).
"""

from __future__ import annotations

import io
import json
import os
import random
import socket
import threading
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from wizard.aws import Aws, is_read

RECORDING = "account.jsonl"
"""The account's changing requests, one JSON object a line (moto's recorder format)."""
SEED = 20261203
"""The seed of moto's ids: any fixed number; the same for the first run and every replay."""
RECORDER_VARIABLE = "MOTO_RECORDER_FILEPATH"

LOADED_FIRST = {
    "autoscaling": "describe_auto_scaling_groups",
    "cloudformation": "describe_stacks",
    "ec2": "describe_vpcs",
    "ecr": "describe_repositories",
    "ecs": "list_clusters",
    "elasticache": "describe_replication_groups",
    "elbv2": "describe_load_balancers",
    "iam": "list_roles",
    "rds": "describe_db_instances",
    "s3": "list_buckets",
    "secretsmanager": "list_secrets",
    "servicediscovery": "list_namespaces",
    "ssm": "describe_parameters",
    "sts": "get_caller_identity",
}
"""A read call of each service the wizard uses."""


def touch_every_service(aws: Aws) -> None:
    """Create every service's backend in the emulator (a read each), before it is seeded:
    creating one draws ids (EC2's default VPC), which would shift the ids drawn after it."""
    for service, read in LOADED_FIRST.items():
        getattr(aws.client(service), read)()


def sandbox_home() -> Path:
    """Where the sandbox keeps its account and launches: $AIRFLOW_ECS_WIZARD_SANDBOX, else
    `sandbox` in the user's data folder."""
    override = os.environ.get("AIRFLOW_ECS_WIZARD_SANDBOX")
    if override:
        return Path(override)
    from platformdirs import user_data_path

    return user_data_path("airflow-ecs-wizard", appauthor=False) / "sandbox"


def _post(endpoint: str, path: str) -> None:
    request = urllib.request.Request(f"{endpoint}{path}", method="POST", data=b"")
    with urllib.request.urlopen(request, timeout=600):
        pass


def seed_ids(endpoint: str) -> None:
    """Seed moto's ids (the same on every run: before the services' backends are created, so
    that even the default VPC's ids are the same each time)."""
    _post(endpoint, f"/moto-api/seed?a={SEED}")


def start_recording(endpoint: str) -> None:
    """Seed the emulator's ids and record from now on (a new account)."""
    _post(endpoint, f"/moto-api/seed?a={SEED}")
    _post(endpoint, "/moto-api/recorder/start-recording")


def replay(endpoint: str) -> None:
    """Rebuild the kept account in a fresh emulator, then go on recording."""
    _post(endpoint, f"/moto-api/seed?a={SEED}")
    _post(endpoint, "/moto-api/recorder/replay-recording")
    _post(endpoint, "/moto-api/recorder/start-recording")


PORT_FILE = "port"
"""The port of the last run: used again when free, so remembered endpoints stay right."""


def preferred_port(folder: Path) -> int:
    """The port of the sandbox's last run if it is free, else any free one."""
    try:
        port = int((folder / PORT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return free_port()
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return free_port()
    return port


def point_configs_at(endpoint: str, configs: list[Path]) -> None:
    """Configs of the sandbox that named an emulator of an earlier run now name this one."""
    from wizard.config_file import load_config, save_config
    from wizard.connection import is_loopback

    for path in configs:
        config = load_config(path)
        old = config.aws.endpoint_url
        if old and old != endpoint and is_loopback(old):
            aws = config.aws.model_copy(update={"endpoint_url": endpoint})
            save_config(config.model_copy(update={"aws": aws}), path)


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# In the emulator's process


def record_changes_only() -> None:
    """Make moto (in this process) record only requests that may change the account (and say
    so: `ACCOUNT_CHANGED`), serve one AWS request at a time, and draw request ids apart from
    the seeded generator."""
    from moto.moto_api._internal.recorder.models import Recorder
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication
    from moto.utilities import aws_headers

    if getattr(Recorder, "changes_only_by_sandbox", False):
        return
    record = Recorder._record_request

    def _record_request(self: Recorder, request: Any, body: bytes | None = None) -> None:
        if note_request(request, body):
            record(self, request, body)

    one_at_a_time = threading.Lock()
    serve = DomainDispatcherApplication.__call__

    def __call__(self: DomainDispatcherApplication, environ: dict[str, Any], start: Any) -> Any:
        if str(environ.get("PATH_INFO", "")).startswith("/moto-api/"):
            return serve(self, environ, start)  # a replay calls this server back
        with one_at_a_time:
            return serve(self, environ, start)

    Recorder._record_request = _record_request  # type: ignore[method-assign]
    # every module that imported it by name calls this one function object: swap its code
    aws_headers.gen_amzn_requestid_long.__code__ = _request_id_code.__code__
    DomainDispatcherApplication.__call__ = __call__  # type: ignore[method-assign,assignment]
    Recorder.changes_only_by_sandbox = True  # type: ignore[attr-defined]


ACCOUNT_CHANGED = threading.Event()
"""Set when the emulator (in this process, see `record_changes_only`) is asked for something
that may change the account: the agent stand-in (`wizard.sandbox_agent`) wakes on it."""


def note_request(request: Any, body: bytes | None = None) -> bool:
    """Whether a request to the emulator may change the account; if so, `ACCOUNT_CHANGED` is
    set. moto calls this (as its recorder's hook) for every request, before serving it."""
    if _reads_only(request, body):
        return False
    ACCOUNT_CHANGED.set()
    return True


_OWN_IDS = random.Random()


def unseeded_request_id(headerdict: dict[str, Any] | None = None) -> str:
    """A request id that leaves moto's seeded generator alone."""
    request_id = "".join(_OWN_IDS.choices("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", k=52))
    if isinstance(headerdict, dict):
        headerdict["x-amzn-requestid"] = request_id
    return request_id


def _request_id_code(headerdict: dict[str, Any] | None = None) -> str:
    # runs as moto's gen_amzn_requestid_long (its globals, not this module's): import by name
    from wizard.sandbox_account import unseeded_request_id

    return unseeded_request_id(headerdict)


def _reads_only(request: Any, body: bytes | None) -> bool:
    """Whether a request only reads (by AWS's operation naming; GET and HEAD for REST)."""
    method = str(request.method).upper()
    if method in ("GET", "HEAD"):
        return True
    target = str(request.headers.get("X-Amz-Target", ""))
    if target:
        return is_read(target.rsplit(".", 1)[-1])
    data = body if body is not None else _peek_body(request)
    action = urllib.parse.parse_qs(data.decode("utf-8", "replace")).get("Action", [""])[0]
    action = action or str(getattr(request, "args", {}).get("Action", ""))
    return bool(action) and is_read(action)


def _peek_body(request: Any) -> bytes:
    """The request's body, left in place for moto to read."""
    environ = request.environ
    try:
        size = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        return b""
    data = environ["wsgi.input"].read(size) if size else b""
    environ["wsgi.input"] = io.BytesIO(data)
    return bytes(data)


def recorded_requests(folder: Path) -> int:
    """How many requests the kept account holds (0: none kept)."""
    path = folder / RECORDING
    if not path.exists():
        return 0
    with path.open(encoding="utf-8") as lines:
        return sum(1 for line in lines if line.strip() and json.loads(line))
