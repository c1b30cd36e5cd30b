"""The network step against the emulator server: the security groups and rules AWS holds after
apply, consent before opening someone else's group, endpoint warnings, idempotence by the call
recorder, read-only plans, adoption of what an interrupted run created."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import launch_state
from tests.network_fixtures import Seeded
from wizard.aws import Aws, AwsSettings
from wizard.config import LaunchConfig
from wizard.errors import WizardError
from wizard.state import StateFile
from wizard.steps.base import StepContext
from wizard.steps.network import NetworkStep
from wizard.taskdefs import LAUNCH_TAG

ACCOUNT = "123456789012"
REGION = "us-east-1"
STEP = NetworkStep()
INTERFACE_SERVICES = ("ecs", "ecs-agent", "ecs-telemetry", "ecr.api", "ecr.dkr", "ssm")


_SESSIONS: dict[tuple[str, bool], Aws] = {}


def _aws(config: LaunchConfig, *, read_only: bool = False) -> Aws:
    """An `Aws` with a fresh call count; sessions are shared between tests, since making
    clients costs more than most calls to the emulator."""
    key = (config.aws.endpoint_url, read_only)
    if key not in _SESSIONS:
        settings = AwsSettings(region=config.aws.region, endpoint_url=config.aws.endpoint_url)
        _SESSIONS[key] = Aws(settings, read_only=read_only)
    aws = _SESSIONS[key]
    aws.recorder.reset()
    return aws


def _context(
    config: LaunchConfig,
    state: StateFile | None = None,
    *,
    yes: bool = True,
    read_only: bool = False,
) -> StepContext:
    aws = _aws(config, read_only=read_only)
    return StepContext(config=config, aws=aws, account_id=ACCOUNT, state=state, yes=yes)


def _state(tmp_path: Path, config: LaunchConfig) -> StateFile:
    state: StateFile = launch_state(tmp_path, config)
    return state


def _group(ec2: Any, vpc: str, name: str) -> list[dict[str, Any]]:
    return list(
        ec2.describe_security_groups(
            Filters=[
                {"Name": "vpc-id", "Values": [vpc]},
                {"Name": "group-name", "Values": [name]},
            ]
        )["SecurityGroups"]
    )


def _ingress(ec2: Any, group_id: str) -> set[tuple[int, int, str]]:
    """The inbound TCP rules of a group as (from, to, source group or CIDR)."""
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group_id]}])[
        "SecurityGroupRules"
    ]
    return {
        (
            r["FromPort"],
            r["ToPort"],
            r.get("ReferencedGroupInfo", {}).get("GroupId") or r["CidrIpv4"],
        )
        for r in rules
        if not r["IsEgress"]
    }


def _add_nat_route(seeded: Seeded, table: str) -> None:
    ec2 = seeded.ec2
    allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = ec2.create_nat_gateway(SubnetId=seeded.public, AllocationId=allocation)
    nat_id = nat["NatGateway"]["NatGatewayId"]
    ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat_id)


def test_apply_creates_the_groups_and_rules_and_a_second_apply_changes_nothing(
    config: LaunchConfig, seeded: Seeded, tmp_path: Path
) -> None:
    state = _state(tmp_path, config)
    STEP.apply(_context(config, state))

    ec2 = seeded.ec2
    (instances,) = _group(ec2, seeded.vpc, "airflow-staging-instances")
    (balancer,) = _group(ec2, seeded.vpc, "airflow-staging-load-balancer")
    for group in (instances, balancer):
        assert {"Key": LAUNCH_TAG, "Value": "airflow-staging"} in group["Tags"]
    assert _ingress(ec2, balancer["GroupId"]) == {(80, 80, "10.0.0.0/8")}
    assert _ingress(ec2, instances["GroupId"]) == {
        (32768, 65535, balancer["GroupId"]),
        (8080, 8080, balancer["GroupId"]),
        # Airflow 3: other instances reach the API server's Service Connect proxy
        (32768, 65535, instances["GroupId"]),
        (8793, 8793, instances["GroupId"]),  # the web server fetches the worker's live logs
    }
    assert _ingress(ec2, seeded.rds_group) == {(5432, 5432, instances["GroupId"])}

    outputs = state.step("network").outputs
    assert outputs["instance_security_group_id"] == instances["GroupId"]
    assert outputs["instance_security_group_ids"] == [instances["GroupId"]]
    assert outputs["load_balancer_security_group_id"] == balancer["GroupId"]
    created = {(r.kind, r.id) for r in state.created_resources()}
    assert ("ec2:security-group", instances["GroupId"]) in created
    # 80, 2 web, 2 between instances, 5432
    assert sum(kind == "ec2:security-group-rule" for kind, _ in created) == 6

    again = _context(config, StateFile.open(state.path))
    plan = STEP.plan(again)
    assert plan.changes == [] and plan.problems == []
    STEP.apply(again)
    assert again.aws.recorder.mutating() == {}
    assert len(_group(ec2, seeded.vpc, "airflow-staging-instances")) == 1


def test_opening_the_databases_group_needs_consent(config: LaunchConfig, seeded: Seeded) -> None:
    ctx = _context(config, yes=False)
    plan = STEP.plan(ctx)
    assert plan.problems == []  # apply adds the rule itself: nothing only the user can do
    (consent,) = plan.consents
    assert "RDS instance staging-rds does not admit the cluster's instances on port 5432" in consent
    assert f"the wizard adds an inbound rule to {seeded.rds_group}" in consent
    assert "a group this launch does not own; or add it yourself" in consent
    (update,) = [a for a in plan.changes if a.verb == "update"]
    assert update.name.startswith(f"{seeded.rds_group}: tcp 5432 from airflow-staging-instances")
    assert STEP.plan(_context(config, yes=True)).consents == plan.consents  # plan is the same
    with pytest.raises(WizardError, match="does not admit") as refused:
        STEP.apply(ctx)
    assert refused.value.title.endswith("needs your consent")
    assert "--yes" in refused.value.hint and "Nothing was changed" in refused.value.hint
    assert ctx.aws.recorder.mutating() == {}  # refused before anything was created
    assert _group(seeded.ec2, seeded.vpc, "airflow-staging-instances") == []


def test_a_rule_that_already_admits_the_subnets_is_enough(
    config: LaunchConfig, seeded: Seeded
) -> None:
    seeded.ec2.authorize_security_group_ingress(
        GroupId=seeded.rds_group,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 5432,
                "ToPort": 5432,
                "IpRanges": [{"CidrIp": "10.0.0.0/16"}],
            }
        ],
    )
    plan = STEP.plan(_context(config, yes=False))
    assert plan.problems == []
    assert any(a.verb == "check" and "staging-rds" in a.name for a in plan.actions)


def test_plan_is_read_only(config: LaunchConfig, seeded: Seeded) -> None:
    ctx = _context(config, read_only=True)
    plan = STEP.plan(ctx)
    assert ctx.aws.recorder.mutating() == {}
    created = [a.name for a in plan.changes if a.kind == "ec2:security-group"]
    assert created == ["airflow-staging-instances", "airflow-staging-load-balancer"]
    rules = [a.name for a in plan.changes if a.kind == "ec2:security-group-rule"]
    assert "airflow-staging-load-balancer (new): tcp 80 from 10.0.0.0/8" in rules
    assert (
        "airflow-staging-instances (new): tcp 32768-65535 from airflow-staging-load-balancer (new)"
        in rules
    )
    assert _group(seeded.ec2, seeded.vpc, "airflow-staging-instances") == []

    certificate = (
        "arn:aws:acm:us-east-1:123456789012:certificate/" + "0" * 8 + "-0000" * 3 + "-" + "0" * 12
    )
    https = config.model_copy(
        update={"web": config.web.model_copy(update={"certificate_arn": certificate})}
    )
    rules = [a.name for a in STEP.plan(_context(https, read_only=True)).changes]
    assert "airflow-staging-load-balancer (new): tcp 443 from 10.0.0.0/8" in rules
    assert not any(" tcp 80 " in rule for rule in rules)  # the listener is HTTPS only


def test_missing_nat_and_endpoints_are_warned_about_until_there_is_a_way_out(
    config: LaunchConfig, seeded: Seeded
) -> None:
    warnings = STEP.plan(_context(config)).warnings
    assert len(warnings) == 2
    first = next(w for w in warnings if seeded.private_a in w)
    assert "no NAT route" in first
    assert "ecs, ecs-agent, ecs-telemetry: instances cannot join the cluster" in first
    assert "ecr.api, ecr.dkr: instances cannot pull the image" in first
    assert "ssm: tasks cannot read their secrets" in first
    assert "logs" not in first  # json-file logging needs no CloudWatch Logs endpoint

    _add_nat_route(seeded, seeded.private_table)
    (warning,) = STEP.plan(_context(config)).warnings
    assert seeded.private_b in warning  # B uses the main table, which has no NAT route

    ec2 = seeded.ec2
    https = ec2.create_security_group(GroupName="endpoints", Description="443", VpcId=seeded.vpc)
    ec2.authorize_security_group_ingress(
        GroupId=https["GroupId"],
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "IpRanges": [{"CidrIp": "10.0.0.0/16"}],
            }
        ],
    )
    endpoints = {
        service: ec2.create_vpc_endpoint(
            VpcId=seeded.vpc,
            ServiceName=f"com.amazonaws.{REGION}.{service}",
            VpcEndpointType="Interface",
            SubnetIds=[seeded.private_b],
            SecurityGroupIds=[https["GroupId"]],
            PrivateDnsEnabled=service != "ssm",
        )["VpcEndpoint"]["VpcEndpointId"]
        for service in INTERFACE_SERVICES
    }
    (warning,) = STEP.plan(_context(config)).warnings
    # S3's gateway endpoint must be on B's route table; SSM's is of no use without private DNS
    assert "no VPC endpoint for s3: instances cannot pull image layers" in warning
    assert "ssm: tasks cannot read their secrets" in warning
    assert "ecr.api" not in warning
    ec2.create_vpc_endpoint(
        VpcId=seeded.vpc,
        ServiceName=f"com.amazonaws.{REGION}.s3",
        VpcEndpointType="Gateway",
        RouteTableIds=[seeded.main_table],
    )
    ec2.delete_vpc_endpoints(VpcEndpointIds=[endpoints["ssm"]])
    ec2.create_vpc_endpoint(
        VpcId=seeded.vpc,
        ServiceName=f"com.amazonaws.{REGION}.ssm",
        VpcEndpointType="Interface",
        SubnetIds=[seeded.private_b],
        SecurityGroupIds=[https["GroupId"]],
        PrivateDnsEnabled=True,
    )
    assert STEP.plan(_context(config)).warnings == []

    awslogs = config.model_copy(
        update={"airflow": config.airflow.model_copy(update={"log_driver": "awslogs"})}
    )
    (warning,) = STEP.plan(_context(awslogs)).warnings
    assert "logs: containers cannot send their logs" in warning


def test_a_group_made_by_an_interrupted_run_is_adopted_not_duplicated(
    config: LaunchConfig, seeded: Seeded, tmp_path: Path
) -> None:
    # an earlier run created the group, then died before writing the state
    made = seeded.ec2.create_security_group(
        GroupName="airflow-staging-instances",
        Description="earlier run",
        VpcId=seeded.vpc,
        TagSpecifications=[
            {
                "ResourceType": "security-group",
                "Tags": [{"Key": LAUNCH_TAG, "Value": "airflow-staging"}],
            }
        ],
    )["GroupId"]
    state = _state(tmp_path, config)
    STEP.apply(_context(config, state))
    assert [g["GroupId"] for g in _group(seeded.ec2, seeded.vpc, "airflow-staging-instances")] == [
        made
    ]
    recorded = {(r.id, r.created) for r in state.created_resources(created_only=False)}
    assert (made, True) in recorded
    assert state.step("network").outputs["instance_security_group_id"] == made


def test_given_groups_are_used_as_they_are(
    make_config: Callable[..., LaunchConfig], aws_endpoint: str, seeded: Seeded, tmp_path: Path
) -> None:
    given = seeded.ec2.create_security_group(
        GroupName="ecs-hosts", Description="operator's", VpcId=seeded.vpc
    )["GroupId"]
    config = make_config(
        aws__endpoint_url=aws_endpoint,
        network__vpc_id=seeded.vpc,
        network__subnet_ids=[seeded.private_a],
        network__security_group_ids=[given],
        web__load_balancer="none",
        web__target_group_arn=(
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef"
        ),
    )
    state = _state(tmp_path, config)
    STEP.apply(_context(config, state))
    assert _group(seeded.ec2, seeded.vpc, "airflow-staging-instances") == []
    assert _ingress(seeded.ec2, seeded.rds_group) == {(5432, 5432, given)}
    recorded = {(r.kind, r.id, r.created) for r in state.created_resources(created_only=False)}
    assert ("ec2:security-group", given, False) in recorded
    assert "load_balancer_security_group_id" not in state.step("network").outputs

    missing = config.model_copy(
        update={
            "network": config.network.model_copy(
                update={
                    "security_group_ids": ["sg-0123456789abcdef0"],
                    "subnet_ids": ["subnet-0123456789abcdef0"],
                }
            )
        }
    )
    problems = STEP.plan(_context(missing)).problems
    assert (
        "security group sg-0123456789abcdef0 (network.security_group_ids) does not exist"
        in problems
    )
    assert any(
        "subnet subnet-0123456789abcdef0 (network.subnet_ids) does not exist" in p for p in problems
    )


def test_subnets_of_another_vpc_and_a_missing_vpc_are_problems(
    config: LaunchConfig, seeded: Seeded
) -> None:
    other = seeded.ec2.create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]
    stray = seeded.ec2.create_subnet(VpcId=other, CidrBlock="10.30.1.0/24")["Subnet"]["SubnetId"]
    moved = config.model_copy(
        update={"network": config.network.model_copy(update={"subnet_ids": [stray]})}
    )
    problems = STEP.plan(_context(moved)).problems
    assert f"subnet {stray} (network.subnet_ids) belongs to {other}, not {seeded.vpc}" in problems
    gone = config.model_copy(
        update={"network": config.network.model_copy(update={"vpc_id": "vpc-0123456789abcdef0"})}
    )
    assert STEP.plan(_context(gone)).problems == [
        "VPC vpc-0123456789abcdef0 (network.vpc_id) does not exist in us-east-1"
    ]


def test_a_public_subnet_among_the_private_ones_is_warned_about(
    config: LaunchConfig, seeded: Seeded
) -> None:
    mixed = config.model_copy(
        update={
            "network": config.network.model_copy(
                update={"subnet_ids": [seeded.private_a, seeded.public]}
            )
        }
    )
    warnings = STEP.plan(_context(mixed)).warnings
    public = f"subnet {seeded.public} (10.0.101.0/24 us-east-1a public-a)"
    assert any(public in w and "internet gateway" in w for w in warnings)


def test_an_existing_cache_whose_groups_cannot_be_read_is_a_warning(
    make_config: Callable[..., LaunchConfig], aws_endpoint: str, seeded: Seeded
) -> None:
    import boto3

    cache = boto3.client("elasticache", endpoint_url=aws_endpoint, region_name=REGION)
    cache.create_cache_subnet_group(
        CacheSubnetGroupName="airflow",
        CacheSubnetGroupDescription="d",
        SubnetIds=[seeded.private_a],
    )
    cache.create_replication_group(
        ReplicationGroupId="broker",
        ReplicationGroupDescription="celery",
        Engine="valkey",
        CacheNodeType="cache.t4g.small",
        CacheSubnetGroupName="airflow",
        SecurityGroupIds=[seeded.rds_group],
        NumCacheClusters=1,
    )
    (group,) = cache.describe_replication_groups()["ReplicationGroups"]
    endpoint = group["NodeGroups"][0]["PrimaryEndpoint"]["Address"]
    config = make_config(
        aws__endpoint_url=aws_endpoint,
        network__vpc_id=seeded.vpc,
        network__subnet_ids=[seeded.private_a],
        redis__mode="existing",
        redis__endpoint=endpoint,
    )
    warnings = STEP.plan(_context(config)).warnings
    # moto: describe_cache_clusters does not know the replication group's member clusters
    assert any(
        "could not check that the instances reach replication group broker on port 6379" in w
        for w in warnings
    )
    unknown = make_config(
        aws__endpoint_url=aws_endpoint,
        network__vpc_id=seeded.vpc,
        network__subnet_ids=[seeded.private_a],
        redis__mode="existing",
        redis__endpoint="redis.example.internal:6380",
    )
    warnings = STEP.plan(_context(unknown)).warnings
    assert any("no ElastiCache replication group here has the endpoint" in w for w in warnings)


def test_discover_tells_private_from_public_subnets(config: LaunchConfig, seeded: Seeded) -> None:
    ctx = _context(config, read_only=True)
    choices = STEP.discover(ctx)
    assert seeded.vpc in [c.value for c in choices["network.vpc_id"]]
    private = {c.value: c.label for c in choices["network.subnet_ids"]}
    assert private == {
        seeded.private_a: "10.0.1.0/24 us-east-1a private-a",
        seeded.private_b: "10.0.2.0/24 us-east-1b private-b",
    }
    assert [c.value for c in choices["network.public_subnet_ids"]] == seeded.public_subnet_ids
    assert seeded.rds_group in [c.value for c in choices["network.security_group_ids"]]
    assert ctx.aws.recorder.mutating() == {}
