"""A MySQL launch's rehearsal without booting Airflow: the private MariaDB server it starts
(TLS, the launch's own MySQL database.sql creating the Airflow user with its password, stopped
with its folder), its own venv, and the table's "relaxed:" lines. The Airflow side on MariaDB
(migrate, the components' health) is proved by
tests/test_rehearse.py::test_broken_definitions_fail_naming_each_component."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from wizard.config import LaunchConfig
from wizard.errors import WizardError
from wizard.rehearse import mariadb, venv
from wizard.rehearse.local_services import database_key
from wizard.rehearse.mariadb import MariaDB, password_fetch
from wizard.rehearse.probes import ApiSession
from wizard.rehearse.report import table
from wizard.rehearse.run import Rehearsal
from wizard.rehearse.values import database_tls, local_values, wants_tls
from wizard.render import render_artifacts

MYSQL = {"database__engine": "mysql", "database__admin_username": "admin"}


@pytest.fixture
def mysql_config(make_config: Callable[..., LaunchConfig]) -> LaunchConfig:
    return make_config(**MYSQL)


def _installed() -> None:
    if not Path(mariadb.SERVER).exists() or shutil.which("mariadb-install-db") is None:
        from tests.services import missing

        missing("MariaDB", "mariadb-server mariadb-client")


def _as_user(
    server: MariaDB, password: str, *options: str, sql: str
) -> subprocess.CompletedProcess[str]:
    """The mariadb client as the Airflow user over TCP (the password in its environment)."""
    return subprocess.run(
        [
            *("mariadb", "--no-defaults", "--host=127.0.0.1", f"--port={server.port}"),
            *("--user=airflow", "--batch", "--skip-column-names", *options, "-e", sql),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "MYSQL_PWD": password},
        check=False,
    )


def _closed(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(2)
        return probe.connect_ex(("127.0.0.1", port)) != 0


def test_local_mariadb_with_tls_runs_the_mysql_database_sql(mysql_config: LaunchConfig) -> None:
    """The launch's own MySQL database.sql, run as its header says (the password read with its
    `aws ssm get-parameter`, answered by the rehearsal's stand-in, base64 into
    @airflow_password): the Airflow user then logs in with that password over TLS only, and
    owns its utf8mb4 database; a script asking SSM for something else fails by name; stop()
    shuts the server down and removes its folder."""
    _installed()
    script = render_artifacts(mysql_config, "123456789012")["database.sql"]
    assert "SET @create_user" in script  # the MySQL flavour
    server = MariaDB(fetch=password_fetch(mysql_config), require_tls=True)
    password = "s3cret'x\"y\\z"  # every quote a statement could trip on
    try:
        server.start()
        assert "MariaDB" in server.version
        with pytest.raises(WizardError, match=r"ParameterNotFound: .*db_password"):
            server.run_script(script, {"some.other.parameter": "x"})
        server.run_script(script, {mysql_config.secret_name("db_password"): password})
        server.run_script(script, {mysql_config.secret_name("db_password"): password})  # again
        over_tls = _as_user(
            server,
            password,
            "--ssl",
            sql="SHOW SESSION STATUS LIKE 'Ssl_cipher'; USE airflow; CREATE TABLE t (x int); "
            "SELECT @@character_set_database, @@explicit_defaults_for_timestamp",
        )
        assert over_tls.returncode == 0, over_tls.stderr
        cipher, charset = over_tls.stdout.strip().splitlines()
        assert cipher.split("\t")[1]  # a cipher: the session is encrypted
        assert charset == "utf8mb4\t1"
        wrong = _as_user(server, "wrong", "--ssl", sql="SELECT 1")
        assert wrong.returncode != 0 and "Access denied" in wrong.stderr
        cleartext = _as_user(server, password, "--skip-ssl", sql="SELECT 1")
        assert cleartext.returncode != 0, cleartext.stdout
        for user in ("root", "mysql", ""):  # the admin only over the private socket
            assert _as_user(server, "", "--ssl", f"--user={user}", sql="SELECT 1").returncode
        port, root = server.port, server.root
    finally:
        server.stop()
    assert server.process is None and not root.exists() and _closed(port)


def test_failing_mysql_database_sql_is_named(mysql_config: LaunchConfig) -> None:
    """A statement the server refuses stops the script, and the error quotes the server."""
    _installed()
    server = MariaDB(fetch=password_fetch(mysql_config))
    try:
        server.start()
        broken = render_artifacts(mysql_config, "123456789012")["database.sql"].replace(
            "CREATE DATABASE IF NOT EXISTS", "CREATE DATABASE IF NOT EXISTZ"
        )
        with pytest.raises(WizardError, match=r"database\.sql failed against the local MariaDB"):
            server.run_script(broken, {mysql_config.secret_name("db_password"): "pw"})
    finally:
        server.stop()


def test_mariadb_that_cannot_start_says_so(
    mysql_config: LaunchConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A missing server names the Debian packages; a server that exits at once quotes its own
    log, and nothing is left behind."""
    monkeypatch.setattr(mariadb, "SERVER", "/nonexistent/mariadbd")
    server = MariaDB()
    with pytest.raises(WizardError, match="apt-get install -y mariadb-server mariadb-client"):
        server.start()
    server.stop()
    monkeypatch.undo()
    _installed()
    server = MariaDB(require_tls=True)
    server.root.mkdir(exist_ok=True)
    # a server that cannot start: its TCP port is taken
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        monkeypatch.setattr(mariadb, "free_port", lambda: taken.getsockname()[1])
        with pytest.raises(WizardError, match="the local MariaDB did not start: ") as failed:
            server.start()
    assert failed.value.title == "MariaDB did not start"
    assert server.process is None and not server.root.exists()


