"""What each Airflow component's container runs, per Airflow version.

Commands, health checks, environment and secrets differ between 1.10 (the runbook's fork),
2.7+ and 3.x; this module is the one place that knows how. Every `AIRFLOW__SECTION__KEY` it
emits is checked by the tests against the option list of that version's own `config.yml`.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from wizard.airflow_versions import MIGRATE_COMPONENT, AirflowVersion
from wizard.config import HealthCheck, LaunchConfig

CELERY_APP_2 = "airflow.providers.celery.executors.celery_executor.app"
CELERY_APP_1 = "airflow.executors.celery_executor.app"
FAB_AUTH_MANAGER = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
ADMIN_PASSWORD_ENV = "ADMIN_PASSWORD"
"""The variable the migrate task reads the Admin password from (set from SSM, never a value)."""

WORKER_LOG_SERVER_PORT = 8793
"""`[logging] worker_log_server_port` (`[celery]` on 1.10): the worker serves running tasks'
logs there, and the web server asks `http://HOSTNAME:PORT/log/...` for them; mapped to the same
fixed host port, since the web server knows the port but not a mapping."""

HOST_DIR = "/usr/lib/docker-airflow/host"
"""Where the bootstrap leaves what a container must know of its instance: the file `private-ip`
and the module `airflow_ecs_host`, mounted read-only into the worker at the same path."""
HOST_MODULE = "airflow_ecs_host"
"""`airflow_ecs_host.private_ip()` returns the instance's private IPv4 address: the worker's
`[core] hostname_callable`, so the hostname a task reports is one the web server reaches (in
bridge mode the container's own hostname is a container id nobody else resolves)."""

_JOB_TYPES = {
    "scheduler": "SchedulerJob",
    "triggerer": "TriggererJob",
    "dag_processor": "DagProcessorJob",
}
_SCHEDULER_ALIVE_1_10 = (
    "python -c 'import sys; from airflow.jobs.scheduler_job import SchedulerJob; "
    "job = SchedulerJob.most_recent_job(); sys.exit(0 if job and job.is_alive() else 1)'"
)


@dataclass(frozen=True)
class ContainerFacts:
    """The version-dependent parts of one component's container definition."""

    command: list[str]
    environment: dict[str, str]
    secrets: dict[str, str]
    health_check: dict[str, object] | None
    port_name: str | None
    host_ports: list[int]
    """Container ports mapped to the same fixed host port."""
    host_module: bool
    """Whether the container mounts `HOST_DIR` and imports `HOST_MODULE`."""


def container_facts(config: LaunchConfig, component: str) -> ContainerFacts:
    """Everything about a component's container that depends on the Airflow version."""
    version = config.airflow.parsed_version
    settings = config.component(component)
    health = _health_check(config, version, component, settings.health_check)
    worker = component == "worker"
    env = environment(config, version)
    if worker:
        env |= host_environment(config, version)
    return ContainerFacts(
        command=settings.command or command(config, version, component),
        environment=env,
        secrets=secrets(config, version, component),
        health_check=health,
        port_name="api" if version.major >= 3 and component == "webserver" else None,
        host_ports=[WORKER_LOG_SERVER_PORT] if worker else [],
        host_module=worker,
    )


def host_environment(config: LaunchConfig, version: AirflowVersion) -> dict[str, str]:
    """The worker reports its instance's private IP as its hostname (`HOST_MODULE`, which the
    bootstrap writes into `HOST_DIR`), so the web server can fetch a running task's log."""
    separator = ":" if version.major == 1 else "."  # 1.10 reads "module:function"
    home = config.airflow.home
    return {
        "PYTHONPATH": f"{config.airflow.pythonpath or f'{home}/dags'}:{HOST_DIR}",
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": f"{HOST_MODULE}{separator}private_ip",
    }


def command(config: LaunchConfig, version: AirflowVersion, component: str) -> list[str]:
    """The container command: the image's entrypoint passes these words to `airflow`."""
    if component == MIGRATE_COMPONENT:
        return ["bash", "-c", _migrate_script(config, version)]
    if version.major == 1:
        return [component]
    return {
        "webserver": ["api-server"] if version.major >= 3 else ["webserver"],
        "scheduler": ["scheduler"],
        "worker": ["celery", "worker"],
        "flower": ["celery", "flower"],
        "triggerer": ["triggerer"],
        "dag_processor": ["dag-processor"],
    }[component]


def _migrate_script(config: LaunchConfig, version: AirflowVersion) -> str:
    migrate = "airflow initdb" if version.major == 1 else "airflow db migrate"
    if not config.airflow.admin_user:
        return migrate
    create = "airflow create_user" if version.major == 1 else "airflow users create"
    user = shlex.join(
        [
            "--role",
            "Admin",
            "--username",
            config.airflow.admin_username,
            "--email",
            config.airflow.admin_email,
            "--firstname",
            "Airflow",
            "--lastname",
            "Admin",
        ]
    )
    # Without --password (or --use-random-password) the command asks twice with getpass, which
    # reads stdin when the container has no terminal: the password never becomes an argument
    # that `ps` shows, and printf is a shell builtin (no process of its own). The prompts come
    # before the check for an existing user, which is reported and left alone (exit 0), so
    # running the task again is safe.
    answer = f'printf \'%s\\n%s\\n\' "${ADMIN_PASSWORD_ENV}" "${ADMIN_PASSWORD_ENV}"'
    return f"{migrate} && {answer} | {create} {user}"


def health_command(config: LaunchConfig, version: AirflowVersion, component: str) -> str | None:
    """A shell command that succeeds only while the component really works."""
    port = config.container_port(component)
    if component == "webserver":
        path = "/api/v2/version" if version.major >= 3 else "/health"
        return f"curl --fail --silent --show-error http://localhost:{port}{path} || exit 1"
    if component == "flower" and version.major == 1:
        # Airflow 1.10 allows flower>=0.7.3,<1.0, and /healthcheck arrived only in 0.9.7: any
        # HTTP answer (without --fail, a 404 or a 401 from basic auth is one) proves it serves.
        return f"curl --silent --show-error --output /dev/null http://localhost:{port}/ || exit 1"
    if component == "flower":
        return f"curl --fail --silent --show-error http://localhost:{port}/healthcheck || exit 1"
    if component == "worker":
        app = CELERY_APP_1 if version.major == 1 else CELERY_APP_2
        return f'celery --app {app} inspect ping -d "celery@$HOSTNAME" || exit 1'
    if component == "scheduler" and version.major == 1:
        return _SCHEDULER_ALIVE_1_10
    if component in _JOB_TYPES:
        return f"airflow jobs check --job-type {_JOB_TYPES[component]} --local || exit 1"
    return None


def _health_check(
    config: LaunchConfig, version: AirflowVersion, component: str, override: HealthCheck | None
) -> dict[str, object] | None:
    settings = override or HealthCheck()
    shell = " ".join(settings.command) if settings.command else None
    shell = shell or health_command(config, version, component)
    if shell is None:
        return None
    return {
        "command": ["CMD-SHELL", shell],
        "interval": settings.interval,
        "timeout": settings.timeout,
        "retries": settings.retries,
        "startPeriod": settings.start_period,
    }


def environment(config: LaunchConfig, version: AirflowVersion) -> dict[str, str]:
    """Plain settings, the same in every component (no secret values here)."""
    home = config.airflow.home
    logging = "CORE" if version.major == 1 else "LOGGING"
    env = {
        "PYTHONPATH": config.airflow.pythonpath or f"{home}/dags",
        "AWS_DEFAULT_REGION": config.aws.region,
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PARALLELISM": str(config.airflow.parallelism),
        "AIRFLOW__CORE__DAGS_FOLDER": f"{home}/dags",
        "AIRFLOW__CORE__PLUGINS_FOLDER": f"{home}/plugins",
        f"AIRFLOW__{logging}__LOGGING_LEVEL": config.airflow.log_level,
        f"AIRFLOW__{logging}__REMOTE_LOGGING": "True",
        f"AIRFLOW__{logging}__REMOTE_BASE_LOG_FOLDER": config.remote_log_folder,
        f"AIRFLOW__{logging}__REMOTE_LOG_CONN_ID": "aws_default",
        # where the web server fetches running tasks' logs: 1.10 keeps the option in [celery]
        f"AIRFLOW__{'CELERY' if version.major == 1 else 'LOGGING'}__WORKER_LOG_SERVER_PORT": str(
            WORKER_LOG_SERVER_PORT
        ),
    }
    if version.major == 1:
        env["AIRFLOW__WEBSERVER__RBAC"] = "True"
    if version.major == 2 and "dag_processor" in config.components:
        env["AIRFLOW__SCHEDULER__STANDALONE_DAG_PROCESSOR"] = "True"
    if version.major >= 3:
        env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] = config.execution_api_url
        env["AIRFLOW__CORE__AUTH_MANAGER"] = FAB_AUTH_MANAGER
    return env


