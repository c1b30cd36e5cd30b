# mypy: ignore-errors
"""The sample DAG `airflow-ecs-wizard rehearse` runs when no --dag is given: one task on the
Celery worker that prints a marker line, so the rehearsal can find it in the remote log."""

from __future__ import annotations

import datetime
import socket

try:  # Airflow 3
    from airflow.sdk import dag, task
except ImportError:  # Airflow 2
    from airflow.decorators import dag, task

MARKER = "airflow-ecs-wizard rehearsal task ran"


@dag(
    dag_id="airflow_ecs_wizard_rehearsal",
    schedule=None,
    start_date=datetime.datetime(2024, 1, 1),
    catchup=False,
    tags=["airflow-ecs-wizard"],
)
def rehearsal() -> None:
    @task
    def hello() -> str:
        print(f"{MARKER} on {socket.gethostname()}")
        return "ok"

    hello()


rehearsal()
