"""The redis step against the emulator server (ElastiCache, EC2, SSM) and a real redis-server.

moto's replication groups are available at once but their endpoints are not servers, so the
PING is tested with `redis.mode = "existing"` pointed at the redis-server fixture.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from tests.conftest import launch_state
from tests.services import free_port
from wizard.aws import Aws, AwsSettings
from wizard.config import LaunchConfig
from wizard.errors import WizardError
from wizard.state import StateFile
from wizard.steps.base import StepContext
from wizard.steps.provisioning import MASK
from wizard.steps.redis import RedisStep
from wizard.steps.secrets import SecretsStep

ACCOUNT = "123456789012"
LAUNCH_TAG = {"Key": "airflow-ecs-wizard:launch", "Value": "airflow-staging"}
STEP = RedisStep()


def _context(
    config: LaunchConfig, state: StateFile | None = None, *, read_only: bool = False
) -> tuple[StepContext, list[str]]:
    settings = AwsSettings(region=config.aws.region, endpoint_url=config.aws.endpoint_url)
    messages: list[str] = []
    ctx = StepContext(
        config=config,
        aws=Aws(settings, read_only=read_only),
        account_id=ACCOUNT,
        state=state,
        progress=messages.append,
    )
    return ctx, messages


@pytest.fixture
def network(aws_endpoint: str) -> dict[str, Any]:
    """A VPC with two private subnets and the cluster's instance group."""
    ec2 = Aws(AwsSettings(region="us-east-1", endpoint_url=aws_endpoint)).client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"us-east-1{z}")[
            "Subnet"
        ]["SubnetId"]
        for i, z in ((1, "a"), (2, "b"))
    ]
    group = ec2.create_security_group(GroupName="instances", Description="x", VpcId=vpc)
    return {"vpc_id": vpc, "subnet_ids": subnets, "instance_group": group["GroupId"]}


@pytest.fixture
def config(
    make_config: Callable[..., LaunchConfig], aws_endpoint: str, network: dict[str, Any]
) -> Callable[..., LaunchConfig]:
    def make(**changes: Any) -> LaunchConfig:
        base = {
            "aws__endpoint_url": aws_endpoint,
            "network__vpc_id": network["vpc_id"],
            "network__subnet_ids": network["subnet_ids"],
        }
        return make_config(**{**base, **changes})

    return make


def _state(tmp_path: Path, config: LaunchConfig, network: dict[str, Any]) -> StateFile:
    """A state in which the network step has run."""
    state: StateFile = launch_state(
        tmp_path,
        config,
        vpc_id=network["vpc_id"],
        instance_security_group_id=network["instance_group"],
    )
    return state


