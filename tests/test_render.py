"""Rendering: golden files for the example, every variant rendered and linted, the details that
make Airflow actually run (health checks, secrets under `secrets`, volumes, no nulls)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from wizard.airflow_containers import HOST_DIR
from wizard.airflow_options import unknown_env_options
from wizard.config import LaunchConfig
from wizard.config_file import load_config
from wizard.crosscheck import cross_artifact_problems
from wizard.errors import ProblemsError
from wizard.lint import lint_artifacts
from wizard.render import manifest, render_artifacts, write_artifacts

GOLDEN = Path(__file__).parent / "golden" / "example"

# Variants that together cover every OS/mount path, Airflow line, engine, log driver and
# broker mode: each renders, passes the cross-artifact checks and every linter.
VARIANTS: dict[str, dict[str, Any]] = {
    "example (AL2023, Mountpoint, Airflow 3.3, postgres, new valkey)": {},
    "runbook (AL2, s3fs, Airflow 1.10, mysql, existing redis, TLS)": {
        "bootstrap.os": "amazon-linux-2",
        "bootstrap.mount_tool": "s3fs",
        "airflow.version": "1.10",
        "components.triggerer": None,
        "components.dag_processor": None,
        "database.engine": "mysql",
        "database.admin_username": "admin",
        "redis.mode": "existing",
        "redis.endpoint": "airflow.abc123.ng.0001.use1.cache.amazonaws.com",
        "redis.transit_encryption": True,
    },
    "AL2 + Mountpoint RPM, Airflow 2.7, awslogs": {
        "bootstrap.os": "amazon-linux-2",
        "airflow.version": "2.7",
        "airflow.log_driver": "awslogs",
        "components.dag_processor": None,
    },
    "Airflow 2.11 with a standalone DAG processor, Graviton": {
        "airflow.version": "2.11",
        "cluster.instance_type": "m7g.xlarge",
        "redis.mode": "existing",
        "redis.endpoint": "cache.internal:6380",
    },
    "Airflow 3.0, official image home, path-style parameters, no Google login": {
        "airflow.version": "3.0",
        "airflow.home": "/opt/airflow",
        "airflow.secrets": {"fernet_key": "/airflow/staging/fernet_key"},
        "iam": {},
        "aws.account_id": "210987654321",
    },
}


def _config(example_data: dict[str, Any], changes: dict[str, Any]) -> LaunchConfig:
    from tests.conftest import with_changes

    return LaunchConfig.model_validate(with_changes(example_data, changes))


@pytest.fixture(params=list(VARIANTS), scope="module")
def variant(request: pytest.FixtureRequest) -> Iterator[tuple[LaunchConfig, dict[str, str]]]:
    import tomllib

    from tests.conftest import EXAMPLE

    config = _config(tomllib.loads(EXAMPLE.read_text()), VARIANTS[request.param])
    yield config, render_artifacts(config)


def _taskdefs(artifacts: dict[str, str]) -> dict[str, dict[str, Any]]:
    return {
        name.removeprefix("taskdef-").removesuffix(".json"): json.loads(text)
        for name, text in artifacts.items()
        if name.startswith("taskdef-")
    }


def _container(taskdef: dict[str, Any]) -> dict[str, Any]:
    (container,) = taskdef["containerDefinitions"]
    return container


def test_example_matches_golden_files(example_path: Path, tmp_path: Path) -> None:
    written = write_artifacts(render_artifacts(load_config(example_path)), tmp_path)
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.mkdir(parents=True, exist_ok=True)
        for path in written:
            (GOLDEN / path.name).write_text(path.read_text())
    assert sorted(p.name for p in written) == sorted(p.name for p in GOLDEN.iterdir())
    for path in written:
        assert path.read_text() == (GOLDEN / path.name).read_text(), (
            f"{path.name} differs from tests/golden/example (UPDATE_GOLDEN=1 to accept)"
        )


def test_every_variant_passes_every_linter(variant: tuple[LaunchConfig, dict[str, str]]) -> None:
    config, artifacts = variant
    assert cross_artifact_problems(config, artifacts) == []
    report = lint_artifacts(artifacts, config.aws.region, config.airflow.version)
    assert report.problems == []
    assert report.warnings == [], "shellcheck must be installed for the test suite"


def test_every_variant_emits_only_current_airflow_options(
    variant: tuple[LaunchConfig, dict[str, str]],
) -> None:
    config, artifacts = variant
    for name, taskdef in _taskdefs(artifacts).items():
        container = _container(taskdef)
        names = [item["name"] for item in container["environment"] + container["secrets"]]
        assert unknown_env_options(names, config.airflow.version) == [], name
        assert len(names) == len(set(names)), f"{name} sets a variable twice"


def _walk(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, f"{path}[{index}]")


def test_no_null_and_no_placeholder_anywhere(variant: tuple[LaunchConfig, dict[str, str]]) -> None:
    _, artifacts = variant
    for name, text in artifacts.items():
        assert not re.search(r"YOUR_|path/to|CLUSTER_NAME|bucket_name|<[a-z ]+>", text), name
        if name.endswith(".json"):
            nulls = [path for path, value in _walk(json.loads(text)) if value is None]
            assert nulls == [], f"{name} has null values at {nulls}"


def test_task_definitions_carry_what_airflow_needs(
    variant: tuple[LaunchConfig, dict[str, str]],
) -> None:
    config, artifacts = variant
    taskdefs = _taskdefs(artifacts)
    assert set(taskdefs) == {*config.long_running, "initdb"}
    account = config.account_id or "210987654321"
    for component, taskdef in taskdefs.items():
        container = _container(taskdef)
        env = {item["name"]: item["value"] for item in container["environment"]}
        secrets = {item["name"]: item["valueFrom"] for item in container["secrets"]}
        assert taskdef["requiresCompatibilities"] == ["EC2"]
        assert taskdef["family"] == f"{config.name}-{component.replace('_', '-')}"
        assert taskdef["executionRoleArn"].startswith("arn:aws:iam::")
        assert container["image"] == (
            f"{account}.dkr.ecr.us-east-1.amazonaws.com/zdp-airflow:{config.image.tag}"
        )
        assert container["ulimits"] == [
            {"name": "nofile", "softLimit": 1048576, "hardLimit": 1048576},
            {"name": "nproc", "softLimit": 1048576, "hardLimit": 1048576},
        ]
        # the worker also reads its instance's address from what the bootstrap left there
        host = {HOST_DIR} if component == "worker" else set()
        assert {m["containerPath"] for m in container["mountPoints"]} == {
            f"{config.airflow.home}/plugins/",
            f"{config.airflow.home}/dags/",
            *host,
        }
        assert all(m["readOnly"] for m in container["mountPoints"])
        assert {v["host"]["sourcePath"] for v in taskdef["volumes"]} == {
            f"{config.bootstrap.mount_point}/plugins",
            f"{config.bootstrap.mount_point}/dags",
            *host,
        }
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert env["AIRFLOW__CORE__PARALLELISM"] == str(config.airflow.parallelism)
        assert config.remote_log_folder in env.values()
        # The Fernet key and every connection string come from SSM, never from environment.
        assert "AIRFLOW__CORE__FERNET_KEY" not in env
        assert secrets["AIRFLOW__CORE__FERNET_KEY"] == config.secret_name("fernet_key")
        assert config.secret_name("result_backend") in secrets.values()
        assert config.secret_name("sql_alchemy_conn") in secrets.values()
        assert config.secret_name("secret_key") in secrets.values()
        labels = container["dockerLabels"]
        assert labels["service"] == f"zdp-airflow-{component.replace('_', '-')}"
        assert labels["es_index_prefix"] == labels["service"] + "-"
        assert labels["kafka_topic"] == "logs.zdp.airflow.ecs.docker"
        assert container["memory"] >= container["memoryReservation"]
        if component in {"webserver", "flower"}:
            (mapping,) = container["portMappings"]
            assert mapping["hostPort"] == 0
        elif component == "worker":
            # the web server asks http://HOSTNAME:8793 for a running task's log: a fixed host
            # port, and a hostname that is the instance's address
            (mapping,) = container["portMappings"]
            assert mapping == {"containerPort": 8793, "hostPort": 8793, "protocol": "tcp"}
            section = "CELERY" if config.airflow.parsed_version.major == 1 else "LOGGING"
            assert env[f"AIRFLOW__{section}__WORKER_LOG_SERVER_PORT"] == "8793"
            callable_path = env["AIRFLOW__CORE__HOSTNAME_CALLABLE"]
            assert callable_path.replace(":", ".") == "airflow_ecs_host.private_ip"
            assert env["PYTHONPATH"].split(":")[-1] == HOST_DIR
        else:
            assert "portMappings" not in container


def test_health_checks_that_work(variant: tuple[LaunchConfig, dict[str, str]]) -> None:
    config, artifacts = variant
    major = config.airflow.parsed_version.major
    expected = {
        "webserver": "/api/v2/version" if major >= 3 else "localhost:8080/health",
        # flower < 0.9.7 (allowed by 1.10) has no /healthcheck: tests/test_flower_health.py
        "flower": "localhost:5555/ ||" if major == 1 else "localhost:5555/healthcheck",
        "worker": "inspect ping",
        "scheduler": "SchedulerJob",
        "triggerer": "--job-type TriggererJob --local",
        "dag_processor": "--job-type DagProcessorJob --local",
    }
    for component, taskdef in _taskdefs(artifacts).items():
        check = _container(taskdef).get("healthCheck")
        if component == "initdb":
            assert check is None  # a one-off task: it exits, it is never "healthy"
            continue
        assert check["command"][0] == "CMD-SHELL"
        assert expected[component] in check["command"][1]
        assert "[ -f" not in check["command"][1]  # the runbook's check never passes
        assert check["timeout"] >= 10 and check["startPeriod"] > 0
        assert 5 <= check["interval"] <= 300 and 1 <= check["retries"] <= 10


def test_versions_use_their_own_commands_and_names(
    variant: tuple[LaunchConfig, dict[str, str]],
) -> None:
    config, artifacts = variant
    taskdefs = _taskdefs(artifacts)
    major = config.airflow.parsed_version.major
    command = {c: _container(t)["command"] for c, t in taskdefs.items()}
    secrets = {c: {s["name"] for s in _container(t)["secrets"]} for c, t in taskdefs.items()}
    migrate = command["initdb"][-1]
    if major == 1:
        assert command["worker"] == ["worker"] and command["flower"] == ["flower"]
        assert migrate.startswith("airflow initdb && printf")
        assert "| airflow create_user --role Admin" in migrate
        assert "AIRFLOW__CORE__SQL_ALCHEMY_CONN" in secrets["scheduler"]
    else:
        assert command["worker"] == ["celery", "worker"]
        assert command["flower"] == ["celery", "flower"]
        assert migrate.startswith("airflow db migrate && printf")
        assert "| airflow users create --role Admin" in migrate
        assert "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" in secrets["scheduler"]
    # the password reaches the prompts on stdin, not the command line: test_migrate_admin.py
    assert (
        "--password" not in migrate and '"$ADMIN_PASSWORD" "$ADMIN_PASSWORD" | airflow' in migrate
    )
    assert "ADMIN_PASSWORD" in secrets["initdb"]
    if major >= 3:
        assert command["webserver"] == ["api-server"]
        assert command["dag_processor"] == ["dag-processor"]
        for component in taskdefs:
            assert {"AIRFLOW__API__SECRET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET"} <= secrets[
                component
            ]
        env = {e["name"]: e["value"] for e in _container(taskdefs["worker"])["environment"]}
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == config.execution_api_url
        assert _container(taskdefs["webserver"])["portMappings"][0]["name"] == "api"
    else:
        assert command["webserver"] == ["webserver"]
        for component in taskdefs:
            assert "AIRFLOW__WEBSERVER__SECRET_KEY" in secrets[component]
    # new cache or existing one, the URL may hold an AUTH token: always from SSM
    assert "AIRFLOW__CELERY__BROKER_URL" in secrets["worker"]


def test_google_login_only_on_the_web_server(make_config: Callable[..., LaunchConfig]) -> None:
    taskdefs = _taskdefs(render_artifacts(make_config()))
    for component, taskdef in taskdefs.items():
        names = {s["name"] for s in _container(taskdef)["secrets"]}
        assert ({"GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET"} <= names) == (component == "webserver")
    plain = make_config(
        airflow__secrets__google_client_id="", airflow__secrets__google_client_secret=""
    )
    web = _container(_taskdefs(render_artifacts(plain))["webserver"])
    assert "GOOGLE_CLIENT_ID" not in {s["name"] for s in web["secrets"]}


def test_an_existing_brokers_url_comes_from_ssm(make_config: Callable[..., LaunchConfig]) -> None:
    config = make_config(
        redis__mode="existing",
        redis__endpoint="cache.example.internal",
        redis__transit_encryption=True,
    )
    for component, taskdef in _taskdefs(render_artifacts(config)).items():
        container = _container(taskdef)
        assert "AIRFLOW__CELERY__BROKER_URL" not in {e["name"] for e in container["environment"]}
        secrets = {s["name"]: s["valueFrom"] for s in container["secrets"]}
        assert secrets["AIRFLOW__CELERY__BROKER_URL"] == config.secret_name("broker_url"), component


def test_bootstrap_paths(variant: tuple[LaunchConfig, dict[str, str]]) -> None:
    config, artifacts = variant
    script = artifacts["bootstrap.sh"]
    assert script.startswith("#!/bin/bash")
    assert "set -euo pipefail" in script
    assert "tee -a" not in script
    if config.bootstrap.mount_tool == "s3fs":
        assert "archives.fedoraproject.org/pub/archive/epel/7" in script
        assert "yum install -y s3fs-fuse" in script
        assert f"s3fs#{config.s3.bucket}:/airflow/staging/ /mnt/airflow fuse" in script
    elif config.bootstrap.os == "amazon-linux-2":
        assert "mountpoint-s3-release/latest/${arch}/mount-s3.rpm" in script
    else:
        assert "dnf install -y mount-s3" in script
        assert "mount-s3 _netdev,nosuid,nodev,nofail,ro,allow-other 0 0" in script
    if config.bootstrap.os == "amazon-linux-2":
        assert "WARNING: Amazon Linux 2 reached end of support on 2026-06-30" in script


def test_user_data_and_cluster_template(variant: tuple[LaunchConfig, dict[str, str]]) -> None:
    config, artifacts = variant
    user_data = artifacts["user-data.sh"]
    assert user_data.count("ECS_CLUSTER=") == 2  # the sed that drops old lines, and one echo
    assert f"echo ECS_CLUSTER={config.cluster_name} >> /etc/ecs/ecs.config" in user_data
    assert "echo 'ECS_BACKEND_HOST=' >> /etc/ecs/ecs.config" in user_data
    assert f"aws s3 cp {config.bootstrap_uri} /usr/lib/docker-airflow/bootstrap/bootstrap.sh" in (
        user_data
    )
    assert "bash /usr/lib/docker-airflow/bootstrap/bootstrap.sh" in user_data
    template = json.loads(artifacts["cluster.cfn.json"])
    resources = template["Resources"]
    types = {r["Type"] for r in resources.values()}
    assert {
        "AWS::ECS::Cluster",
        "AWS::IAM::Role",
        "AWS::IAM::InstanceProfile",
        "AWS::EC2::LaunchTemplate",
        "AWS::AutoScaling::AutoScalingGroup",
        "AWS::ECS::CapacityProvider",
        "AWS::ECS::ClusterCapacityProviderAssociations",
    } <= types
    data = resources["LaunchTemplate"]["Properties"]["LaunchTemplateData"]
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    assert data["NetworkInterfaces"][0]["AssociatePublicIpAddress"] is False
    arch = "arm64/" if config.cluster.arm64 else ""
    os_name = config.bootstrap.os
    assert template["Parameters"]["EcsAmiId"]["Default"] == (
        f"/aws/service/ecs/optimized-ami/{os_name}/{arch}recommended/image_id"
    )
    assert {"ClusterName", "CapacityProviderName", "AutoScalingGroupName"} <= set(
        template["Outputs"]
    )


def test_existing_stack_renders_no_cluster_template(
    make_config: Callable[..., LaunchConfig],
) -> None:
    artifacts = render_artifacts(make_config(cluster__existing_stack="EC2ContainerService-airflow"))
    assert "cluster.cfn.json" not in artifacts
    assert "user-data.sh" in artifacts


def test_account_is_required_to_name_the_image(make_config: Callable[..., LaunchConfig]) -> None:
    config = make_config(iam={})
    with pytest.raises(ProblemsError) as caught:
        render_artifacts(config)
    assert caught.value.problems[0].path == "aws.account_id"
    assert render_artifacts(config, account_id="111122223333")["taskdef-worker.json"]


def test_manifest_lists_every_file_with_its_digest(example_path: Path, tmp_path: Path) -> None:
    import hashlib

    written = write_artifacts(render_artifacts(load_config(example_path)), tmp_path)
    listed = json.loads((tmp_path / "manifest.json").read_text())["files"]
    assert [entry["name"] for entry in listed] == [
        p.name for p in written if p.name != "manifest.json"
    ]
    for entry in listed:
        digest = hashlib.sha256((tmp_path / entry["name"]).read_bytes()).hexdigest()
        assert entry["sha256"] == digest
    assert manifest({"a": "x"}) != manifest({"a": "y"})


def test_rerender_removes_files_of_dropped_components(
    make_config: Callable[..., LaunchConfig], tmp_path: Path
) -> None:
    write_artifacts(render_artifacts(make_config()), tmp_path)
    (tmp_path / "notes.txt").write_text("mine")
    smaller = make_config(components__flower=None)
    write_artifacts(render_artifacts(smaller), tmp_path)
    assert not (tmp_path / "taskdef-flower.json").exists()
    assert (tmp_path / "notes.txt").read_text() == "mine"  # files we did not write stay


SECRET_SHAPES = [
    re.compile(r"\b[A-Za-z0-9_-]{43}=(?![A-Za-z0-9])"),  # a Fernet key
    re.compile(r"(?:postgresql|mysql)[+a-z0-9]*://[^:\s]+:[^@\s]+@"),  # a URL with a password
    re.compile(r"PASSWORD\s+'[^']+'", re.IGNORECASE),
]


def test_no_secret_value_in_any_rendered_file(
    variant: tuple[LaunchConfig, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from wizard.fernet import generate_key

    key = generate_key()
    monkeypatch.setenv("AIRFLOW_ECS_WIZARD_DB_ADMIN_PASSWORD", "admin-Pa55word")
    config, _ = variant
    artifacts = render_artifacts(config)  # rendered with a key and a password around
    for name, text in artifacts.items():
        assert key not in text and "admin-Pa55word" not in text, name
        for shape in SECRET_SHAPES:
            assert not shape.search(text), f"{name} holds something shaped like a secret"
