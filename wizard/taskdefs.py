"""Task definitions: one `RegisterTaskDefinition` input per component, from the config."""

from __future__ import annotations

from typing import Any

from wizard.airflow_containers import HOST_DIR, container_facts
from wizard.airflow_versions import MIGRATE_COMPONENT
from wizard.config import LaunchConfig

LAUNCH_TAG = "airflow-ecs-wizard:launch"
"""The tag every resource of a launch carries, with the launch name as its value."""

WORKER_STOP_TIMEOUT = 120
"""Seconds ECS waits before killing a worker: Celery's warm shutdown lets tasks finish."""


def resource_tags(config: LaunchConfig) -> list[dict[str, str]]:
    """Tags in CloudFormation/EC2 form (`Key`/`Value`)."""
    return [{"Key": LAUNCH_TAG, "Value": config.name}]


def taskdef_context(config: LaunchConfig, component: str, account_id: str) -> dict[str, Any]:
    """The values `taskdef.json.j2` lays out for one component."""
    facts = container_facts(config, component)
    settings = config.component(component)
    slug = component.replace("_", "-")
    port = config.container_port(component)
    port_mappings = []
    if port is not None and component != MIGRATE_COMPONENT:
        mapping: dict[str, Any] = {"containerPort": port, "hostPort": 0, "protocol": "tcp"}
        if facts.port_name:
            mapping = {"name": facts.port_name, **mapping, "appProtocol": "http"}
        port_mappings.append(mapping)
    for fixed in facts.host_ports:
        port_mappings.append({"containerPort": fixed, "hostPort": fixed, "protocol": "tcp"})
    labels = {
        "es_index_prefix": f"{config.airflow.docker_label_prefix}-{slug}-",
        "service": f"{config.airflow.docker_label_prefix}-{slug}",
    }
    if config.airflow.log_topic:
        labels["kafka_topic"] = config.airflow.log_topic
    return {
        "family": config.family(component),
        "task_role_arn": config.role_arn("task", account_id),
        "execution_role_arn": config.role_arn("execution", account_id),
        "container_name": slug,
        "image": config.image_uri(account_id),
        "command": facts.command,
        "cpu": settings.cpu,
        "memory": settings.memory,
        "memory_reservation": settings.memory_reservation,
        "port_mappings": port_mappings,
        "environment": facts.environment,
        "secrets": facts.secrets,
        "health_check": facts.health_check,
        "stop_timeout": WORKER_STOP_TIMEOUT if component == "worker" else None,
        "log_configuration": _log_configuration(config, slug),
        "docker_labels": labels,
        "airflow_home": config.airflow.home,
        "mount_point": config.bootstrap.mount_point,
        "host_dir": HOST_DIR if facts.host_module else "",
        "tags": [
            {"key": LAUNCH_TAG, "value": config.name},
            {"key": "airflow-ecs-wizard:component", "value": component},
        ],
    }


def _log_configuration(config: LaunchConfig, slug: str) -> dict[str, Any]:
    if config.airflow.log_driver == "awslogs":
        return {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": f"/ecs/{config.name}",
                "awslogs-region": config.aws.region,
                "awslogs-stream-prefix": slug,
                "awslogs-create-group": "true",
            },
        }
    # The runbook's json-file driver, rotated so container logs cannot fill the instance disk.
    return {"logDriver": "json-file", "options": {"max-size": "100m", "max-file": "5"}}
