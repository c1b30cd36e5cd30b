"""A rehearsal: the launch's task definitions booted on this machine against its own
PostgreSQL, Redis and S3 emulator; the migrate task, every service with its own health check,
an Admin login, a DAG run on the Celery worker and its remote log. Everything it starts is
stopped by `stop()` (the CLI calls it on exit and on Ctrl+C)."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from wizard.airflow_versions import MIGRATE_COMPONENT
from wizard.config import LaunchConfig
from wizard.errors import BadInput, WizardError
from wizard.rehearse.local_services import (
    copy_database_ca,
    database_key,
    relaxations,
    start_services,
)
from wizard.rehearse.mariadb import MariaDB, mariadb_refusal
from wizard.rehearse.plan import (
    ContainerPlan,
    LocalSetup,
    Rewrite,
    make_plan,
    service_rewrites,
    write_host_folder,
)
from wizard.rehearse.processes import CheckResult, Container, Runnable, kill_all, run_shell
from wizard.rehearse.proofs import PROBE_SECONDS, prove_through_the_api, still_up
from wizard.rehearse.report import Result, Row
from wizard.rehearse.services import Postgres, Redis, S3Emulator, free_port
from wizard.rehearse.values import local_values

T = TypeVar("T")

TIMEOUT_SCALE_VARIABLE = "AIRFLOW_ECS_WIZARD_REHEARSE_TIMEOUT_SCALE"
FIRST_CHECK_SECONDS = 30.0
"""When a component's first health check runs: its definition's `interval` (Docker's rule,
"the health check will first run interval seconds after the container is started"), at most
this (Docker's and ECS's default interval); a component without a check counts as up then."""
EXIT_POLL_SECONDS = 1.0
"""How often a starting component is looked at for an exit (cheap: no command runs)."""
"""Multiplies every health check's timeout (default 1): for a machine so busy that an `airflow`
command takes longer to start than the check allows. Listed as relaxed when not 1."""

SAMPLE_DAG = Path(__file__).resolve().parent.parent / "data" / "rehearsal_dag.py"
MIGRATE_TIMEOUT = 900.0
MIGRATE_ON_MARIADB = (
    "`airflow db migrate` failed on MariaDB, which stands in for MySQL here and which Airflow "
    "does not support: the same migrate may pass on RDS MySQL"
)


class Rehearsal:
    """One rehearsal of a launch (`run()` once, then `stop()`)."""

    def __init__(
        self,
        config: LaunchConfig,
        *,
        artifacts: dict[str, str] | None = None,
        runtime: str = "venv",
        dag: Path | None = None,
        folder: Path | None = None,
        report: Callable[[str], None] = print,
        on_row: Callable[[Row], None] | None = None,
    ) -> None:
        from wizard.render import render_artifacts

        if dag is not None and not dag.is_file():
            raise BadInput(
                f"--dag {dag} is not a file",
                title="No DAG file",
                hint="Give the path of one DAG file (.py), or leave --dag out for the sample.",
            )
        self.timeout_scale = _timeout_scale()
        self.config = config
        self.artifacts = artifacts or render_artifacts(config, config.account_id or "123456789012")
        self.runtime = runtime
        self.dag = dag
        self.report = report
        self.folder = folder or Path(tempfile.mkdtemp(prefix="airflow-ecs-wizard-rehearse-"))
        self.home = self.folder / "home"
        self.major = config.airflow.parsed_version.major
        self.services: list[Postgres | MariaDB | Redis | S3Emulator] = []
        self.database_version = ""
        """The local database server's version, once it runs (MariaDB's is in the table)."""
        self.containers: dict[str, Runnable] = {}
        self.envs: dict[str, dict[str, str]] = {}
        self.admin_password = ""
        self.venv = Path()
        self._stopping = threading.Event()
        self._slots = threading.Semaphore(max(1, (os.cpu_count() or 2) // 2))
        self.on_row = on_row
        """Called with each row as soon as it is known (the wizard streams the table)."""
        self._stop_lock = threading.Lock()
        self._checks: set[subprocess.Popen[bytes]] = set()
        """The health checks running now (killed by `stop`)."""
        self.stage = "airflow install" if runtime == "venv" else "image"
        """What the rehearsal is doing: the row a failure before the components names."""
        self.stage_started = time.monotonic()

    # -- the whole run --------------------------------------------------------------------

    def run(self) -> Result:
        """Boot, check and report; never raises for a component that fails (its row says).

        Raises:
            WizardError: what it needs failed before any component ran (`self.stage` says
                which: the Airflow install or image, the services, database.sql).
        """
        ran, base = self.prepare()
        self._enter("services")
        token = secrets.token_urlsafe(24) if self.config.redis.uses_auth_token else ""
        database, redis, s3 = start_services(self, token)
        host = self.service_host
        database_ca = copy_database_ca(self, database)
        values = local_values(
            self.config,
            host,
            database.port,
            f"{host}:{redis.port}",
            redis_token=token,
            database_ca=database_ca,
        )
        self.admin_password = values.admin_password
        self._enter("database.sql")
        database.run_script(self.artifacts["database.sql"], values.by_parameter)
        self._enter("components")
        self._folders()
        local = LocalSetup(
            runtime=self.runtime,
            home=self.home,
            ports={
                key: free_port() for key in ("webserver", "flower", "log:worker", "log:triggerer")
            },
            hostname=socket.gethostname(),
            s3_endpoint=s3.endpoint_for(host),
            private_ip=host,  # the instance: this machine, as the containers reach it
        )
        plan = make_plan(self.config, self.artifacts, local)
        write_host_folder(plan, self.artifacts, local.private_ip)
        result = Result(
            runtime=self.runtime,
            ran=ran,
            rewrites=[
                *plan.rewrites,
                *service_rewrites(self.config, host, database.port, redis.port, database_ca),
            ],
            relaxed=self._relaxed(),
            admin_username=self.config.airflow.admin_username,
            folder=str(self.folder),
            services={
                database_key(self.config): f"127.0.0.1:{database.port}",
                "redis": f"127.0.0.1:{redis.port}",
                "s3": s3.endpoint,
                f"{database_key(self.config)}_folder": str(database.root),
            },
        )
        base = {**base, **s3.task_role_environment(host)}
        if redis.ca_file is not None:  # rediss://…?ssl_cert_reqs=required: trust the local CA
            base["SSL_CERT_FILE"] = self.shared_path(redis.ca_file)
            before = "SSL_CERT_FILE (the broker's CA: ElastiCache's is public)"
            result.rewrites.append(Rewrite("endpoint", "*", before, base["SSL_CERT_FILE"]))
        for container in plan.containers:
            env = {**base, **container.environment}
            if self.runtime == "venv":
                env["HOSTNAME"] = local.hostname
            for name, parameter in container.secrets.items():
                env[name] = values.by_parameter.get(parameter, "")
            self.envs[container.component] = env
            self.containers[container.component] = self.make_container(container, env)
        migrated = self._migrate(result)
        self._enter("components")  # (cancelled: raises)
        if not migrated:
            return result
        self._services(plan, result)
        self._enter("components")
        if all(row.ok for row in result.rows):
            prove_through_the_api(self, s3.endpoint, local.ports["webserver"], result)
            still_up(self, plan, result)
        result.ui = f"http://localhost:{local.ports['webserver']}"
        return result

    def _enter(self, stage: str) -> None:
        if self._stopping.is_set():
            raise KeyboardInterrupt  # cancelled: as Ctrl+C, nothing more starts
        self.stage, self.stage_started = stage, time.monotonic()

    def add_row(self, result: Result, row: Row) -> None:
        """Add a row to the result, and hand it to `on_row` at once."""
        result.rows.append(row)
        self.emit(row)

    def emit(self, row: Row) -> None:
        """Hand a new or changed row to `on_row`."""
        if self.on_row is not None:
            self.on_row(row)

    def cancel(self) -> None:
        """Stop a rehearsal that runs in another thread: nothing more starts, the components
        are stopped (so its waits end), and `run()` returns or raises KeyboardInterrupt soon;
        its caller then calls `stop()` for the rest."""
        self._stopping.set()
        for container in list(self.containers.values()):
            container.stop(grace=10)

    def failed_early(self, error: WizardError) -> Result:
        """The result of a rehearsal that `run()` left with `error`: one failed row, the
        stage's, and the error itself (for `--json`)."""
        seconds = time.monotonic() - self.stage_started
        row = Row(self.stage, self.stage == "components", "failed", seconds, False, error.message)
        return Result(
            runtime=self.runtime,
            ran="",
            rows=[row],
            relaxed=self._relaxed(),
            folder=str(self.folder),
            error={"title": error.title, "message": error.message, "hint": error.hint or ""},
        )

    # -- what the docker runtime does its own way ----------------------------------------

    service_host = "127.0.0.1"
    """Where the containers reach the local services."""

    def prepare(self) -> tuple[str, dict[str, str]]:
        """Make the runtime ready: (what runs, the image's own environment)."""
        from wizard.rehearse.venv import ensure_venv, image_environment, release

        started = time.monotonic()
        self.venv = ensure_venv(self.config, self.report)
        self.report(f"Airflow {release(self.config)} ready ({time.monotonic() - started:.0f} s)")
        return f"apache-airflow=={release(self.config)} from PyPI", image_environment(
            self.venv, self.home
        )

    def make_container(self, plan: ContainerPlan, env: dict[str, str]) -> Runnable:
        """A component's container (here: a process group with the image's entrypoint)."""
        from wizard.rehearse.venv import entrypoint

        log = self.folder / "logs" / f"{plan.component}.log"
        return Container(plan.component, entrypoint(plan.command, self.venv), env, log)

    def check(self, component: str, command: str, timeout: float) -> CheckResult:
        """Run a component's CMD-SHELL health check as ECS does: inside it, with its env."""
        return run_shell(command, self.envs[component], timeout, self.folder, self._checks)

    def shared_path(self, path: Path) -> str:
        """A file of this machine as the containers see it."""
        return str(path)

    def _relaxed(self) -> list[str]:
        return relaxations(self)

    def _folders(self) -> None:
        for name in ("dags", "plugins"):
            (self.home / name).mkdir(parents=True, exist_ok=True)
        shutil.copy(self.dag or SAMPLE_DAG, self.home / "dags" / (self.dag or SAMPLE_DAG).name)

    # -- what it proves ---------------------------------------------------------------------

    def _migrate(self, result: Result) -> bool:
        container = self.containers[MIGRATE_COMPONENT]
        self.report("running the migrate task")
        container.start(self.folder)
        code = container.wait(MIGRATE_TIMEOUT)
        seconds = time.monotonic() - container.started_at
        ok = code == 0
        health = "exited 0" if ok else (f"exited {code}" if code is not None else "timed out")
        detail = "" if ok else container.tail(8)
        if not ok and self.config.database.engine == "mysql":  # say where it may come from
            refusal = self.refused_by_the_stand_in(MIGRATE_COMPONENT)
            # the table shows a detail's last 6 lines: this one among them
            detail = (refusal or f"{MIGRATE_ON_MARIADB}\n") + container.tail(5)
        self.add_row(
            result, Row(f"migrate ({MIGRATE_COMPONENT})", True, health, seconds, ok, detail)
        )
        return ok

    def _services(self, plan: Any, result: Result) -> None:
        services = [c for c in plan.containers if c.long_running]
        for container in services:
            self.containers[container.component].start(self.folder)
        started = [f"{c.component} (pid {self.containers[c.component].pid})" for c in services]
        self.report("started " + ", ".join(started))
        settled = self.in_parallel(self._settle, services)  # each row shown as it settles
        result.rows.extend(settled)

    def probe(self, component: str, command: str, timeout: float) -> CheckResult:
        """One health check, when a slot is free: most checks start an `airflow` or `celery`
        command (seconds of CPU each), and several at once on a small machine would each
        outlast their timeout. The timeout counts from the check's start, as on ECS."""
        while not self._slots.acquire(timeout=1):
            if self._stopping.is_set():
                return CheckResult(False, "interrupted")
        if self._stopping.is_set():  # stopped while it waited: start nothing new
            self._slots.release()
            return CheckResult(False, "interrupted")
        try:
            outcome = self.check(component, command, timeout * self.timeout_scale)
        finally:
            self._slots.release()
        if outcome.output.startswith("timed out") and self.timeout_scale == 1:
            load, cores = os.getloadavg()[0], os.cpu_count() or 1
            outcome.output += (
                f" (load average {load:.1f} on {cores} cores; on a machine this busy, "
                f"{TIMEOUT_SCALE_VARIABLE}=3 gives the checks longer)"
            )
        return outcome

    def in_parallel(
        self, work: Callable[[ContainerPlan], T], items: list[ContainerPlan]
    ) -> list[T]:
        """`work` on each item in threads; on Ctrl+C the threads are told to stop at once
        (a `with` pool would first wait for every health check to end)."""
        pool = ThreadPoolExecutor(max_workers=len(items))
        try:
            return list(pool.map(work, items))
        except BaseException:
            self._stopping.set()
            raise
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def _settle(self, plan: ContainerPlan) -> Row:
        """The component's row once it settled (also handed to `on_row` at once)."""
        row = self._wait_healthy(plan)
        if not row.ok:
            row.detail = self.refused_by_the_stand_in(plan.component) + row.detail
        self.emit(row)
        return row

    def refused_by_the_stand_in(self, component: str) -> str:
        """A line saying that MariaDB, standing in for a MySQL launch's database, refused the
        component's SQL (as its output shows), or ""."""
        if self.config.database.engine != "mysql" or component not in self.containers:
            return ""
        refusal = mariadb_refusal(self.containers[component].tail(400))
        return f"{refusal}\n" if refusal else ""

    def exited(self) -> str:
        """The first long-running component that is no longer running ("" while all run):
        what the DAG run stops waiting for."""
        for component, container in self.containers.items():
            code = container.exit_code() if component != MIGRATE_COMPONENT else None
            if code is not None:
                return f"{component} exited {code}"
        return ""

    def _wait_healthy(self, plan: ContainerPlan) -> Row:
        """Wait until the component's own health check passes, it exits, or ECS would call it
        unhealthy (retries failures in a row after its startPeriod).

        As Docker runs a container's health check (which ECS uses), the first check comes
        `interval` seconds after the start, not at once: a component still starting would fail
        it, and each check of an Airflow component starts an `airflow` command (~6 s of CPU).
        Later checks come every PROBE_SECONDS (faster than the definition's interval, to
        settle sooner); an exit is noticed within a second."""
        container = self.containers[plan.component]
        check, command = plan.health_check or {}, plan.health_command
        start_period = float(check.get("startPeriod", 0))
        retries, timeout = int(check.get("retries", 3)), float(check.get("timeout", 30))
        next_check = min(float(check.get("interval", FIRST_CHECK_SECONDS)), FIRST_CHECK_SECONDS)
        failures, last = 0, "not run"
        while True:
            code = container.exit_code()
            elapsed = time.monotonic() - container.started_at
            if code is not None:
                return Row(plan.component, True, f"exited {code}", elapsed, False, container.tail())
            if command is None:
                if elapsed > FIRST_CHECK_SECONDS:
                    return Row(plan.component, True, "up (no health check)", elapsed, True)
            elif elapsed >= next_check:
                outcome = self.probe(plan.component, command, timeout)
                elapsed = time.monotonic() - container.started_at
                if outcome.passed and container.exit_code() is None:
                    return Row(plan.component, True, "healthy", elapsed, True)
                last = outcome.output
                if elapsed >= start_period:
                    failures += 1
                    if failures >= retries:
                        detail = f"health check: {command}\n{last}\n{container.tail(3)}"
                        return Row(plan.component, True, "unhealthy", elapsed, False, detail)
                next_check = elapsed + PROBE_SECONDS
            if self._stopping.wait(EXIT_POLL_SECONDS):
                return Row(plan.component, True, "interrupted", elapsed, False)

    # -- clean-up ---------------------------------------------------------------------------

    def stop(self, *, keep_logs: bool = False) -> None:
        """Stop every component and service this rehearsal started; remove its folder (but
        the components' logs, with `keep_logs`: what a failed rehearsal is read from). Safe
        to call from two threads (the wizard's close and its worker's end)."""
        with self._stop_lock:
            self._stop(keep_logs=keep_logs)

    def _stop(self, *, keep_logs: bool) -> None:
        self._stopping.set()
        kill_all(self._checks)
        for container in reversed(list(self.containers.values())):
            container.stop()
        for service in reversed(self.services):
            service.stop()
        self.containers.clear()
        self.services.clear()
        if not keep_logs or not (self.folder / "logs").is_dir():  # no component ran: no logs
            shutil.rmtree(self.folder, ignore_errors=True)
            return
        for entry in self.folder.iterdir():
            if entry.is_dir() and entry.name != "logs":
                shutil.rmtree(entry, ignore_errors=True)
            elif not entry.is_dir():
                entry.unlink()


def _timeout_scale() -> float:
    text = os.environ.get(TIMEOUT_SCALE_VARIABLE, "1")
    try:
        scale = float(text)
    except ValueError:
        scale = 0.0
    if not 1 <= scale <= 10:
        raise BadInput(
            f"{TIMEOUT_SCALE_VARIABLE}={text!r} is not a number from 1 to 10",
            title="Bad timeout scale",
            hint=f"Unset {TIMEOUT_SCALE_VARIABLE}, or set it to e.g. 3 on a slow machine.",
        )
    return scale
