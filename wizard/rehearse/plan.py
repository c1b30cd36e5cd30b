"""What a rehearsal runs: the launch's own rendered task definitions, with only the rewrites
ECS and AWS would provide, each one listed.

The definitions come from `render_artifacts`, the code `render` writes them with; nothing here
builds a container definition of its own. The allowed rewrites are: free local ports for the
container ports, the mounts' host folders (with what the bootstrap leaves in them), Service
Connect's name of the API server, the worker's hostname, and the endpoints of the local services
(database, broker, S3).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from wizard.airflow_containers import HOST_DIR, HOST_MODULE
from wizard.airflow_versions import MIGRATE_COMPONENT
from wizard.config import API_SERVER_ALIAS, LaunchConfig

PORT_OPTIONS = {
    (3, "webserver"): "AIRFLOW__API__PORT",
    (2, "webserver"): "AIRFLOW__WEBSERVER__WEB_SERVER_PORT",
    (1, "webserver"): "AIRFLOW__WEBSERVER__WEB_SERVER_PORT",
    (3, "flower"): "AIRFLOW__CELERY__FLOWER_PORT",
    (2, "flower"): "AIRFLOW__CELERY__FLOWER_PORT",
    (1, "flower"): "AIRFLOW__CELERY__FLOWER_PORT",
}
"""The option each version reads its listening port from (the image's default is the container
port; on one host every component needs its own)."""

LOG_SERVER_OPTIONS = {
    "worker": ("AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT", 8793),
    "triggerer": ("AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT", 8794),
}
"""Ports the worker and the triggerer serve their logs on inside their containers."""


@dataclass(frozen=True)
class Rewrite:
    """One change made to run a definition here instead of on ECS."""

    kind: str  # port | mount | service-connect | hostname | endpoint
    component: str  # a component key, or "*" for every one
    before: str
    after: str

    def __str__(self) -> str:
        return f"{self.kind:<15} {self.component:<13} {self.before} -> {self.after}"


@dataclass(frozen=True)
class LocalSetup:
    """Where this machine provides what ECS and AWS provide on a launch."""

    runtime: str  # venv | docker
    home: Path  # the local stand-in for AIRFLOW_HOME, holding dags/ and plugins/
    ports: dict[str, int]  # component (and "log:worker", "log:triggerer") -> local port
    hostname: str  # the worker's hostname (venv: this machine's)
    s3_endpoint: str  # the emulator's URL, as seen from the containers
    api_host: str = "127.0.0.1"  # where the API server answers for Service Connect's name
    private_ip: str = "127.0.0.1"  # the instance's private IP, as the worker reports it


@dataclass
class ContainerPlan:
    """One component's container as the rehearsal runs it."""

    component: str
    family: str
    command: list[str]
    environment: dict[str, str]
    secrets: dict[str, str]  # variable -> SSM parameter name (values are made locally)
    health_check: dict[str, Any] | None
    container_port: int | None
    local_port: int | None
    mounts: dict[str, str] = field(default_factory=dict)  # container path -> host folder

    @property
    def long_running(self) -> bool:
        """Whether it runs as a service (everything but the migrate task)."""
        return self.component != MIGRATE_COMPONENT

    @property
    def health_command(self) -> str | None:
        """The CMD-SHELL check's shell command, if it has one."""
        if not self.health_check:
            return None
        command = list(self.health_check["command"])
        return str(command[1]) if command[0] == "CMD-SHELL" else " ".join(command[1:])


@dataclass
class RehearsalPlan:
    """Every container, in launch order (migrate first), and every rewrite made."""

    containers: list[ContainerPlan]
    rewrites: list[Rewrite]
    image: str

    def container(self, component: str) -> ContainerPlan:
        """The container of one component."""
        return next(plan for plan in self.containers if plan.component == component)


