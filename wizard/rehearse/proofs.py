"""What a rehearsal proves through the API server once every component is healthy: the Admin
logs in with the generated password, a DAG run succeeds on the Celery worker, and the task's log
lands in the remote log folder (the checks themselves are in `probes`)."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

from wizard.rehearse import probes
from wizard.rehearse.processes import Runnable
from wizard.rehearse.report import Result, Row

if TYPE_CHECKING:
    from wizard.rehearse.plan import ContainerPlan, RehearsalPlan
    from wizard.rehearse.run import Rehearsal

SAMPLE_DAG_ID = "airflow_ecs_wizard_rehearsal"
SAMPLE_MARKER = "airflow-ecs-wizard rehearsal task ran"
DAG_TIMEOUT = 600.0
PROBE_SECONDS = 10.0
"""The pause between a component's health checks here (ECS: its `interval`, 30 s by default);
its timeout, retries and startPeriod are the definition's own."""


def prove_through_the_api(
    rehearsal: Rehearsal, s3_endpoint: str, port: int, result: Result
) -> None:
    """With every component healthy: the Admin logs in, the DAG runs on the Celery worker, and
    its task's log lands in the remote log folder; a row each (the first that fails ends it)."""
    base = f"http://127.0.0.1:{port}"
    dag_id = SAMPLE_DAG_ID if rehearsal.dag is None else ""
    started = time.monotonic()
    try:
        session = probes.login(
            base, rehearsal.major, rehearsal.config.airflow.admin_username, rehearsal.admin_password
        )
    except (probes.ProbeFailed, OSError) as error:
        rehearsal.add_row(result, Row("admin login", False, "failed", 0, False, str(error)))
        return
    how = "POST /auth/token" if rehearsal.major >= 3 else "login form"
    elapsed = time.monotonic() - started
    rehearsal.add_row(result, Row("admin login", True, f"ok ({how})", elapsed, True))
    started = time.monotonic()
    try:
        dag_id = dag_id or probes.first_dag(session, rehearsal.dag, DAG_TIMEOUT)
        probes.wait_for_dag(session, dag_id, DAG_TIMEOUT)
        run = probes.run_dag(session, dag_id, DAG_TIMEOUT, rehearsal.exited)
    except (probes.ProbeFailed, OSError) as error:
        elapsed = time.monotonic() - started
        rehearsal.add_row(result, Row("dag run", True, "failed", elapsed, False, str(error)))
        return
    hosts = sorted({ti.get("hostname") or "?" for ti in run["task_instances"]})
    elapsed = time.monotonic() - started
    health = f"success on {', '.join(hosts)}"
    rehearsal.add_row(result, Row(f"dag run ({dag_id})", True, health, elapsed, True))
    started = time.monotonic()
    folder = rehearsal.config.remote_log_folder
    try:
        key, text = probes.remote_log(s3_endpoint, folder, dag_id, run["run_id"], 120)
    except (probes.ProbeFailed, OSError) as error:
        elapsed = time.monotonic() - started
        said = upload_errors(rehearsal.containers.get("worker"))
        detail = f"{error}\n{said}".strip()
        rehearsal.add_row(result, Row("remote log", True, "missing", elapsed, False, detail))
        return
    ok = rehearsal.dag is not None or SAMPLE_MARKER in text
    where = f"s3://{folder.removeprefix('s3://').split('/')[0]}/{key}"
    health = "in S3" if ok else "incomplete"
    detail = where if ok else f"{where} has no line '{SAMPLE_MARKER}':\n{text[-600:]}"
    rehearsal.add_row(
        result, Row("remote log", True, health, time.monotonic() - started, ok, detail)
    )


def upload_errors(worker: Runnable | None) -> str:
    """What the worker said when the upload failed (the S3 endpoint it could not reach,
    missing credentials), so the row names the cause."""
    text = worker.tail(400) if worker else ""
    causes = [
        line.strip()
        for line in text.splitlines()
        if re.search(r"EndpointConnectionError|NoCredentialsError|Failed to upload", line)
    ]
    return "worker: " + causes[-1][-300:] if causes else ""


def still_up(rehearsal: Rehearsal, plan: RehearsalPlan, result: Result) -> None:
    """Every service still runs and is still healthy after the DAG run: as on ECS, a check
    must fail `retries` times in a row to make it unhealthy."""

    def check(container: ContainerPlan) -> tuple[str, str]:
        name, runnable = container.component, rehearsal.containers[container.component]
        command, check = container.health_command, container.health_check or {}
        for _ in range(int(check.get("retries", 1)) if command else 1):
            code = runnable.exit_code()
            if code is not None:
                why = rehearsal.refused_by_the_stand_in(name)  # the table shows 6 lines
                tail = runnable.tail(4 if why else 5)
                return name, f"exited {code} after it was healthy\n{why}{tail}"
            if command is None:
                return name, ""
            outcome = rehearsal.probe(name, command, float(check.get("timeout", 30)))
            if outcome.passed:
                return name, ""
            time.sleep(PROBE_SECONDS)
        return name, f"health check failed after it was healthy: {command}\n{outcome.output}"

    services = [c for c in plan.containers if c.long_running]
    problems = dict(rehearsal.in_parallel(check, services))
    for row in result.rows:
        if problems.get(row.component):
            row.ok, row.health, row.detail = False, "stopped", problems[row.component]
            rehearsal.emit(row)
