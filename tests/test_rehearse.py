"""Rehearsals that really boot Airflow (pip-installed, cached per version in
AIRFLOW_ECS_WIZARD_VENV_CACHE) against a real PostgreSQL (MariaDB for the MySQL launch) and
Redis: the example config on 3.x and on 2.11 end to end, definitions of a MySQL launch broken
in ways that really stop a component, and the docker runtime where a Docker engine exists.

These take minutes each; they are marked `rehearsal` and collected first, so pytest-xdist runs
them beside the rest of the suite."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Callable
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from wizard.config import LaunchConfig
from wizard.rehearse.command import docker_engine
from wizard.rehearse.report import Result
from wizard.rehearse.run import Rehearsal
from wizard.render import render_artifacts

pytestmark = pytest.mark.rehearsal

ALLOWED_REWRITES = {"port", "mount", "service-connect", "hostname", "endpoint"}


@pytest.fixture(autouse=True)
def _servers_installed() -> None:
    from tests.services import missing

    if not list(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl")):
        missing("PostgreSQL")
    if shutil.which("redis-server") is None:
        missing("redis-server")


def _closed(address: str) -> bool:
    host, _, port = address.rpartition(":")
    with socket.socket() as probe:
        probe.settimeout(2)
        return probe.connect_ex((host.removeprefix("http://"), int(port))) != 0


def _nothing_left(data: dict[str, Any]) -> None:
    """Everything the rehearsal started is gone: its folder, and every service's port."""
    assert not Path(data["folder"]).exists()
    assert not Path(data["services"]["postgres_folder"]).exists()
    for key in ("postgres", "redis", "s3"):
        assert _closed(data["services"][key]), key
    assert _closed(f"127.0.0.1:{data['ui'].rsplit(':', 1)[1]}")  # the UI's port (1: never used)


def _rows(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["component"].split(" (")[0]: row for row in data["rows"]}


def _host_and_sql_rewrites(rewrites: list[dict[str, str]]) -> None:
    """What the instance and SSM would provide is listed: the worker's private IP (the
    bootstrap's host folder) and the stand-in answering database.sql's `aws ssm` call."""
    assert {"kind": "hostname", "component": "worker", "after": "127.0.0.1"}.items() <= next(
        r for r in rewrites if r["kind"] == "hostname" and r["component"] == "worker"
    ).items()
    assert any(r["kind"] == "mount" and "docker-airflow/host" in r["before"] for r in rewrites)
    assert any("aws ssm get-parameter" in r["before"] for r in rewrites)


def _form_login(ui: str, username: str, password: str, path: str) -> str:
    """Log in through the web login form as a browser would; the page it lands on."""
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(f"{ui}{path}", timeout=60) as response:
        page = response.read().decode()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert token, page[:500]
    form = {"username": username, "password": password, "csrf_token": token[1]}
    with opener.open(f"{ui}{path}", data=urllib.parse.urlencode(form).encode(), timeout=60) as r:
        return str(r.geturl())


def test_example_config_rehearses_on_airflow_3(example_path: Path) -> None:
    """The README's command on the example config, as a user runs it, kept running: every row
    holds, the Admin logs in to the UI with the generated password, and Ctrl+C stops it all."""
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "wizard.cli", "rehearse", "--config", str(example_path)),
            *("--runtime", "venv", "--json", "--keep-running"),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None and process.stderr is not None
        lines = []
        for line in process.stdout:  # the JSON document ends with a "}" line of its own
            lines.append(line)
            if line.rstrip() == "}":
                break
        assert lines, process.stderr.read()
        data = json.loads("".join(lines))
        rows = _rows(data)
        assert data["ok"], json.dumps(data["rows"], indent=1)
        assert set(rows) == {
            *("migrate", "webserver", "scheduler", "worker", "flower", "triggerer"),
            *("dag_processor", "admin login", "dag run", "remote log"),
        }
        assert rows["admin login"]["health"] == "ok (POST /auth/token)"
        # the worker's hostname_callable: the bootstrap's module, reading 127.0.0.1 here
        assert rows["dag run"]["health"] == "success on 127.0.0.1"
        _host_and_sql_rewrites(data["rewrites"])
        assert rows["remote log"]["health"] == "in S3"
        assert "/dag_id=airflow_ecs_wizard_rehearsal/" in rows["remote log"]["detail"]
        assert {rewrite["kind"] for rewrite in data["rewrites"]} <= ALLOWED_REWRITES
        assert data["ran"] == "apache-airflow==3.3.2 from PyPI"
        # kept running: a person logs in through the UI's login form with the Admin password
        password = (Path(data["folder"]) / "admin-password").read_text().strip()
        landed = _form_login(data["ui"], "admin", password, "/auth/login/")
        assert "/auth/login" not in urllib.parse.urlsplit(landed).path, landed
        assert password not in json.dumps(data)  # the password is only in its 0600 file
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=180)
    assert process.returncode == 0
    _nothing_left(data)