def test_mysql_launch_rehearsal_names_its_relaxations(
    mysql_config: LaunchConfig, make_config: Callable[..., LaunchConfig], tmp_path: Path
) -> None:
    """A MySQL launch is rehearsed (no longer refused), in a venv of its own (mysqlclient never
    lands in the PostgreSQL launches' venv), with TLS as its URL asks; the table says MariaDB
    stands in for MySQL."""
    rehearsal = Rehearsal(mysql_config, folder=tmp_path / "r", report=lambda _: None)
    rehearsal.database_version = "10.11.19-MariaDB-0+deb12u1"
    relaxed = rehearsal._relaxed()
    assert any(
        "MariaDB 10.11.19-MariaDB-0+deb12u1 (Debian's package) stands in for RDS MySQL" in note
        for note in relaxed
    )
    assert any("mysql_native_password" in note for note in relaxed)
    assert not any("does not require TLS" in note for note in relaxed)
    assert database_key(mysql_config) == "mariadb"
    postgres = make_config()
    assert venv.venv_path(mysql_config) != venv.venv_path(postgres)
    assert venv.venv_path(postgres).name.startswith("airflow-3.3.2-py")  # the warm cache's name
    assert "mysql" in venv.requirements(mysql_config)[0]
    assert database_tls(mysql_config) and wants_tls("mysql+mysqldb://u:p@h/db?ssl_mode=REQUIRED")
    assert not wants_tls("mysql+mysqldb://u:p@h/db?ssl_mode=PREFERRED")
    assert wants_tls("mysql+mysqldb://u:p@h/db?ssl_ca=/ca.pem")  # 1.10's: TLS, verified
    assert not wants_tls("mysql+mysqldb://u:p@h/db")
    values = local_values(mysql_config, "127.0.0.1", 3399, "127.0.0.1:6399")
    url = values.by_parameter[mysql_config.secret_name("sql_alchemy_conn")]
    assert url.startswith("mysql+mysqldb://airflow:") and url.endswith(
        "@127.0.0.1:3399/airflow?ssl_mode=REQUIRED"
    )
    fetch = password_fetch(mysql_config)
    assert fetch in render_artifacts(mysql_config, "123456789012")["database.sql"].replace(
        "\\\n--     ", ""
    )