def task_definitions(artifacts: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The rendered task definitions by component key (`taskdef-KEY.json`)."""
    found = {}
    for name, text in artifacts.items():
        if name.startswith("taskdef-") and name.endswith(".json"):
            found[name.removeprefix("taskdef-").removesuffix(".json")] = json.loads(text)
    return found


def make_plan(config: LaunchConfig, artifacts: dict[str, str], local: LocalSetup) -> RehearsalPlan:
    """The containers to run and the rewrites that make them run here."""
    definitions = task_definitions(artifacts)
    order = [MIGRATE_COMPONENT, *[key for key in config.long_running if key in definitions]]
    rewrites: list[Rewrite] = []
    containers = []
    image = ""
    for component in order:
        definition = definitions[component]
        container = definition["containerDefinitions"][0]
        image = image or container["image"]
        plan = ContainerPlan(
            component=component,
            family=definition["family"],
            command=list(container.get("command") or []),
            environment={pair["name"]: pair["value"] for pair in container.get("environment", [])},
            secrets={pair["name"]: pair["valueFrom"] for pair in container.get("secrets", [])},
            health_check=json.loads(json.dumps(container.get("healthCheck"))),
            container_port=_container_port(container),
            local_port=None,
        )
        rewrites += _ports(config, plan, local)
        rewrites += _mounts(definition, container, plan, local)
        rewrites += _service_connect(plan, local)
        rewrites += _host_folder(plan, local)
        containers.append(plan)
    if local.runtime == "venv":
        rewrites.append(Rewrite("hostname", "*", "the container's id", local.hostname))
    rewrites.append(Rewrite("endpoint", "*", "S3 (the task role)", f"{local.s3_endpoint}"))
    return RehearsalPlan(containers=containers, rewrites=_dedupe(rewrites), image=image)


def _container_port(container: dict[str, Any]) -> int | None:
    mappings = container.get("portMappings") or []
    return int(mappings[0]["containerPort"]) if mappings else None


def _ports(config: LaunchConfig, plan: ContainerPlan, local: LocalSetup) -> list[Rewrite]:
    major = config.airflow.parsed_version.major
    rewrites = []
    if plan.container_port is not None and plan.component in local.ports:
        plan.local_port = local.ports[plan.component]
        before, after = plan.container_port, plan.local_port
        if local.runtime == "venv":
            option = PORT_OPTIONS[(major, plan.component)]
            plan.environment[option] = str(after)
            if plan.health_check:
                plan.health_check["command"] = [
                    re.sub(rf"(localhost|127\.0\.0\.1):{before}\b", rf"\g<1>:{after}", part)
                    for part in plan.health_check["command"]
                ]
        rewrites.append(Rewrite("port", plan.component, f"{before}", f"localhost:{after}"))
    if local.runtime == "venv":
        # one host: the worker's and the triggerer's log servers need ports of their own
        for key, (option, default) in LOG_SERVER_OPTIONS.items():
            port = local.ports.get(f"log:{key}")
            if port is not None:
                plan.environment[option] = str(port)
                rewrites.append(Rewrite("port", "*", f"{key} log server {default}", str(port)))
    return rewrites


def _mounts(
    definition: dict[str, Any], container: dict[str, Any], plan: ContainerPlan, local: LocalSetup
) -> list[Rewrite]:
    volumes = {v["name"]: v.get("host", {}).get("sourcePath", "") for v in definition["volumes"]}
    rewrites = []
    for mount in container.get("mountPoints", []):
        inside = mount["containerPath"].rstrip("/")
        folder = str(local.home / Path(inside).name)
        plan.mounts[inside] = folder
        source = volumes.get(mount["sourceVolume"], "")
        rewrites.append(Rewrite("mount", "*", f"host {source}", folder))
        if local.runtime == "venv":
            # no container: the paths inside it are this folder
            for name, value in plan.environment.items():
                plan.environment[name] = _replace_path(value, inside, folder)
            rewrites.append(Rewrite("mount", "*", inside, folder))
    return rewrites


def _replace_path(value: str, inside: str, folder: str) -> str:
    parts = value.split(":")
    return ":".join(
        folder + part[len(inside) :] if part == inside or part.startswith(inside + "/") else part
        for part in parts
    )


def _service_connect(plan: ContainerPlan, local: LocalSetup) -> list[Rewrite]:
    name = "AIRFLOW__CORE__EXECUTION_API_SERVER_URL"
    url = plan.environment.get(name)
    if not url or local.runtime != "venv":
        return []
    parts = urlsplit(url)
    port = local.ports.get("webserver", parts.port or 80)
    local_url = urlunsplit(parts._replace(netloc=f"{local.api_host}:{port}"))
    plan.environment[name] = local_url
    label = "Service Connect" if parts.hostname == API_SERVER_ALIAS else "API server DNS"
    return [Rewrite("service-connect", "*", f"{label} {url}", local_url)]


def _host_folder(plan: ContainerPlan, local: LocalSetup) -> list[Rewrite]:
    """The worker's hostname_callable reads the instance's private IP from the file the
    bootstrap writes into HOST_DIR; here the instance is this machine (see `write_host_folder`)."""
    callable_name = plan.environment.get("AIRFLOW__CORE__HOSTNAME_CALLABLE", "")
    if HOST_DIR not in plan.mounts or not callable_name.startswith(HOST_MODULE):
        return []
    before = f"the instance's private IP ({HOST_DIR}/private-ip, written by bootstrap.sh)"
    return [Rewrite("hostname", plan.component, before, local.private_ip)]


def write_host_folder(plan: RehearsalPlan, artifacts: dict[str, str], private_ip: str) -> None:
    """Leave in each HOST_DIR mount's local folder what the launch's own bootstrap.sh leaves on
    an instance: `private-ip` (here `private_ip`) and the module the worker imports, taken from
    the rendered bootstrap.sh as it is.

    Raises:
        ValueError: the rendered bootstrap.sh writes no such module (a broken render).
    """
    found = re.search(
        rf"cat >\"\${{HOST_DIR}}/{HOST_MODULE}\.py\" <<'PYTHON'\n(.*?)\nPYTHON\n",
        artifacts["bootstrap.sh"],
        re.DOTALL,
    )
    if found is None:
        raise ValueError(f"bootstrap.sh does not write {HOST_MODULE}.py into {HOST_DIR}")
    for container in plan.containers:
        folder = container.mounts.get(HOST_DIR)
        if folder is not None:
            Path(folder).mkdir(parents=True, exist_ok=True)
            (Path(folder) / "private-ip").write_text(private_ip + "\n")
            (Path(folder) / f"{HOST_MODULE}.py").write_text(found[1] + "\n")


def service_rewrites(
    config: LaunchConfig, host: str, database_port: int, redis_port: int, database_ca: str
) -> list[Rewrite]:
    """The local services the secrets' URLs point at (their values are made for the
    rehearsal), and the stand-in the launch's database.sql reads its password through."""
    database = config.database.rds_instance_id or "the new RDS instance"
    client = "psql" if config.database.engine == "postgres" else "the shell"
    rewrites = [
        Rewrite("endpoint", "*", f"RDS {database} (the database URLs)", f"{host}:{database_port}"),
        Rewrite("endpoint", "*", "ElastiCache (the broker URL)", f"{host}:{redis_port}"),
        Rewrite(
            "endpoint",
            "*",
            "database.sql's `aws ssm get-parameter` (SSM)",
            f"the rehearsal's aws stand-in on {client}'s PATH, serving the local values",
        ),
    ]
    if database_ca:
        before = f"database.ca_bundle {config.database.ca_bundle} (RDS's CA, verify-full)"
        rewrites.append(Rewrite("endpoint", "*", before, f"{database_ca} (the local server's)"))
    return rewrites


def _dedupe(rewrites: list[Rewrite]) -> list[Rewrite]:
    seen: dict[tuple[str, str, str], Rewrite] = {}
    for rewrite in rewrites:
        key = (rewrite.kind, rewrite.before, rewrite.after)
        if key in seen and seen[key].component != rewrite.component:
            seen[key] = Rewrite(rewrite.kind, "*", rewrite.before, rewrite.after)
        else:
            seen.setdefault(key, rewrite)
    return list(seen.values())