USER_DAG = """
import datetime

from airflow import DAG
from airflow.operators.bash import BashOperator

with DAG("users_own_dag", schedule=None, start_date=datetime.datetime(2024, 1, 1)) as dag:
    BashOperator(task_id="say", bash_command="echo the users DAG ran")
"""


def test_example_config_rehearses_on_airflow_2_11(
    make_config: Callable[..., LaunchConfig], tmp_path: Path
) -> None:
    """With the user's own DAG (--dag), and the broker in transit encryption."""
    # with the broker in transit encryption: rediss:// with certificate checks, against the
    # rehearsal's own TLS Redis and self-signed certificate
    config = make_config(
        airflow__version="2.11", image__tag="2.11.2", redis__transit_encryption=True
    )
    (tmp_path / "users_dag.py").write_text(USER_DAG)
    rehearsal = Rehearsal(config, dag=tmp_path / "users_dag.py", report=lambda message: None)
    result = None
    try:
        result = rehearsal.run()
    finally:
        rehearsal.stop(keep_logs=result is not None and not result.ok)
    data = json.loads(result.to_json())
    logs = f"(logs kept in {rehearsal.folder / 'logs'})"
    assert result.ok, json.dumps(data["rows"], indent=1) + logs
    rows = _rows(data)
    assert "dag run (users_own_dag)" in {row["component"] for row in data["rows"]}
    assert rows["admin login"]["health"] == "ok (login form)"
    assert rows["dag run"]["health"] == "success on 127.0.0.1"
    _host_and_sql_rewrites(data["rewrites"])
    assert rows["remote log"]["health"] == "in S3"
    assert "/dag_id=users_own_dag/" in rows["remote log"]["detail"]
    assert not any(rewrite["kind"] == "service-connect" for rewrite in data["rewrites"])
    assert data["ran"] == "apache-airflow==2.11.2 from PyPI"
    assert any("SSL_CERT_FILE" in rewrite["before"] for rewrite in data["rewrites"])
    _nothing_left(data)


def _container(definitions: dict[str, str], component: str) -> tuple[dict[str, Any], Any]:
    document = json.loads(definitions[f"taskdef-{component}.json"])
    return document, document["containerDefinitions"][0]