def test_failed_migrate_on_mariadb_names_the_stage_and_the_stand_in(
    mysql_config: LaunchConfig, tmp_path: Path
) -> None:
    """A migrate that fails on MariaDB is the migrate row, failed, with its own output and a
    line saying that MariaDB, not MySQL, ran it (no traceback of the rehearsal's own)."""
    from wizard.rehearse.processes import Container
    from wizard.rehearse.report import Result
    from wizard.rehearse.run import MIGRATE_ON_MARIADB

    (tmp_path / "r").mkdir()
    rehearsal = Rehearsal(mysql_config, folder=tmp_path / "r", report=lambda _: None)
    said = "sqlalchemy.exc.OperationalError: (1071, 'Specified key was too long')"
    rehearsal.containers["initdb"] = Container(
        "initdb",
        ["/bin/sh", "-c", f'seq 1 10; echo "{said}"; echo "(a traceback line)"; exit 1'],
        {},
        tmp_path / "initdb.log",
    )
    result = Result(runtime="venv", ran="")
    assert not rehearsal._migrate(result)
    (row,) = result.rows
    assert row.component == "migrate (initdb)" and not row.ok and row.health == "exited 1"
    assert row.detail.startswith(MIGRATE_ON_MARIADB) and said in row.detail
    assert MIGRATE_ON_MARIADB in table(result)  # among the lines the table shows


SCHEDULER_ON_MARIADB = """\
[error    ] Exception when executing SchedulerJob._run_scheduler_loop
  File ".../airflow/jobs/scheduler_job_runner.py", line 3735, in _orphan_unreferenced_assets
MySQLdb.ProgrammingError: (1064, "You have an error in your SQL syntax; check the manual that \
corresponds to your MariaDB server version for the right syntax to use near 'DELETE FROM \
asset_active WHERE EXISTS (SELECT * \\nFROM anon_1 \\nWHERE asset_act...' at line 5")
The above exception was the direct cause of the following exception:
sqlalchemy.exc.ProgrammingError: (MySQLdb.ProgrammingError) (1064, "You have an error")
[SQL: WITH anon_1 AS
 DELETE FROM asset_active WHERE EXISTS (SELECT *
[parameters: (0,)]
(Background on this error at: https://sqlalche.me/e/21/f405)
"""
"""What Airflow 3.3.2's scheduler wrote before it exited on MariaDB 10.11 (abridged)."""


def test_component_that_mariadb_refuses_says_so(
    mysql_config: LaunchConfig, make_config: Callable[..., LaunchConfig], tmp_path: Path
) -> None:
    """A component that exits on MariaDB's refusal of Airflow's SQL (Airflow 3.3's scheduler
    does, on its `WITH … DELETE`) has a row saying so plainly, above the log's last lines,
    instead of a traceback's tail alone; a component that fails otherwise, or a PostgreSQL
    launch's, gets no such line."""
    from wizard.rehearse.mariadb import mariadb_refusal
    from wizard.rehearse.plan import ContainerPlan
    from wizard.rehearse.processes import Container

    said = mariadb_refusal(SCHEDULER_ON_MARIADB)
    assert said.startswith("MariaDB refused Airflow's SQL (error 1064: You have an error")
    assert "near 'DELETE FROM asset_active" in said and "stands in for RDS MySQL" in said
    assert mariadb_refusal("Error: No such command 'flowr'.") == ""

    def settle(config: LaunchConfig, output: str, name: str) -> str:
        folder = tmp_path / name
        folder.mkdir()
        rehearsal = Rehearsal(config, folder=folder, report=lambda _: None)
        log = folder / "scheduler.log"
        log.write_text(output)
        container = Container("scheduler", ["/bin/sh", "-c", "exit 1"], {}, log)
        rehearsal.containers["scheduler"] = container
        container.start(folder)
        assert container.wait(60) == 1
        plan = ContainerPlan("scheduler", "f", [], {}, {}, None, None, None)
        row = rehearsal._settle(plan)
        assert row.health == "exited 1" and not row.ok
        return row.detail

    detail = settle(mysql_config, SCHEDULER_ON_MARIADB, "mysql")
    assert detail.startswith(said + "\n") and "sqlalche.me" in detail
    assert len(detail.splitlines()) <= 6  # all of it in the table
    assert "MariaDB refused" not in settle(mysql_config, "No such command 'flowr'.", "other")
    assert "MariaDB refused" not in settle(make_config(), SCHEDULER_ON_MARIADB, "postgres")


