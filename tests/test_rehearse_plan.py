"""`rehearse` without booting Airflow: the plan made from the rendered task definitions (only
the allowed rewrites), the venv runtime's rules, the local services, and the CLI's refusals."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.conftest import run_cli
from wizard.config import LaunchConfig
from wizard.errors import BadInput
from wizard.rehearse import venv
from wizard.rehearse.command import choose_runtime, docker_engine
from wizard.rehearse.plan import LocalSetup, make_plan, task_definitions, write_host_folder
from wizard.rehearse.report import Result, Row, table
from wizard.rehearse.values import local_values, wants_tls
from wizard.render import render_artifacts

PORTS = {"webserver": 41000, "flower": 41001, "log:worker": 41002, "log:triggerer": 41003}


def _local(tmp_path: Path, runtime: str = "venv") -> LocalSetup:
    return LocalSetup(
        runtime=runtime,
        home=tmp_path / "home",
        ports=PORTS,
        hostname="rehearsal-host",
        s3_endpoint="http://127.0.0.1:49999",
    )


def _definitions(config: LaunchConfig) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    artifacts = render_artifacts(config, "123456789012")
    return artifacts, task_definitions(artifacts)


def test_plan_changes_only_what_ecs_provides(
    make_config: Callable[..., LaunchConfig], tmp_path: Path
) -> None:
    config = make_config()
    artifacts, definitions = _definitions(config)
    plan = make_plan(config, artifacts, _local(tmp_path))
    assert plan.containers[0].component == "initdb"
    assert {c.component for c in plan.containers} == set(definitions)
    home, dags = config.airflow.home, str(tmp_path / "home" / "dags")
    allowed_new = {
        "AIRFLOW__API__PORT",
        "AIRFLOW__CELERY__FLOWER_PORT",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT",
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT",
    }
    for container in plan.containers:
        rendered = definitions[container.component]["containerDefinitions"][0]
        original = {pair["name"]: pair["value"] for pair in rendered["environment"]}
        assert container.command == rendered["command"]
        assert container.secrets == {p["name"]: p["valueFrom"] for p in rendered["secrets"]}
        assert set(container.environment) - set(original) <= allowed_new
        for name, value in original.items():
            changed = container.environment[name]
            if name == "AIRFLOW__CORE__EXECUTION_API_SERVER_URL":
                assert value == "http://airflow-api-server:8080/execution/"
                assert changed == "http://127.0.0.1:41000/execution/"
            elif name == "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT":
                assert (value, changed) == ("8793", "41002")  # the fixed host port, here free
            elif name == "PYTHONPATH" and container.component == "worker":
                assert value == f"{home}/dags:/usr/lib/docker-airflow/host"  # + the host folder
                assert changed == f"{dags}:{tmp_path / 'home' / 'host'}"
            elif value.startswith(f"{home}/dags"):
                assert changed == value.replace(f"{home}/dags", dags)
            elif value.startswith(f"{home}/plugins"):
                assert changed == value.replace(f"{home}/plugins", str(tmp_path / "home/plugins"))
            else:
                assert changed == value, name
    web = plan.container("webserver")
    assert web.environment["AIRFLOW__API__PORT"] == "41000" and web.local_port == 41000
    assert web.health_command is not None and "localhost:41000/api/v2/version" in web.health_command
    assert (
        plan.container("worker").health_check
        == (definitions["worker"]["containerDefinitions"][0]["healthCheck"])
    )
    kinds = {rewrite.kind for rewrite in plan.rewrites}
    assert kinds == {"port", "mount", "service-connect", "hostname", "endpoint"}
    assert any("Service Connect" in r.before for r in plan.rewrites)


def test_docker_plan_keeps_the_definitions_as_they_are(
    make_config: Callable[..., LaunchConfig], tmp_path: Path
) -> None:
    config = make_config()
    artifacts, definitions = _definitions(config)
    plan = make_plan(config, artifacts, _local(tmp_path, runtime="docker"))
    for container in plan.containers:
        rendered = definitions[container.component]["containerDefinitions"][0]
        assert container.environment == {p["name"]: p["value"] for p in rendered["environment"]}
        assert container.health_check == rendered.get("healthCheck")
        assert set(container.mounts) == {
            f"{config.airflow.home}/plugins",
            f"{config.airflow.home}/dags",
            *(["/usr/lib/docker-airflow/host"] if container.component == "worker" else []),
        }
    assert {r.kind for r in plan.rewrites} == {"port", "mount", "endpoint", "hostname"}
    assert [r.component for r in plan.rewrites if r.kind == "hostname"] == ["worker"]


def test_plan_on_2_11_uses_the_webserver_port_option(
    make_config: Callable[..., LaunchConfig], tmp_path: Path
) -> None:
    config = make_config(airflow__version="2.11")
    artifacts, _ = _definitions(config)
    web = make_plan(config, artifacts, _local(tmp_path)).container("webserver")
    assert web.environment["AIRFLOW__WEBSERVER__WEB_SERVER_PORT"] == "41000"
    assert web.health_command is not None and "localhost:41000/health" in web.health_command
    assert not any(
        r.kind == "service-connect" for r in make_plan(config, artifacts, _local(tmp_path)).rewrites
    )


def test_worker_host_folder_is_what_the_bootstrap_leaves(
    make_config: Callable[..., LaunchConfig], tmp_path: Path
) -> None:
    """The worker's hostname_callable imports the module the launch's bootstrap.sh writes into
    /usr/lib/docker-airflow/host, reading the instance's private IP there: the rehearsal leaves
    the rendered module and 127.0.0.1 in the mount's local folder, and lists it."""
    import subprocess
    import sys

    config = make_config()
    artifacts, _ = _definitions(config)
    plan = make_plan(config, artifacts, _local(tmp_path))
    write_host_folder(plan, artifacts, "127.0.0.1")
    folder = Path(plan.container("worker").mounts["/usr/lib/docker-airflow/host"])
    assert folder == tmp_path / "home" / "host"
    assert (folder / "private-ip").read_text() == "127.0.0.1\n"
    worker = plan.container("worker")
    callable_name = worker.environment["AIRFLOW__CORE__HOSTNAME_CALLABLE"]
    module, _, function = callable_name.rpartition(".")
    reported = subprocess.run(
        [sys.executable, "-c", f"import {module}; print({module}.{function}())"],
        env={"PYTHONPATH": worker.environment["PYTHONPATH"]},
        capture_output=True,
        text=True,
        check=True,
    )
    assert reported.stdout == "127.0.0.1\n"
    assert any(
        r.kind == "hostname" and r.component == "worker" and r.after == "127.0.0.1"
        for r in plan.rewrites
    )
    assert any(
        r.kind == "mount" and r.before == "host /usr/lib/docker-airflow/host" for r in plan.rewrites
    )
    broken = {**artifacts, "bootstrap.sh": artifacts["bootstrap.sh"].replace("PYTHON", "PY")}
    with pytest.raises(ValueError, match="airflow_ecs_host"):
        write_host_folder(plan, broken, "127.0.0.1")