def test_broken_definitions_fail_naming_each_component(
    make_config: Callable[..., LaunchConfig],
) -> None:
    """Four breaks that really stop a component, one per component; the others stay healthy
    and no DAG runs.

    On a MySQL launch, so that this one boot also proves the MariaDB stand-in: the private
    server with TLS required and the Airflow user's password, the launch's MySQL database.sql,
    `airflow db migrate` on it, and the API server and DAG processor healthy against it."""
    if shutil.which("mariadb-install-db") is None:
        from tests.services import missing

        missing("MariaDB", "mariadb-server mariadb-client")
    config = make_config(database__engine="mysql", database__admin_username="admin")
    artifacts = render_artifacts(config, "123456789012")

    def edit(component: str, change: Callable[[dict[str, Any]], None]) -> None:
        document, container = _container(artifacts, component)
        change(container)
        artifacts[f"taskdef-{component}.json"] = json.dumps(document)

    def wrong_command(container: dict[str, Any]) -> None:
        container["command"] = ["celery", "flowr"]

    def missing_secret(container: dict[str, Any]) -> None:
        container["secrets"] = [
            s for s in container["secrets"] if s["name"] != "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"
        ]

    def broker_nowhere(container: dict[str, Any]) -> None:
        with socket.socket() as probe:  # a port nothing listens on
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        container["secrets"] = [
            s for s in container["secrets"] if s["name"] != "AIRFLOW__CELERY__BROKER_URL"
        ]
        container["environment"].append(
            {"name": "AIRFLOW__CELERY__BROKER_URL", "value": f"redis://127.0.0.1:{port}/1"}
        )
        container["healthCheck"].update(startPeriod=20, retries=2)

    def hopeless_check(container: dict[str, Any]) -> None:
        container["healthCheck"] = {
            "command": ["CMD-SHELL", "curl --fail --silent http://localhost:9/health || exit 1"],
            "interval": 30,
            "timeout": 10,
            "retries": 1,
            "startPeriod": 0,
        }

    edit("flower", wrong_command)
    edit("scheduler", missing_secret)
    edit("worker", broker_nowhere)
    edit("triggerer", hopeless_check)
    rehearsal = Rehearsal(config, artifacts=artifacts, report=lambda message: None)
    try:
        result: Result = rehearsal.run()
    finally:
        rehearsal.stop()
    rows = {row.component: row for row in result.rows}
    assert not result.ok
    assert rows["migrate (initdb)"].ok, rows["migrate (initdb)"].detail  # on MariaDB
    assert "mariadb" in result.services and "postgres" not in result.services
    assert any("stands in for RDS MySQL" in note for note in result.relaxed), result.relaxed
    assert not Path(result.services["mariadb_folder"]).exists()  # stopped with its folder
    assert set(result.failed) == {"flower", "scheduler", "worker", "triggerer"}, result.to_json()
    assert rows["flower"].health.startswith("exited ")
    assert rows["scheduler"].health.startswith("exited ")
    # of its missing secret: MariaDB, which would stop it too (Airflow 3.3's WITH … DELETE),
    # never saw it
    assert "MariaDB refused" not in rows["scheduler"].detail, rows["scheduler"].detail
    assert rows["worker"].health in ("unhealthy", *(f"exited {n}" for n in range(1, 256)))
    assert rows["triggerer"].health == "unhealthy"
    assert "localhost:9/health" in rows["triggerer"].detail
    assert rows["webserver"].ok and rows["dag_processor"].ok
    assert "dag run" not in " ".join(rows)  # nothing is proved on a broken stack


def test_docker_runtime_rehearses_the_official_image(
    make_config: Callable[..., LaunchConfig],
) -> None:
    reason = docker_engine()
    if reason is not None:
        pytest.skip(f"docker runtime not tested: {reason}")
    from wizard.rehearse.docker import DockerRehearsal

    config = make_config(airflow__home="/opt/airflow")
    rehearsal = DockerRehearsal(
        config,
        account_id="123456789012",
        image=os.environ.get("AIRFLOW_ECS_WIZARD_REHEARSE_IMAGE", "apache/airflow:3.3.2"),
        dag=None,
        report=lambda message: None,
    )
    try:
        result = rehearsal.run()
    finally:
        rehearsal.stop()
    assert result.ok, result.to_json()
    assert result.ran.startswith("image apache/airflow")


def test_ctrl_c_while_it_boots_stops_everything(example_path: Path) -> None:
    """Interrupted once the services run: every component, PostgreSQL, Redis and the emulator
    are stopped and the folders are gone; the exit status is 130 as for any Ctrl+C."""
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "wizard.cli", "rehearse", "--config", str(example_path)),
            *("--runtime", "venv"),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    said = []
    for line in process.stderr:
        said.append(line)
        if line.startswith("started "):
            break
    process.send_signal(signal.SIGINT)
    process.wait(timeout=180)
    text = "".join(said)
    services = re.search(
        r"PostgreSQL on (\S+) \((\S+)\), Redis on (\S+), S3 emulator at (\S+); logs in (\S+)/logs",
        text,
    )
    assert services, text
    pids = [int(pid) for pid in re.findall(r"\(pid (\d+)\)", said[-1])]
    assert len(pids) == 6, said[-1]
    assert process.returncode == 130
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    _nothing_left(
        {
            "folder": services[5],
            "ui": "http://localhost:1",  # never served: nothing to check
            "services": {
                "postgres": services[1],
                "postgres_folder": services[2],
                "redis": services[3],
                "s3": services[4],
            },
        }
    )