def _broker_parameter(ctx: StepContext) -> dict[str, Any]:
    name = ctx.config.secret_name("broker_url")
    ssm = ctx.aws.client("ssm")
    return dict(ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"])


def test_new_group_with_its_subnet_group_and_security_group(
    config: Callable[..., LaunchConfig], network: dict[str, Any], tmp_path: Path
) -> None:
    launch = config()
    state = _state(tmp_path, launch, network)
    ctx, messages = _context(launch, state)
    plan = STEP.plan(ctx)
    assert plan.problems == []
    (warning,) = plan.warnings  # the example turns TLS off
    assert warning.startswith("redis.transit_encryption = false: Celery's messages cross the VPC")
    assert [(a.verb, a.kind) for a in plan.changes] == [
        ("create", "elasticache:subnet-group"),
        ("create", "ec2:security-group"),
        ("create", "ec2:ingress"),
        ("create", "elasticache:replication-group"),
        ("create", "ssm:parameter"),
    ]

    STEP.apply(ctx)

    elasticache = ctx.aws.client("elasticache")
    (group,) = elasticache.describe_replication_groups(ReplicationGroupId="airflow-staging")[
        "ReplicationGroups"
    ]
    assert (group["Engine"], group["CacheNodeType"]) == ("valkey", "cache.t4g.small")
    assert group["AtRestEncryptionEnabled"] and not group["TransitEncryptionEnabled"]
    assert len(group["NodeGroups"]) == 1
    primary = group["NodeGroups"][0]["PrimaryEndpoint"]["Address"]
    (subnet_group,) = elasticache.describe_cache_subnet_groups(
        CacheSubnetGroupName="airflow-staging-cache"
    )["CacheSubnetGroups"]
    assert {s["SubnetIdentifier"] for s in subnet_group["Subnets"]} == set(network["subnet_ids"])
    ec2 = ctx.aws.client("ec2")
    filters = [{"Name": "group-name", "Values": ["airflow-staging-cache"]}]
    (cache_group,) = ec2.describe_security_groups(Filters=filters)["SecurityGroups"]
    assert cache_group["VpcId"] == network["vpc_id"]
    assert LAUNCH_TAG in cache_group["Tags"]
    (rule,) = cache_group["IpPermissions"]
    assert (rule["IpProtocol"], rule["FromPort"], rule["ToPort"]) == ("tcp", 6379, 6379)
    assert [p["GroupId"] for p in rule["UserIdGroupPairs"]] == [network["instance_group"]]
    parameter = _broker_parameter(ctx)
    assert parameter["Type"] == "SecureString"
    assert parameter["Value"] == f"redis://{primary}:6379/1"
    outputs = state.step("redis").outputs
    assert outputs["broker_url"] == f"redis://{primary}:6379/1"
    assert outputs["broker_url_parameter"] == launch.secret_name("broker_url")
    assert any("available" in m for m in messages)
    created = {r.kind for r in state.created_resources()}
    assert created == {
        "elasticache:subnet-group",
        "elasticache:replication-group",
        "ec2:security-group",
        "ssm:parameter",
    }

    # a second apply (a fresh process) finds everything and changes nothing
    again, _ = _context(launch, StateFile.open(state.path))
    assert STEP.plan(again).changes == []
    STEP.apply(again)
    assert again.aws.recorder.mutating() == {}


def test_a_new_cache_gets_tls_and_an_auth_token_by_default(
    config: Callable[..., LaunchConfig], network: dict[str, Any], tmp_path: Path
) -> None:
    launch = config(
        redis__transit_encryption=None,
        redis__engine="redis",
        airflow__secrets__google_client_id="",  # no Google login: the secrets step needs none
        airflow__secrets__google_client_secret="",
    )
    assert launch.redis.transit_encryption and launch.redis.uses_auth_token
    state = _state(tmp_path, launch, network)
    ctx, _ = _context(launch, state)
    plan = STEP.plan(ctx)
    assert plan.warnings == []  # TLS and AUTH: nothing to warn of
    (create,) = [a for a in plan.changes if a.kind == "elasticache:replication-group"]
    token_name = launch.secret_name("redis_auth_token")
    assert f"in-transit encryption on, AUTH token from {token_name}" in create.detail
    with pytest.raises(WizardError, match="Apply the secrets step first"):
        STEP.apply(ctx)  # the secrets step generates the token: nothing was created before it
    assert ctx.aws.client("elasticache").describe_replication_groups()["ReplicationGroups"] == []

    SecretsStep().apply(ctx)
    token = ctx.aws.client("ssm").get_parameter(Name=token_name, WithDecryption=True)
    token_value = token["Parameter"]["Value"]
    assert token["Parameter"]["Type"] == "SecureString"
    assert 16 <= len(token_value) <= 128 and token_value.isalnum()
    STEP.apply(ctx)

    (group,) = ctx.aws.client("elasticache").describe_replication_groups(
        ReplicationGroupId="airflow-staging"
    )["ReplicationGroups"]
    assert group["TransitEncryptionEnabled"] and group["AuthTokenEnabled"]
    assert group["Engine"] == "redis"
    primary = group["NodeGroups"][0]["PrimaryEndpoint"]["Address"]
    url = f"rediss://:{token_value}@{primary}:6379/1?ssl_cert_reqs=required"
    assert _broker_parameter(ctx)["Value"] == url
    outputs = state.step("redis").outputs
    assert outputs["broker_url"] == f"rediss://:{MASK}@{primary}:6379/1?ssl_cert_reqs=required"
    assert outputs["auth_token_parameter"] == token_name
    assert token_value not in state.path.read_text()
    # a second plan sees the group's AUTH and the same URL: nothing to change
    assert STEP.plan(_context(launch, StateFile.open(state.path))[0]).changes == []


def test_auth_without_tls_is_refused_for_a_new_cache(
    config: Callable[..., LaunchConfig],
) -> None:
    with pytest.raises(ValidationError, match=r"redis\.auth_token") as caught:
        config(redis__transit_encryption=False, redis__auth_token=True)
    assert "needs redis.transit_encryption = true" in str(caught.value)


def test_a_group_an_interrupted_run_created_is_adopted(
    config: Callable[..., LaunchConfig], network: dict[str, Any], tmp_path: Path
) -> None:
    launch = config()
    ctx, _ = _context(launch, _state(tmp_path, launch, network))
    ctx.aws.client("elasticache").create_replication_group(  # the state write never happened
        ReplicationGroupId="airflow-staging",
        ReplicationGroupDescription="made by an interrupted run",
        Engine="valkey",
        CacheNodeType="cache.t4g.small",
        Tags=[LAUNCH_TAG],
    )
    ctx.aws.recorder.reset()
    STEP.apply(ctx)
    assert "elasticache.CreateReplicationGroup" not in ctx.aws.recorder.counts
    assert ctx.state is not None
    recorded = {(r.kind, r.id): r.created for r in ctx.state.created_resources(False)}
    assert recorded[("elasticache:replication-group", "airflow-staging")] is True
    assert _broker_parameter(ctx)["Value"].startswith("redis://")


def test_an_endpoint_that_moved_updates_the_broker_parameter(
    config: Callable[..., LaunchConfig], network: dict[str, Any], tmp_path: Path
) -> None:
    launch = config()
    ctx, messages = _context(launch, _state(tmp_path, launch, network))
    ctx.aws.client("ssm").put_parameter(
        Name=launch.secret_name("broker_url"),
        Value="redis://old-endpoint:6379/1",
        Type="SecureString",
    )
    STEP.apply(ctx)
    assert _broker_parameter(ctx)["Value"] != "redis://old-endpoint:6379/1"
    assert any("broker_url changed" in m for m in messages)


def test_plan_is_read_only(config: Callable[..., LaunchConfig], network: dict[str, Any]) -> None:
    ctx, _ = _context(config(), read_only=True)
    plan = STEP.plan(ctx)
    assert ctx.aws.recorder.mutating() == {}
    assert any("no instance security group is known yet" in w for w in plan.warnings)
    with pytest.raises(WizardError, match="No instance security group"):
        STEP.apply(_context(config())[0])  # nothing to admit: refused before any create
    groups = ctx.aws.client("elasticache").describe_replication_groups()["ReplicationGroups"]
    assert groups == []


def test_existing_endpoint_answers_ping(
    config: Callable[..., LaunchConfig], redis: Any, tmp_path: Path, network: dict[str, Any]
) -> None:
    endpoint = f"127.0.0.1:{redis.port}"
    launch = config(redis__mode="existing", redis__endpoint=endpoint)
    state = _state(tmp_path, launch, network)
    ctx, _ = _context(launch, state)
    plan = STEP.plan(ctx)
    assert ("check", "redis:ping", endpoint, "PONG") in [
        (a.verb, a.kind, a.name, a.detail) for a in plan.actions
    ]
    assert plan.warnings == [] and plan.problems == []
    assert [(a.verb, a.kind) for a in plan.changes] == [("create", "ssm:parameter")]
    STEP.apply(ctx)
    assert ctx.aws.recorder.mutating() == {"ssm.PutParameter": 1}
    outputs = state.step("redis").outputs
    assert outputs["broker_url"] == f"redis://{endpoint}/1"
    assert outputs["broker_url_parameter"] == launch.secret_name("broker_url")
    assert _broker_parameter(ctx)["Value"] == f"redis://{endpoint}/1"


def test_an_endpoint_this_machine_cannot_resolve_is_a_neutral_warning(
    config: Callable[..., LaunchConfig],
) -> None:
    endpoint = "airflow-cache.invalid:6379"  # never resolves, like a VPC-private name here
    launch = config(redis__mode="existing", redis__endpoint=endpoint)
    plan = STEP.plan(_context(launch)[0])
    assert plan.problems == []
    (warning,) = plan.warnings
    assert f"cannot check the broker at {endpoint} from here" in warning
    assert "airflow-cache.invalid does not resolve on this machine" in warning
    assert "expected when the wizard runs outside the VPC" in warning
    assert "Error -2" not in warning and "Name or service not known" not in warning


def test_an_endpoint_that_refuses_the_connection_is_a_failure_not_expected(
    config: Callable[..., LaunchConfig],
) -> None:
    endpoint = f"127.0.0.1:{free_port()}"  # the address answers: nothing listens there
    launch = config(redis__mode="existing", redis__endpoint=endpoint)
    plan = STEP.plan(_context(launch)[0])
    assert plan.problems == []
    (warning,) = plan.warnings
    assert f"the broker at {endpoint} failed the PING from here" in warning
    assert f"nothing listens at {endpoint}" in warning
    assert "expected" not in warning


def test_apply_says_the_ping_is_skipped_where_the_name_does_not_resolve(
    config: Callable[..., LaunchConfig], network: dict[str, Any], tmp_path: Path
) -> None:
    """The emulator's cache has a name no DNS answers, as a VPC-private one from outside."""
    launch = config()
    ctx, messages = _context(launch, _state(tmp_path, launch, network))
    STEP.apply(ctx)
    endpoint = ctx.outputs("redis")["endpoint"]
    host = endpoint.partition(":")[0]
    (line,) = [m for m in messages if host in m]
    assert line == (
        f"broker check skipped: {host} does not resolve on this machine (a private name "
        "resolves only inside its VPC); the ECS instances reach the cache through the security "
        "groups the network step checks"
    )
    assert not [m for m in messages if "Error -2" in m or "Name or service not known" in m]


def test_a_ping_tells_a_refusal_from_a_cache_out_of_reach(
    secure_redis: Any, redis: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wizard.steps.broker import ping

    pong = ping(f"127.0.0.1:{redis.port}", tls=False)
    assert pong.line(f"127.0.0.1:{redis.port}") == f"PING 127.0.0.1:{redis.port}: PONG"
    monkeypatch.setenv("SSL_CERT_FILE", str(secure_redis.ca_file))  # trust the test's CA
    wrong = ping(f"127.0.0.1:{secure_redis.port}", tls=True, password="not-the-token-0123456789")
    assert wrong.auth_refused and not wrong.unchecked  # a real refusal: apply fails on it
    assert wrong.line("x").startswith("PING x failed: AUTH refused")
    closed = f"127.0.0.1:{free_port()}"
    refused = ping(closed, tls=False)
    assert (
        refused.line(closed)
        == f"PING {closed} failed: nothing listens at {closed} (connection refused)"
    )
    far = ping("master.airflow.abc123.use1.cache.invalid:6379", tls=True)
    assert far.unchecked and not far.failure
    assert far.line("x").startswith("broker check skipped: master.airflow.abc123.use1.cache")


def test_discover_lists_replication_groups(config: Callable[..., LaunchConfig]) -> None:
    ctx, _ = _context(config())
    ctx.aws.client("elasticache").create_replication_group(
        ReplicationGroupId="other-cache",
        ReplicationGroupDescription="x",
        Engine="redis",
        CacheNodeType="cache.t4g.small",
    )
    (choice,) = STEP.discover(ctx)["redis.replication_group_id"]
    assert (choice.value, choice.label) == ("other-cache", "other-cache (available)")


def _put(ctx: StepContext, name: str, value: str) -> None:
    ctx.aws.client("ssm").put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)


def test_an_existing_cache_with_auth_and_tls_is_checked_with_both(
    config: Callable[..., LaunchConfig],
    secure_redis: Any,
    tmp_path: Path,
    network: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import redis

    endpoint = f"127.0.0.1:{secure_redis.port}"  # a cache ElastiCache here does not describe
    launch = config(
        redis__mode="existing", redis__endpoint=endpoint, redis__transit_encryption=None
    )
    state = _state(tmp_path, launch, network)
    ctx, _ = _context(launch, state)
    token_name = launch.secret_name("redis_auth_token")

    # the token is missing: refused, naming the field
    (problem,) = STEP.plan(ctx).problems
    assert problem.startswith("airflow.secrets.redis_auth_token: the endpoint")
    assert f"SSM parameter {token_name} does not exist" in problem

    # a wrong token: the cache refuses it
    _put(ctx, token_name, "not-the-token-0123456789")
    monkeypatch.setenv("SSL_CERT_FILE", str(secure_redis.ca_file))  # trust the test's CA
    (problem,) = STEP.plan(ctx).problems
    assert f"the broker at {endpoint} refused the AUTH token in {token_name}" in problem

    # the right one: PONG over TLS, and the URL in SSM works as Celery will use it
    _put(ctx, token_name, secure_redis.password)
    plan = STEP.plan(ctx)
    assert plan.problems == [] and plan.warnings == []
    assert ("check", "redis:ping", endpoint, "PONG") in [
        (a.verb, a.kind, a.name, a.detail) for a in plan.actions
    ]
    (change,) = plan.changes
    assert secure_redis.password not in change.detail and MASK in change.detail
    STEP.apply(ctx)
    url = _broker_parameter(ctx)["Value"]
    assert url == (f"rediss://:{secure_redis.password}@{endpoint}/1?ssl_cert_reqs=required")
    client = redis.Redis.from_url(url, socket_timeout=10)
    try:
        assert client.ping() is True
        assert client.connection_pool.connection_kwargs["db"] == 1
    finally:
        client.close()
    assert secure_redis.password not in state.path.read_text()
    assert state.step("redis").outputs["broker_url"] == (
        f"rediss://:{MASK}@{endpoint}/1?ssl_cert_reqs=required"
    )

    # the certificate is checked: one this machine does not trust fails the PING
    monkeypatch.delenv("SSL_CERT_FILE")
    (warning,) = STEP.plan(ctx).warnings
    assert "certificate verify failed" in warning


def _group(ctx: StepContext, **settings: Any) -> dict[str, Any]:
    elasticache = ctx.aws.client("elasticache")
    elasticache.create_replication_group(
        ReplicationGroupId="existing-cache",
        ReplicationGroupDescription="made elsewhere",
        Engine="redis",
        CacheNodeType="cache.t4g.small",
        **settings,
    )
    (group,) = elasticache.describe_replication_groups(ReplicationGroupId="existing-cache")[
        "ReplicationGroups"
    ]
    return dict(group)


def test_an_existing_groups_own_tls_and_auth_decide_the_url(
    config: Callable[..., LaunchConfig], tmp_path: Path, network: dict[str, Any]
) -> None:
    token = "0123456789abcdef0123456789abcdef"
    ctx, _ = _context(config())
    group = _group(ctx, TransitEncryptionEnabled=True, AuthToken=token)
    primary = group["NodeGroups"][0]["PrimaryEndpoint"]["Address"]
    # the config believes in a plain cache without AUTH
    launch = config(
        redis__mode="existing",
        redis__endpoint=primary,
        redis__transit_encryption=False,
        redis__auth_token=False,
    )
    state = _state(tmp_path, launch, network)
    ctx, _ = _context(launch, state)
    plan = STEP.plan(ctx)
    check = ("check", "elasticache:replication-group", "existing-cache")
    assert check in [(a.verb, a.kind, a.name) for a in plan.actions]
    (problem,) = plan.problems
    assert problem.startswith(f"airflow.secrets.redis_auth_token: the group {primary} wants")

    _put(ctx, launch.secret_name("redis_auth_token"), token)
    plan = STEP.plan(ctx)
    assert plan.problems == []
    assert any(
        "in-transit encryption on, but redis.transit_encryption is false" in w
        for w in plan.warnings
    )
    assert any("has AUTH on, but redis.auth_token is false" in w for w in plan.warnings)
    STEP.apply(ctx)
    url = f"rediss://:{token}@{primary}:6379/1?ssl_cert_reqs=required"
    assert _broker_parameter(ctx)["Value"] == url


def test_a_cluster_mode_group_is_refused(
    config: Callable[..., LaunchConfig], tmp_path: Path, network: dict[str, Any]
) -> None:
    ctx, _ = _context(config())
    group = _group(ctx, ClusterMode="enabled", NumNodeGroups=2)
    endpoint = group["ConfigurationEndpoint"]["Address"]
    launch = config(redis__mode="existing", redis__endpoint=endpoint)
    ctx, _ = _context(launch, _state(tmp_path, launch, network))
    (problem,) = STEP.plan(ctx).problems
    assert problem.startswith("redis.endpoint: replication group existing-cache runs in cluster")
    assert "only database 0" in problem
    ctx.aws.recorder.reset()
    with pytest.raises(WizardError, match="cluster mode"):
        STEP.apply(ctx)
    assert ctx.aws.recorder.mutating() == {}


def test_a_ping_out_of_reach_does_not_import_redis() -> None:
    """Outside the cache's VPC (the sandbox's case too) nothing is PINGed: redis-py would stay
    in the wizard's process, ~6 MiB, to the summary (issue 10 item 13)."""
    from tests.conftest import run_python

    printed = run_python(
        "import sys; from wizard.steps.broker import ping; "
        "far = ping('master.airflow.abc123.use1.cache.invalid:6379', tls=True); "
        "print(bool(far.unchecked), 'redis' in sys.modules)"
    )
    assert printed.split() == ["True", "False"]
