"""Checks across artifacts that no single template can make, run before anything is written.

Each check reads the rendered text the way AWS or the instance will (parsed JSON, the shell
variables of the bootstrap, the decoded user data), so an artifact edited by hand or a template
that drifts from the config is caught, not only a config mistake.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from typing import Any

from wizard.airflow_containers import HOST_DIR
from wizard.config import LaunchConfig
from wizard.errors import Problem

BROKER_ENV = "AIRFLOW__CELERY__BROKER_URL"
_SHELL_ASSIGNMENT = re.compile(r"^(MOUNT_POINT|MOUNT_SOURCE|HOST_DIR)=(.+)$", re.MULTILINE)
_S3_COPY = re.compile(r"^aws s3 cp (\S+) ", re.MULTILINE)
_PARAMETER_IN_SQL = re.compile(r"--name (\S+)")


def cross_artifact_problems(config: LaunchConfig, artifacts: dict[str, str]) -> list[Problem]:
    """Every disagreement between the artifacts, and between them and the config."""
    taskdefs: dict[str, dict[str, Any]] = {}
    problems = []
    for name, text in artifacts.items():
        if name.endswith(".json"):
            try:
                document = json.loads(text)
            except json.JSONDecodeError as error:
                problems.append(Problem(name, f"is not valid JSON: {error}"))
                continue
            if name.startswith("taskdef-"):
                taskdefs[name] = document
    problems += _volumes_match_mount(config, artifacts.get("bootstrap.sh", ""), taskdefs)
    problems += _parameter_names_agree(config, artifacts.get("database.sql", ""), taskdefs)
    problems += _broker_matches_redis(config, taskdefs)
    problems += _user_data_fetches_bootstrap(config, artifacts)
    problems += _one_image(taskdefs)
    return problems


def _containers(taskdefs: dict[str, dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, document in taskdefs.items():
        for container in document.get("containerDefinitions", []):
            yield name, container


def _volumes_match_mount(
    config: LaunchConfig, bootstrap: str, taskdefs: dict[str, dict[str, Any]]
) -> list[Problem]:
    assigned = {key: shlex.split(value)[0] for key, value in _SHELL_ASSIGNMENT.findall(bootstrap)}
    mount_point = assigned.get("MOUNT_POINT")
    if mount_point is None:
        return [Problem("bootstrap.sh", "sets no MOUNT_POINT: the instances would mount nothing")]
    problems = []
    if assigned.get("MOUNT_SOURCE") != config.mount_source:
        problems.append(
            Problem(
                "bootstrap.sh",
                f"mounts {assigned.get('MOUNT_SOURCE')} but the S3 layout puts dags/ and "
                f"plugins/ under {config.mount_source}",
            )
        )
    for name, document in taskdefs.items():
        for volume in document.get("volumes", []):
            source = volume.get("host", {}).get("sourcePath", "")
            if source == HOST_DIR and assigned.get("HOST_DIR") == f"${{HOST_DIR:-{HOST_DIR}}}":
                continue  # the instance's address, which the bootstrap writes there
            if not source.startswith(f"{mount_point}/"):
                problems.append(
                    Problem(
                        name,
                        f"volume {volume.get('name')} reads {source}, outside the bootstrap's "
                        f"mount point {mount_point}: the containers would see an empty folder",
                    )
                )
    return problems


def _secret_keys(config: LaunchConfig) -> dict[str, str]:
    """Which configured secret each variable that may come from SSM must reference."""
    return {
        "AIRFLOW__CORE__FERNET_KEY": "fernet_key",
        "AIRFLOW__CORE__SQL_ALCHEMY_CONN": "sql_alchemy_conn",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "sql_alchemy_conn",
        "AIRFLOW__CELERY__RESULT_BACKEND": "result_backend",
        "AIRFLOW__WEBSERVER__SECRET_KEY": "secret_key",
        "AIRFLOW__API__SECRET_KEY": "secret_key",
        "AIRFLOW__API_AUTH__JWT_SECRET": "jwt_secret",
        BROKER_ENV: "broker_url",
        "GOOGLE_CLIENT_ID": "google_client_id",
        "GOOGLE_CLIENT_SECRET": "google_client_secret",
        "ADMIN_PASSWORD": "admin_password",
    }


def _parameter_names_agree(
    config: LaunchConfig, database_sql: str, taskdefs: dict[str, dict[str, Any]]
) -> list[Problem]:
    expected = {env: config.secret_name(key) for env, key in _secret_keys(config).items()}
    problems = []
    for name, container in _containers(taskdefs):
        for secret in container.get("secrets", []):
            variable, parameter = secret.get("name"), secret.get("valueFrom")
            if variable not in expected:
                problems.append(Problem(name, f"{variable} comes from SSM but no secret owns it"))
            elif parameter != expected[variable]:
                problems.append(
                    Problem(
                        name,
                        f"{variable} reads parameter {parameter}, but the secrets step writes "
                        f"{expected[variable]}",
                    )
                )
    named_in_sql = _PARAMETER_IN_SQL.findall(database_sql)
    if database_sql and named_in_sql != [config.secret_name("db_password")]:
        problems.append(
            Problem(
                "database.sql",
                f"reads the Airflow user's password from {named_in_sql or 'nowhere'}, but the "
                f"database step stores it in {config.secret_name('db_password')}",
            )
        )
    return problems


def _broker_matches_redis(
    config: LaunchConfig, taskdefs: dict[str, dict[str, Any]]
) -> list[Problem]:
    problems = []
    for name, container in _containers(taskdefs):
        plain = {item.get("name") for item in container.get("environment", [])}
        from_ssm = {item.get("name") for item in container.get("secrets", [])}
        if BROKER_ENV not in from_ssm or BROKER_ENV in plain:
            problems.append(
                Problem(
                    name,
                    f"must take {BROKER_ENV} from {config.secret_name('broker_url')}, where "
                    "the redis step stores the cache's URL (it may carry an AUTH token)",
                )
            )
    return problems


def _user_data_fetches_bootstrap(config: LaunchConfig, artifacts: dict[str, str]) -> list[Problem]:
    user_data = artifacts.get("user-data.sh", "")
    problems = []
    copies = [shlex.split(uri)[0] for uri in _S3_COPY.findall(user_data)]
    if copies != [config.bootstrap_uri]:
        problems.append(
            Problem(
                "user-data.sh",
                f"copies {copies or 'nothing'} but the bootstrap step uploads the file to "
                f"{config.bootstrap_uri}",
            )
        )
    template = artifacts.get("cluster.cfn.json")
    if template:
        try:
            data = json.loads(template)["Resources"]["LaunchTemplate"]["Properties"]
            embedded = data["LaunchTemplateData"]["UserData"]["Fn::Base64"]
        except (KeyError, TypeError, json.JSONDecodeError):
            embedded = None
        if embedded != user_data:
            problems.append(
                Problem("cluster.cfn.json", "the launch template's user data is not user-data.sh")
            )
    return problems


def _one_image(taskdefs: dict[str, dict[str, Any]]) -> list[Problem]:
    images = {container.get("image") for _, container in _containers(taskdefs)}
    if len(images) > 1:
        return [
            Problem(
                "taskdef-*.json",
                f"components run different images ({', '.join(sorted(map(str, images)))}): "
                "the migrate task and every service must run the same one",
            )
        ]
    return []
