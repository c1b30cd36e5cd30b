"""The launch config: the example loads, every rule names its field, TOML round-trips."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import EXAMPLE, with_changes
from wizard.config import LaunchConfig
from wizard.config_file import dump_config, load_config, parse_config, save_config
from wizard.errors import BadInput, ProblemsError


def test_example_loads_unchanged(example_path: Path) -> None:
    config = load_config(example_path)
    assert config.name == "airflow-staging"
    assert config.s3.bucket == "acme-dataplatform-airflow"
    assert config.airflow.version == "3.3"
    assert list(config.components) == [
        "webserver",
        "scheduler",
        "worker",
        "flower",
        "triggerer",
        "dag_processor",
    ]
    assert config.components["worker"].desired_count == 2


def test_fixture_copy_matches_the_spec() -> None:
    spec = Path(__file__).resolve().parents[2] / "shared" / "spec" / "launch.example.toml"
    if not spec.exists():
        pytest.skip("shared/ is not beside this checkout")
    for copy in ("examples/launch.example.toml", "wizard/data/launch.example.toml"):
        assert (Path(__file__).parents[1] / copy).read_text() == spec.read_text(), (
            f"{copy} is stale: copy shared/spec/launch.example.toml"
        )


def test_derived_defaults_live_in_the_model(example_path: Path) -> None:
    config = load_config(example_path)
    assert config.remote_log_folder == "s3://acme-dataplatform-airflow/airflow/staging/logs"
    assert config.mount_source == "s3://acme-dataplatform-airflow/airflow/staging/"
    assert config.bootstrap_uri == (
        "s3://acme-dataplatform-airflow/airflow/staging/bootstrap/bootstrap.sh"
    )
    assert config.account_id == "123456789012"  # from the role ARNs
    assert config.cluster_name == "airflow-staging"
    assert config.secret_name("jwt_secret") == "dataplatform.staging.airflow.jwt_secret"
    assert config.secret_name("fernet_key") == "dataplatform.staging.airflow.fernet_key"
    assert config.family("dag_processor") == "airflow-staging-dag-processor"
    assert config.image_uri("123456789012") == (
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/zdp-airflow:3.3.2"
    )
    assert config.execution_api_url == "http://airflow-api-server:8080/execution/"


def test_minimal_config_gets_documented_defaults() -> None:
    config = parse_config(
        'name = "air"\n[s3]\nbucket = "my-bucket"\n[database]\nrds_instance_id = "db1"\n'
    )
    assert config.bootstrap.os == "amazon-linux-2023"
    assert config.bootstrap.mount_tool == "mountpoint-s3"
    assert config.secret_name("fernet_key") == "/airflow/air/fernet_key"
    assert config.secret_name("admin_password") == "/airflow/air/admin_password"
    assert config.role_arn("execution", "111122223333") == (
        "arn:aws:iam::111122223333:role/air-us-east-1-execution"
    )
    assert config.replication_group_id == "air"
    assert config.container_port("webserver") == 8080


# (changes to the example, the field path the message must name, words it must contain)
REJECTIONS: list[tuple[dict[str, Any], str, str]] = [
    ({"name": "Airflow_Staging"}, "name", "lowercase"),
    ({"s3.bucket": "Acme_Bucket"}, "s3.bucket", "lowercase letters"),
    ({"s3.bucket": "ab"}, "s3.bucket", "3-63"),
    ({"s3.bucket": "my..bucket"}, "s3.bucket", "adjacent periods"),
    ({"s3.bucket": "192.168.1.1"}, "s3.bucket", "IP address"),
    ({"s3.bucket": "xn--bucket"}, "s3.bucket", "reserves"),
    ({"s3.prefix": "/airflow/"}, "s3.prefix", "no leading"),
    ({"environment": "qa"}, "environment", "s3.environments"),
    ({"aws.region": "us-east"}, "aws.region", "region code"),
    ({"aws.account_id": "12345"}, "aws.account_id", "12-digit"),
    ({"aws.endpoint_url": "localhost:5000"}, "aws.endpoint_url", "http://"),
    ({"iam.execution_role_arn": "ecsTaskExecutionRole"}, "iam.execution_role_arn", "role ARN"),
    ({"iam.task_role_arn": "arn:aws:iam::12345:role/x"}, "iam.task_role_arn", "role ARN"),
    ({"network.vpc_id": "vpc-xyz"}, "network.vpc_id", "vpc-"),
    (
        {"network.subnet_ids": ["subnet-0aa11bb22cc33dd44", "sub-1"]},
        "network.subnet_ids[1]",
        "subnet-",
    ),
    ({"network.security_group_ids": ["sg-zz"]}, "network.security_group_ids[0]", "sg-"),
    ({"cluster.name": "air flow"}, "cluster.name", "letters, digits, hyphens"),
    ({"cluster.existing_stack": "1stack"}, "cluster.existing_stack", "start with a letter"),
    ({"cluster.instance_type": "huge"}, "cluster.instance_type", "m6i.xlarge"),
    ({"cluster.min_size": 5, "cluster.max_size": 2}, "cluster.max_size", "min_size"),
    ({"database.rds_instance_id": ""}, "database.rds_instance_id", "mode = existing"),
    ({"database.rds_instance_id": "staging--rds"}, "database.rds_instance_id", "single hyphens"),
    ({"database.engine": "oracle"}, "database.engine", "postgres"),
    ({"database.username": "postgres"}, "database.username", "reserved"),
    ({"database.database_name": "air-flow"}, "database.database_name", "underscores"),
    ({"database.instance_class": "t4g.medium"}, "database.instance_class", "db.t4g.medium"),
    ({"database.port": 70000}, "database.port", "65535"),
    ({"redis.mode": "existing"}, "redis.endpoint", "mode = existing"),
    ({"redis.mode": "existing", "redis.endpoint": "redis://x:6379"}, "redis.endpoint", "HOST:PORT"),
    ({"redis.engine": "memcached"}, "redis.engine", "valkey"),
    ({"redis.broker_db": 16}, "redis.broker_db", "15"),
    ({"redis.replication_group_id": "Airflow"}, "redis.replication_group_id", "lowercase"),
    ({"redis.node_type": "t4g.small"}, "redis.node_type", "cache.t4g.small"),
    ({"image.ecr_repository": "ZDP"}, "image.ecr_repository", "lowercase"),
    ({"image.tag": "-bad"}, "image.tag", "not starting"),
    ({"bootstrap.mount_tool": "s3fs"}, "bootstrap.mount_tool", "Amazon Linux 2023"),
    ({"bootstrap.mount_point": "mnt/airflow"}, "bootstrap.mount_point", "absolute path"),
    ({"bootstrap.os": "ubuntu"}, "bootstrap.os", "amazon-linux-2023"),
    ({"web.load_balancer": "internet-facing"}, "web.certificate_arn", "internet-facing"),
    (
        {
            "web.load_balancer": "internet-facing",
            "web.certificate_arn": "arn:aws:acm:us-east-1:123456789012:certificate/"
            "12345678-1234-1234-1234-123456789012",
        },
        "web",
        "two Availability Zones",
    ),
    ({"web.load_balancer": "none"}, "web.target_group_arn", "target group"),
    ({"web.certificate_arn": "arn:aws:acm:x"}, "web.certificate_arn", "ACM certificate ARN"),
    ({"web.allowed_cidrs": ["10.0.0.1/8"]}, "web.allowed_cidrs[0]", "CIDR"),
    ({"airflow.version": "2.6"}, "airflow.version", "not supported"),
    ({"airflow.version": "3"}, "airflow.version", "MAJOR.MINOR"),
    (
        {"airflow.version": "1.10", "airflow.home": "/home/airflow/airflow"},
        "components",
        "triggerer needs Airflow 2.2",
    ),
    ({"components.dag_processor": None}, "components", "required on Airflow 3"),
    ({"components.scheduler": None}, "components", "[components.scheduler] is required"),
    ({"components.reaper": {"memory": 10}}, "components", "unknown component"),
    ({"airflow.log_driver": "syslog"}, "airflow.log_driver", "json-file"),
    ({"airflow.remote_log_folder": "/logs"}, "airflow.remote_log_folder", "s3://"),
    ({"airflow.parallelism": 0}, "airflow.parallelism", "greater than or equal to 1"),
    ({"airflow.secrets.fernet_key": "aws.fernet"}, "airflow.secrets.fernet_key", "aws or ssm"),
    ({"airflow.secrets.fernet_key": "a/b"}, "airflow.secrets.fernet_key", "begin with /"),
    (
        {"airflow.secrets.sql_alchemy_conn": "bad name!"},
        "airflow.secrets.sql_alchemy_conn",
        "letters",
    ),
    ({"airflow.secrets.google_client_secret": ""}, "airflow.secrets.google_client_secret", "both"),
    (
        {"components.webserver.memory_reservation": 4096},
        "components.webserver.memory_reservation",
        "must not exceed memory",
    ),
    (
        {"components.worker.health_check": {"interval": 2}},
        "components.worker.health_check.interval",
        "greater than or equal to 5",
    ),
    (
        {"components.worker.health_check": {"timeout": 61}},
        "components.worker.health_check.timeout",
        "less than or equal to 60",
    ),
    (
        {"components.worker.health_check": {"retries": 11}},
        "components.worker.health_check.retries",
        "10",
    ),
    (
        {"components.worker.health_check": {"start_period": 301}},
        "components.worker.health_check.start_period",
        "300",
    ),
    (
        {"components.worker.health_check": {"interval": 10, "timeout": 10}},
        "components.worker.health_check.timeout",
        "shorter than interval",
    ),
    (
        {"components.worker.desired_count": -1},
        "components.worker.desired_count",
        "greater than or equal to 0",
    ),
    ({"s3.bucket_name": "x"}, "s3.bucket_name", "not a known field"),
]


@pytest.mark.parametrize(
    ("changes", "path", "words"), REJECTIONS, ids=[f"{p}:{w}" for _, p, w in REJECTIONS]
)
def test_each_rule_rejects_with_the_field_path(
    example_data: dict[str, Any], changes: dict[str, Any], path: str, words: str
) -> None:
    with pytest.raises(ProblemsError) as caught:
        parse_config(_toml(with_changes(example_data, changes)))
    paths = {problem.path: problem.message for problem in caught.value.problems}
    assert path in paths, f"no problem at {path}: {caught.value.problems}"
    assert words in paths[path]
    assert caught.value.exit_code == 2


def test_every_problem_is_listed_at_once(example_data: dict[str, Any]) -> None:
    broken = with_changes(
        example_data,
        {
            "s3.bucket": "Bad_Bucket",
            "aws.region": "nowhere",
            "components.worker.memory_reservation": 9999,
            "redis.mode": "existing",
            "bootstrap.mount_tool": "s3fs",
        },
    )
    with pytest.raises(ProblemsError) as caught:
        parse_config(_toml(broken))
    assert {p.path for p in caught.value.problems} == {
        "s3.bucket",
        "aws.region",
        "components.worker.memory_reservation",
        "redis.endpoint",
        "bootstrap.mount_tool",
    }
    assert "5 problem(s)" in caught.value.message


def test_unreadable_and_missing_files_are_bad_input(tmp_path: Path) -> None:
    broken = tmp_path / "launch.toml"
    broken.write_text("name = \n")
    with pytest.raises(ProblemsError, match="not valid TOML"):
        load_config(broken)
    with pytest.raises(BadInput, match="Cannot read the config"):
        load_config(tmp_path / "missing.toml")


def test_dump_then_load_is_identity_and_readable(example_path: Path, tmp_path: Path) -> None:
    config = load_config(example_path)
    text = dump_config(config)
    assert parse_config(text) == config
    assert "[components.dag_processor]" in text
    assert 'bucket = "acme-dataplatform-airflow"' in text
    assert "# the bucket name" in text
    target = tmp_path / "saved" / "launch.toml"
    save_config(config, target)
    assert load_config(target) == config
    assert [p.name for p in target.parent.iterdir()] == ["launch.toml"]  # no temp file left


def test_health_check_override_round_trips(make_config: Any) -> None:
    config = make_config(components__worker__health_check={"interval": 60, "timeout": 30})
    again = parse_config(dump_config(config))
    assert again.components["worker"].health_check == config.components["worker"].health_check
    assert "[components.worker.health_check]" in dump_config(config)


@settings(max_examples=60, deadline=None)
@given(
    profile=st.from_regex(r"[A-Za-z0-9_.+@:/-]{0,30}", fullmatch=True),
    topic=st.from_regex(r"[A-Za-z0-9._-]{0,30}", fullmatch=True),
    email=st.from_regex(r"[A-Za-z0-9_%+-]{1,10}@[a-z0-9]{1,10}\.[a-z]{2,5}", fullmatch=True),
    parallelism=st.integers(min_value=1, max_value=10000),
    environments=st.lists(
        st.sampled_from(["staging", "prod", "dev", "qa"]), min_size=1, unique=True
    ),
)
def test_any_free_text_survives_the_writer(
    profile: str, topic: str, email: str, parallelism: int, environments: list[str]
) -> None:
    data = with_changes(
        _example(),
        {
            "aws.profile": profile,
            "airflow.log_topic": topic,
            "airflow.admin_email": email,
            "airflow.parallelism": parallelism,
            "s3.environments": environments,
            "environment": environments[0],
        },
    )
    config = LaunchConfig.model_validate(data)
    assert parse_config(dump_config(config)) == config


def _example() -> dict[str, Any]:
    import tomllib

    return tomllib.loads(EXAMPLE.read_text())


def _toml(data: dict[str, Any], path: str = "") -> str:
    """Write arbitrary (possibly invalid) config data as TOML, for the rejection table."""
    scalars = [
        f"{key} = {_value(value)}" for key, value in data.items() if not isinstance(value, dict)
    ]
    text = (f"[{path}]\n" if path else "") + "".join(line + "\n" for line in scalars)
    for key, value in data.items():
        if isinstance(value, dict):
            text += _toml(value, f"{path}.{key}" if path else key)
    return text


def _value(value: Any) -> str:
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    return json.dumps(value)
