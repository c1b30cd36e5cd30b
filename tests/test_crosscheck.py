"""Cross-artifact checks, shown to catch something: each test alters one rendered artifact the
way a hand edit or a drifting template would, and expects exactly that disagreement."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from wizard.config import LaunchConfig
from wizard.crosscheck import cross_artifact_problems
from wizard.render import render_artifacts


@pytest.fixture
def rendered(make_config: Callable[..., LaunchConfig]) -> tuple[LaunchConfig, dict[str, str]]:
    config = make_config()
    return config, render_artifacts(config)


def _edit_taskdef(
    artifacts: dict[str, str], name: str, edit: Callable[[dict[str, Any]], None]
) -> None:
    document = json.loads(artifacts[name])
    edit(document)
    artifacts[name] = json.dumps(document)


def _messages(config: LaunchConfig, artifacts: dict[str, str]) -> list[str]:
    return [str(problem) for problem in cross_artifact_problems(config, artifacts)]


def test_rendered_artifacts_agree(rendered: tuple[LaunchConfig, dict[str, str]]) -> None:
    assert _messages(*rendered) == []


def test_volume_outside_the_mount_point(rendered: tuple[LaunchConfig, dict[str, str]]) -> None:
    config, artifacts = rendered

    def move(doc: dict[str, Any]) -> None:
        doc["volumes"][1]["host"]["sourcePath"] = "/mnt/s3/dags"

    _edit_taskdef(artifacts, "taskdef-worker.json", move)
    (message,) = _messages(config, artifacts)
    assert message.startswith("taskdef-worker.json: volume airflow-dags reads /mnt/s3/dags")
    assert "mount point /mnt/airflow" in message


def test_bootstrap_mounting_elsewhere(rendered: tuple[LaunchConfig, dict[str, str]]) -> None:
    config, artifacts = rendered
    artifacts["bootstrap.sh"] = artifacts["bootstrap.sh"].replace(
        "MOUNT_POINT=/mnt/airflow", "MOUNT_POINT=/mnt/data"
    )
    messages = _messages(config, artifacts)
    assert len(messages) == 14  # both volumes of all seven task definitions
    assert all("outside the bootstrap's mount point /mnt/data" in m for m in messages)


def test_bootstrap_mounting_another_environment(
    rendered: tuple[LaunchConfig, dict[str, str]],
) -> None:
    config, artifacts = rendered
    artifacts["bootstrap.sh"] = artifacts["bootstrap.sh"].replace(
        "MOUNT_SOURCE=s3://acme-dataplatform-airflow/airflow/staging/",
        "MOUNT_SOURCE=s3://acme-dataplatform-airflow/airflow/prod/",
    )
    (message,) = _messages(config, artifacts)
    assert "bootstrap.sh: mounts s3://acme-dataplatform-airflow/airflow/prod/" in message


def test_one_component_reading_another_parameter(
    rendered: tuple[LaunchConfig, dict[str, str]],
) -> None:
    config, artifacts = rendered

    def swap(doc: dict[str, Any]) -> None:
        for secret in doc["containerDefinitions"][0]["secrets"]:
            if secret["name"] == "AIRFLOW__CORE__FERNET_KEY":
                secret["valueFrom"] = "dataplatform.prod.airflow.fernet_key"

    _edit_taskdef(artifacts, "taskdef-scheduler.json", swap)
    (message,) = _messages(config, artifacts)
    assert message == (
        "taskdef-scheduler.json: AIRFLOW__CORE__FERNET_KEY reads parameter "
        "dataplatform.prod.airflow.fernet_key, but the secrets step writes "
        "dataplatform.staging.airflow.fernet_key"
    )


def test_sql_reading_another_password_parameter(
    rendered: tuple[LaunchConfig, dict[str, str]],
) -> None:
    config, artifacts = rendered
    artifacts["database.sql"] = artifacts["database.sql"].replace(
        "--name dataplatform.staging.airflow.db_password", "--name other.db_password"
    )
    (message,) = _messages(config, artifacts)
    assert message.startswith("database.sql: reads the Airflow user's password from ['other.")


@pytest.mark.parametrize("mode", ["new", "existing"])
def test_the_broker_must_come_from_ssm(make_config: Callable[..., LaunchConfig], mode: str) -> None:
    changes = {"redis__endpoint": "cache.internal"} if mode == "existing" else {}
    config = make_config(redis__mode=mode, **changes)
    artifacts = render_artifacts(config)
    assert _messages(config, artifacts) == []

    def to_plain(doc: dict[str, Any]) -> None:
        container = doc["containerDefinitions"][0]
        container["secrets"] = [
            s for s in container["secrets"] if s["name"] != "AIRFLOW__CELERY__BROKER_URL"
        ]
        container["environment"].append(
            {"name": "AIRFLOW__CELERY__BROKER_URL", "value": "redis://localhost:6379/1"}
        )

    _edit_taskdef(artifacts, "taskdef-worker.json", to_plain)
    (message,) = _messages(config, artifacts)
    assert "must take AIRFLOW__CELERY__BROKER_URL from dataplatform.staging.airflow.broker_url" in (
        message
    )


def test_user_data_fetching_another_file(rendered: tuple[LaunchConfig, dict[str, str]]) -> None:
    config, artifacts = rendered
    artifacts["user-data.sh"] = artifacts["user-data.sh"].replace(
        "bootstrap/bootstrap.sh /usr", "bootstrap/ /usr"
    )
    messages = _messages(config, artifacts)
    assert messages[0].startswith(
        "user-data.sh: copies ['s3://acme-dataplatform-airflow/airflow/staging/bootstrap/']"
    )
    # and the template still embeds the original user data, so that disagrees too
    assert messages[1] == "cluster.cfn.json: the launch template's user data is not user-data.sh"


def test_cluster_template_with_other_user_data(
    rendered: tuple[LaunchConfig, dict[str, str]],
) -> None:
    config, artifacts = rendered
    artifacts["cluster.cfn.json"] = artifacts["cluster.cfn.json"].replace(
        "ECS_CLUSTER=airflow-staging", "ECS_CLUSTER=default"
    )
    assert _messages(config, artifacts) == [
        "cluster.cfn.json: the launch template's user data is not user-data.sh"
    ]


def test_invalid_json_and_mixed_images(rendered: tuple[LaunchConfig, dict[str, str]]) -> None:
    config, artifacts = rendered
    artifacts["taskdef-flower.json"] = artifacts["taskdef-flower.json"].replace("3.3.2", "3.3.1")
    artifacts["taskdef-triggerer.json"] = "{"
    messages = _messages(config, artifacts)
    assert messages[0].startswith("taskdef-triggerer.json: is not valid JSON")
    assert "run different images" in messages[-1]