def secrets(config: LaunchConfig, version: AirflowVersion, component: str) -> dict[str, str]:
    """Environment variables set from SSM SecureStrings: variable name to parameter name."""
    core_or_database = "CORE" if version.major == 1 else "DATABASE"
    web_or_api = "API" if version.major >= 3 else "WEBSERVER"
    refs = {
        "AIRFLOW__CORE__FERNET_KEY": config.secret_name("fernet_key"),
        f"AIRFLOW__{core_or_database}__SQL_ALCHEMY_CONN": config.secret_name("sql_alchemy_conn"),
        "AIRFLOW__CELERY__RESULT_BACKEND": config.secret_name("result_backend"),
        f"AIRFLOW__{web_or_api}__SECRET_KEY": config.secret_name("secret_key"),
    }
    # the redis step writes it for a new cache and an existing one alike: it may hold a token
    refs["AIRFLOW__CELERY__BROKER_URL"] = config.secret_name("broker_url")
    if version.major >= 3:
        refs["AIRFLOW__API_AUTH__JWT_SECRET"] = config.secret_name("jwt_secret")
    if component == "webserver" and config.airflow.secrets.google_login:
        # Read by the image's webserver_config.py (Flask-AppBuilder OAuth), not by Airflow.
        refs["GOOGLE_CLIENT_ID"] = config.secret_name("google_client_id")
        refs["GOOGLE_CLIENT_SECRET"] = config.secret_name("google_client_secret")
    if component == MIGRATE_COMPONENT and config.airflow.admin_user:
        refs[ADMIN_PASSWORD_ENV] = config.secret_name("admin_password")
    return refs