def test_broker_url_is_a_local_secret_with_the_launchs_tls_and_auth(
    make_config: Callable[..., LaunchConfig],
) -> None:
    """The broker URL is a SecureString now: the rehearsal makes its value, pointing at the
    local Redis with the launch's TLS and AUTH settings; nothing in the environment changes."""
    config = make_config(redis__transit_encryption=True)
    _, definitions = _definitions(config)
    worker = definitions["worker"]["containerDefinitions"][0]
    assert "AIRFLOW__CELERY__BROKER_URL" not in {p["name"] for p in worker["environment"]}
    parameter = {p["name"]: p["valueFrom"] for p in worker["secrets"]}[
        "AIRFLOW__CELERY__BROKER_URL"
    ]
    values = local_values(config, "127.0.0.1", 5999, "127.0.0.1:6999", redis_token="tok-en")
    assert (
        values.by_parameter[parameter] == "rediss://:tok-en@127.0.0.1:6999/1?ssl_cert_reqs=required"
    )
    assert values.by_parameter[config.secret_name("redis_auth_token")] == "tok-en"
    plain = make_config(redis__transit_encryption=False)
    assert (
        local_values(plain, "h", 1, "127.0.0.1:6999").by_parameter[plain.secret_name("broker_url")]
        == "redis://127.0.0.1:6999/1"
    )


