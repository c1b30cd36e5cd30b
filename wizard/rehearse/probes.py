"""What a rehearsal proves through the API server, as a user would: the Admin logs in with the
generated password (`POST /auth/token` on 3.x, the login form on 2.x), a DAG run succeeds on the
Celery worker, and the task's log lands in the remote log folder."""

from __future__ import annotations

import html
import http.cookiejar
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ProbeFailed(Exception):
    """A check that did not hold, with what was seen."""


@dataclass
class ApiSession:
    """A logged-in session on the API server (a JWT on 3.x, the session cookie on 2.x)."""

    base: str
    major: int
    token: str = ""
    jar: http.cookiejar.CookieJar = field(default_factory=http.cookiejar.CookieJar)

    @property
    def api(self) -> str:
        """The REST API's root."""
        return f"{self.base}/api/v2" if self.major >= 3 else f"{self.base}/api/v1"

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """One JSON call to the REST API: (status, parsed body)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.api}{path}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        try:
            with opener.open(request, timeout=60) as response:
                return response.status, _json(response.read())
        except urllib.error.HTTPError as error:
            return error.code, _json(error.read())


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw or b"null")
    except ValueError:
        return raw.decode(errors="replace")[:300]


def login(base: str, major: int, username: str, password: str) -> ApiSession:
    """Log in as the Admin; the session for the API calls that follow.

    Raises:
        ProbeFailed: the server refused the password, or did not answer as expected.
    """
    session = ApiSession(base=base, major=major)
    if major >= 3:
        request = urllib.request.Request(
            f"{base}/auth/token",
            data=json.dumps({"username": username, "password": password}).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                status, body = response.status, _json(response.read())
        except urllib.error.HTTPError as error:
            raise ProbeFailed(f"POST /auth/token answered {error.code}") from error
        if status != 201 or not isinstance(body, dict) or "access_token" not in body:
            raise ProbeFailed(f"POST /auth/token answered {status} without a token")
        session.token = body["access_token"]
        return session
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(session.jar))
    with opener.open(f"{base}/login/", timeout=60) as response:
        page = response.read().decode(errors="replace")
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    if not match:
        raise ProbeFailed("the login page has no CSRF token: is it the FAB login form?")
    form = urllib.parse.urlencode(
        {"username": username, "password": password, "csrf_token": html.unescape(match[1])}
    ).encode()
    with opener.open(f"{base}/login/", data=form, timeout=60) as response:
        landed = response.geturl()
    status, _ = session.request("GET", "/dags?limit=1")
    if "/login" in urllib.parse.urlsplit(landed).path or status != 200:
        raise ProbeFailed(f"the login form did not log in (landed on {landed}, API {status})")
    return session


def wait_for_dag(session: ApiSession, dag_id: str, timeout: float) -> None:
    """Wait until the DAG processor has parsed the DAG and the API lists it."""
    deadline = time.monotonic() + timeout
    while True:
        status, body = session.request("GET", f"/dags/{dag_id}")
        if status == 200:
            return
        if time.monotonic() > deadline:
            raise ProbeFailed(f"DAG {dag_id} was not parsed within {timeout:g} s ({body})")
        time.sleep(3)


def first_dag(session: ApiSession, dag: Path | None, timeout: float) -> str:
    """The first DAG (by id) the API lists from the user's DAG file."""
    deadline = time.monotonic() + timeout
    name = dag.name if dag else ""
    while time.monotonic() < deadline:
        _status, body = session.request("GET", "/dags?limit=100")
        dags = body.get("dags", []) if isinstance(body, dict) else []
        ids = sorted(d["dag_id"] for d in dags if str(d.get("fileloc", "")).endswith(name))
        if ids:
            return str(ids[0])
        time.sleep(3)
    raise ProbeFailed(f"no DAG from {name} was parsed within {timeout:g} s")


def run_dag(
    session: ApiSession, dag_id: str, timeout: float, exited: Callable[[], str] = lambda: ""
) -> dict[str, Any]:
    """Unpause the DAG, trigger a run and wait for it to end; the run's task instances.
    `exited` says which component stopped running (then the run cannot end: no more waiting).

    Raises:
        ProbeFailed: the run failed, or did not end within `timeout` or before a component
            exited.
    """
    status, body = session.request("PATCH", f"/dags/{dag_id}", {"is_paused": False})
    if status != 200:
        raise ProbeFailed(f"unpausing {dag_id} answered {status}: {body}")
    payload: dict[str, Any] = {"logical_date": None} if session.major >= 3 else {}
    status, body = session.request("POST", f"/dags/{dag_id}/dagRuns", payload)
    if status not in (200, 201):
        raise ProbeFailed(f"triggering {dag_id} answered {status}: {body}")
    run_id = body["dag_run_id"]
    quoted = urllib.parse.quote(run_id, safe="")
    deadline = time.monotonic() + timeout
    state = gone = ""
    while time.monotonic() < deadline:
        status, body = session.request("GET", f"/dags/{dag_id}/dagRuns/{quoted}")
        state = body.get("state", "") if isinstance(body, dict) else ""
        gone = "" if state in ("success", "failed") else exited()
        if state in ("success", "failed") or gone:
            break
        time.sleep(3)
    _, listed = session.request("GET", f"/dags/{dag_id}/dagRuns/{quoted}/taskInstances")
    instances = listed.get("task_instances", []) if isinstance(listed, dict) else []
    if state != "success":
        states = ", ".join(f"{ti['task_id']}={ti['state']}" for ti in instances)
        if gone:
            raise ProbeFailed(f"run {run_id} still {state} ({states}) when {gone}: not waited for")
        raise ProbeFailed(f"run {run_id} ended {state or 'not at all'} ({states})")
    return {"run_id": run_id, "task_instances": instances}


def remote_log(
    endpoint: str, folder: str, dag_id: str, run_id: str, timeout: float
) -> tuple[str, str]:
    """The key and text of the run's task log in the remote log folder (s3://BUCKET/PREFIX) of
    the emulator at `endpoint`.

    Raises:
        ProbeFailed: no log of the run arrived within `timeout`.
    """
    import boto3

    bucket, _, prefix = folder.removeprefix("s3://").partition("/")
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="rehearsal",
        aws_secret_access_key="rehearsal",
    )
    wanted = (f"dag_id={dag_id}/", f"run_id={run_id}/")
    deadline = time.monotonic() + timeout
    while True:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for page in pages:
            for entry in page.get("Contents", []):
                if all(part in entry["Key"] for part in wanted):
                    text = s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read()
                    return entry["Key"], text.decode(errors="replace")
        if time.monotonic() > deadline:
            raise ProbeFailed(f"no log of run {run_id} under {folder} after {timeout:g} s")
        time.sleep(2)