class _QueuedForever(ApiSession):
    """The API server's answers for a run no scheduler will ever start (as on MariaDB, where
    the scheduler exited): the run stays queued."""

    def __init__(self) -> None:
        super().__init__(base="http://127.0.0.1:9", major=3)
        self.calls: list[str] = []

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        self.calls.append(f"{method} {path}")
        if method == "PATCH":
            return 200, {"is_paused": False}
        if method == "POST":
            return 200, {"dag_run_id": "manual__1"}
        if path.endswith("/taskInstances"):
            return 200, {"task_instances": [{"task_id": "hello", "state": None}]}
        return 200, {"state": "queued"}


def test_dag_run_stops_waiting_once_a_component_exited(
    mysql_config: LaunchConfig, tmp_path: Path
) -> None:
    """A DAG run waits for its end only while every component runs: with the scheduler gone
    (on MariaDB: its first loop), the row says so at once instead of after ten minutes."""
    from wizard.rehearse.probes import ProbeFailed, run_dag
    from wizard.rehearse.processes import Container

    session = _QueuedForever()
    with pytest.raises(ProbeFailed, match="ended queued"):
        run_dag(session, "d", 0.5)  # nothing exited: it waits its whole timeout
    session = _QueuedForever()
    with pytest.raises(ProbeFailed) as stopped:
        run_dag(session, "d", 600, lambda: "scheduler exited 1")
    assert str(stopped.value) == (
        "run manual__1 still queued (hello=None) when scheduler exited 1: not waited for"
    )
    assert session.calls.count("GET /dags/d/dagRuns/manual__1") == 1

    (tmp_path / "r").mkdir()
    rehearsal = Rehearsal(mysql_config, folder=tmp_path / "r", report=lambda _: None)
    for component, argv in (
        ("initdb", "exit 0"),
        ("webserver", "sleep 60"),
        ("scheduler", "exit 1"),
    ):
        container = Container(component, ["/bin/sh", "-c", argv], {}, tmp_path / f"{component}.log")
        rehearsal.containers[component] = container
        container.start(tmp_path / "r")
    try:
        assert rehearsal.containers["scheduler"].wait(60) == 1
        assert rehearsal.containers["initdb"].wait(60) == 0
        assert rehearsal.exited() == "scheduler exited 1"  # the migrate task is meant to exit
    finally:
        rehearsal.containers["webserver"].stop(grace=1)
    assert rehearsal.exited() == "webserver exited -15"


def test_component_refused_after_it_was_healthy_says_so(
    mysql_config: LaunchConfig, tmp_path: Path
) -> None:
    """The scheduler passes its first health check on MariaDB and exits on its first loop: the
    still-up check's row leads with MariaDB's refusal too."""
    from types import SimpleNamespace

    from wizard.rehearse.plan import ContainerPlan
    from wizard.rehearse.processes import Container
    from wizard.rehearse.proofs import still_up
    from wizard.rehearse.report import Result, Row

    (tmp_path / "r").mkdir()
    rehearsal = Rehearsal(mysql_config, folder=tmp_path / "r", report=lambda _: None)
    log = tmp_path / "scheduler.log"
    log.write_text(SCHEDULER_ON_MARIADB)
    container = Container("scheduler", ["/bin/sh", "-c", "exit 1"], {}, log)
    rehearsal.containers["scheduler"] = container
    container.start(tmp_path / "r")
    assert container.wait(60) == 1
    result = Result(runtime="venv", ran="")
    result.rows = [Row("scheduler", True, "healthy", 30, True)]
    plan = SimpleNamespace(
        containers=[ContainerPlan("scheduler", "f", [], {}, {}, None, None, None)]
    )
    still_up(rehearsal, plan, result)  # type: ignore[arg-type]
    (row,) = result.rows
    assert not row.ok and row.health == "stopped"
    assert row.detail.startswith("exited 1 after it was healthy\nMariaDB refused Airflow's SQL")
    shown = table(result)  # the table shows a detail's last lines: both of these among them
    assert "exited 1 after it was healthy" in shown and "MariaDB refused" in shown