def test_local_values_use_the_launchs_own_url_shapes(
    make_config: Callable[..., LaunchConfig],
) -> None:
    config = make_config(redis__transit_encryption=True)
    values = local_values(config, "127.0.0.1", 5999, "127.0.0.1:6999")
    by = values.by_parameter
    assert (
        by[config.secret_name("broker_url")] == "rediss://127.0.0.1:6999/1?ssl_cert_reqs=required"
    )
    assert by[config.secret_name("sql_alchemy_conn")].startswith("postgresql+psycopg2://airflow:")
    assert by[config.secret_name("sql_alchemy_conn")].endswith(
        "@127.0.0.1:5999/airflow?sslmode=require"
    )
    assert values.admin_password and values.admin_password != values.db_password
    # verify-full against the RDS bundle in the image: here, against the local server's
    verified = make_config(database__ca_bundle="/etc/ssl/certs/rds-global-bundle.pem")
    url = local_values(verified, "127.0.0.1", 5999, "h:1", database_ca="/r/ca.pem").by_parameter[
        verified.secret_name("sql_alchemy_conn")
    ]
    assert url.endswith("@127.0.0.1:5999/airflow?sslmode=verify-full&sslrootcert=/r/ca.pem")
    assert wants_tls("postgresql://u:p@h/db?sslmode=require")
    assert not wants_tls("postgresql://u:p@h/db") and not wants_tls(
        "postgresql://h/db?sslmode=prefer"
    )


def test_entrypoint_rule_of_the_official_image(tmp_path: Path) -> None:
    assert venv.entrypoint(["celery", "worker"], tmp_path) == [
        str(tmp_path / "bin" / "airflow"),
        "celery",
        "worker",
    ]
    assert venv.entrypoint(["bash", "-c", "airflow db migrate"], tmp_path) == [
        "/bin/bash",
        "-c",
        "airflow db migrate",
    ]
    assert venv.entrypoint(["python", "-V"], tmp_path) == [str(tmp_path / "bin" / "python"), "-V"]


def test_pinned_releases_and_cache_folder(
    make_config: Callable[..., LaunchConfig], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert venv.release(make_config()) == "3.3.2"
    assert venv.release(make_config(airflow__version="2.11")) in venv.TESTED_RELEASES
    wanted = venv.requirements(make_config())
    assert wanted[0] == "apache-airflow[amazon,celery,fab,postgres,redis]==3.3.2"
    assert "celery[redis]>=5.5,<5.6" in wanted
    monkeypatch.setenv(venv.CACHE_VARIABLE, str(tmp_path))
    assert venv.venv_path(make_config()).parent == tmp_path
    monkeypatch.delenv(venv.CACHE_VARIABLE)
    assert "airflow-ecs-wizard" in str(venv.cache_dir())
    with pytest.raises(BadInput, match="docker") as refused:
        venv.release(
            make_config(
                airflow__version="1.10", components__triggerer=None, components__dag_processor=None
            )
        )
    assert refused.value.exit_code == 2


def test_a_version_without_a_pinned_release_is_refused(
    make_config: Callable[..., LaunchConfig],
) -> None:
    with pytest.raises(BadInput, match=r"3\.9"):
        venv.release(make_config(airflow__version="3.9"))


def test_cli_1_10_needs_docker(make_config: Callable[..., LaunchConfig], tmp_path: Path) -> None:
    from wizard.config_file import save_config

    config = make_config(
        airflow__version="1.10", components__triggerer=None, components__dag_processor=None
    )
    save_config(config, tmp_path / "launch.toml")
    result = run_cli("rehearse", "--config", str(tmp_path / "launch.toml"), "--runtime", "venv")
    assert result.returncode == 2, result.stderr
    assert "1.10 cannot be installed on Python 3.9" in result.stderr
    assert "--runtime docker" in result.stderr
    if docker_engine() is not None:  # no engine: the default runtime says so too
        result = run_cli("rehearse", "--config", str(tmp_path / "launch.toml"))
        assert result.returncode == 2, result.stderr
        assert "needs the docker runtime" in result.stderr


@pytest.mark.skipif(docker_engine() is None, reason="a Docker engine answers here")
def test_cli_docker_runtime_without_an_engine_is_bad_input(example_path: Path) -> None:
    result = run_cli("rehearse", "--config", str(example_path), "--runtime", "docker")
    assert result.returncode == 2
    assert "needs a Docker engine" in result.stderr


def test_cli_image_is_for_docker_only(example_path: Path) -> None:
    result = run_cli(
        "rehearse", "--config", str(example_path), "--runtime", "venv", "--image", "x:1"
    )
    assert result.returncode == 2
    assert "--image is for the docker runtime" in result.stderr


def test_cli_missing_dag_file_is_bad_input(example_path: Path, tmp_path: Path) -> None:
    result = run_cli(
        "rehearse",
        *("--config", str(example_path), "--runtime", "venv", "--dag", str(tmp_path / "no.py")),
        env={**os.environ, venv.CACHE_VARIABLE: str(tmp_path / "never-installed")},
    )
    assert result.returncode == 2, result.stderr
    assert "is not a file" in result.stderr
    assert not (tmp_path / "never-installed").exists()  # refused before anything was installed


def test_runtime_defaults_to_venv_without_an_engine(
    make_config: Callable[..., LaunchConfig],
) -> None:
    expected = "venv" if docker_engine() else "docker"
    assert choose_runtime(make_config(), None) == expected


def test_table_and_json_name_what_failed() -> None:
    result = Result(runtime="venv", ran="apache-airflow==3.3.2 from PyPI")
    result.rows = [
        Row("migrate (initdb)", True, "exited 0", 20, True),
        Row("worker", True, "unhealthy", 30, False, "health check: celery ... ping"),
    ]
    text = table(result)
    assert "verdict: FAILED: worker" in text and "health check: celery" in text
    data = json.loads(result.to_json())
    assert data["ok"] is False and data["failed"] == ["worker"]
    result.rows[1] = Row("worker", True, "healthy", 30, True)
    assert result.ok and "every component and check holds" in table(result)
    assert not Result(runtime="venv", ran="").ok  # no rows: nothing proved


def test_local_postgres_with_tls_runs_database_sql(
    make_config: Callable[..., LaunchConfig], tmp_path: Path
) -> None:
    """The launch's own database.sql against the rehearsal's server, reading the Airflow
    user's password with its own `aws ssm get-parameter` (answered by the rehearsal's stand-in);
    the user logs in only with that password over TLS (as the launch's URL would ask). A script
    that asks SSM for a parameter the rehearsal did not make fails by name."""
    from wizard.errors import WizardError
    from wizard.rehearse.services import Postgres

    if not list(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl")):
        from tests.services import missing

        missing("PostgreSQL")
    config = make_config()
    script = render_artifacts(config, "123456789012")["database.sql"]
    assert "`aws ssm get-parameter" in script
    server = Postgres(require_tls=True)
    try:
        server.start()
        with pytest.raises(WizardError, match=r"ParameterNotFound: .*db_password"):
            server.run_script(script, {"some.other.parameter": "x"})
        server.run_script(script, {config.secret_name("db_password"): "s3cret'x"})
        dsn = f"host=127.0.0.1 port={server.port} dbname=airflow user=airflow"
        with psycopg.connect(f"{dsn} password=s3cret'x sslmode=require") as conn:
            assert conn.execute(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
            ).fetchone() == (True,)
            conn.execute("CREATE TABLE t (x int)")  # the PG 15 schema grant is there
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(f"{dsn} password=wrong sslmode=require").close()
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(f"{dsn} password=s3cret'x sslmode=disable").close()
    finally:
        server.stop()
    assert not server.root.exists()  # pg_ctl stopped it, then its folder was removed


def test_local_postgres_starts_from_a_path_without_sbin(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As root, PostgreSQL runs as the postgres user through runuser, which lives in
    /usr/sbin: a PATH without the sbin folders (a plain user's on Debian, or `env -i`) still
    starts it; with no runuser at all, the error says what to install."""
    from wizard.errors import WizardError
    from wizard.rehearse import services
    from wizard.rehearse.services import Postgres

    if not list(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl")):
        from tests.services import missing

        missing("PostgreSQL")
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    server = Postgres(require_tls=False)
    try:
        server.start()
        with socket.create_connection(("127.0.0.1", server.port), timeout=10):
            pass
    finally:
        server.stop()
    if os.geteuid() == 0:
        monkeypatch.setattr(services, "RUNUSER", ())
        monkeypatch.setenv("PATH", "/nowhere")
        with pytest.raises(WizardError, match="runuser") as refused:
            Postgres(require_tls=False).start()
        assert "util-linux" in (refused.value.hint or "")


def test_remote_log_row_quotes_the_workers_upload_error(
    make_config: Callable[..., LaunchConfig], tmp_path: Path
) -> None:
    """A task log that never reaches S3 is reported with the worker's own words: in a
    rehearsal whose S3 endpoint refused connections, the worker logged the execution API's 404
    for aws_default and then botocore's EndpointConnectionError (the "Connection refused")."""
    from wizard.rehearse.processes import Container
    from wizard.rehearse.proofs import upload_errors
    from wizard.rehearse.run import Rehearsal

    log = tmp_path / "worker.log"
    log.write_text(
        "[warning] Unable to find AWS Connection ID 'aws_default', switching to empty.\n"
        "[error] Could not verify previous log to append\n"
        "ConnectionRefusedError: [Errno 111] Connection refused\n"
        'botocore.exceptions.EndpointConnectionError: Could not connect to the endpoint URL: "'
        'http://127.0.0.1:9/bucket/logs/dag_id=x/attempt=1.log"\n'
        "[info] Workload finished exit_code=0 final_state=success\n"
    )
    rehearsal = Rehearsal(make_config(), folder=tmp_path / "r", report=lambda _: None)
    assert upload_errors(rehearsal.containers.get("worker")) == ""
    rehearsal.containers["worker"] = Container("worker", ["true"], {}, log)
    assert upload_errors(rehearsal.containers.get("worker")).startswith(
        "worker: botocore.exceptions.EndpointConnectionError: Could not connect to the endpoint"
    )


def test_timeout_scale_is_checked_and_listed_as_relaxed(
    make_config: Callable[..., LaunchConfig], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wizard.rehearse.run import TIMEOUT_SCALE_VARIABLE, Rehearsal

    monkeypatch.setenv(TIMEOUT_SCALE_VARIABLE, "3")
    rehearsal = Rehearsal(make_config(), folder=tmp_path / "r", report=lambda _: None)
    assert rehearsal.timeout_scale == 3
    assert any("timeouts x3" in note for note in rehearsal._relaxed())
    for bad in ("0.5", "fast", "11"):
        monkeypatch.setenv(TIMEOUT_SCALE_VARIABLE, bad)
        with pytest.raises(BadInput, match=TIMEOUT_SCALE_VARIABLE):
            Rehearsal(make_config(), folder=tmp_path / "r", report=lambda _: None)
