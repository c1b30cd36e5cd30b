"""A VPC seeded for the network step's tests, and a config that points at it: the fixtures
`seeded` and `config` (registered in conftest), shared by the network, flow and flow-rule tests.

Test modules that define their own `config` or `seeded` fixture keep theirs (pytest prefers the
nearer definition)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from wizard.config import LaunchConfig

REGION = "us-east-1"


@dataclass
class Seeded:
    """The account a test starts from: a VPC with two private subnets and a public one."""

    vpc: str
    private_a: str
    private_b: str
    public: str
    private_table: str
    main_table: str
    rds_group: str
    ec2: Any


def _seed(endpoint: str) -> Seeded:
    """Private subnet A has its own route table, B uses the VPC's main table (neither routes to
    the internet gateway); the public subnet routes 0.0.0.0/0 to it. An RDS instance with its
    own security group sits in the private subnets."""
    import boto3

    kw = {"endpoint_url": endpoint, "region_name": REGION}
    ec2 = boto3.client("ec2", **kw)
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]

    def subnet(cidr: str, az: str) -> str:
        return str(
            ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=az)["Subnet"]["SubnetId"]
        )

    private_a = subnet("10.20.1.0/24", "us-east-1a")
    private_b = subnet("10.20.2.0/24", "us-east-1b")
    public = subnet("10.20.100.0/24", "us-east-1a")
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    public_table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=public_table, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    ec2.associate_route_table(RouteTableId=public_table, SubnetId=public)
    private_table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.associate_route_table(RouteTableId=private_table, SubnetId=private_a)
    main_table = ec2.describe_route_tables(
        Filters=[
            {"Name": "vpc-id", "Values": [vpc]},
            {"Name": "association.main", "Values": ["true"]},
        ]
    )["RouteTables"][0]["RouteTableId"]
    rds_group = ec2.create_security_group(GroupName="rds", Description="db", VpcId=vpc)["GroupId"]
    rds = boto3.client("rds", **kw)
    rds.create_db_subnet_group(
        DBSubnetGroupName="airflow-db",
        DBSubnetGroupDescription="private",
        SubnetIds=[private_a, private_b],
    )
    rds.create_db_instance(
        DBInstanceIdentifier="staging-rds",
        Engine="postgres",
        EngineVersion="15.4",
        DBInstanceClass="db.t4g.medium",
        AllocatedStorage=20,
        MasterUsername="postgres",
        MasterUserPassword="not-a-secret-1",
        DBSubnetGroupName="airflow-db",
        VpcSecurityGroupIds=[rds_group],
    )
    return Seeded(vpc, private_a, private_b, public, private_table, main_table, rds_group, ec2)


@pytest.fixture
def seeded(aws_endpoint: str) -> Seeded:
    return _seed(aws_endpoint)


@pytest.fixture
def config(
    make_config: Callable[..., LaunchConfig], aws_endpoint: str, seeded: Seeded
) -> LaunchConfig:
    return make_config(
        aws__endpoint_url=aws_endpoint,
        network__vpc_id=seeded.vpc,
        network__subnet_ids=[seeded.private_a, seeded.private_b],
    )


def console_stack(seeded: Seeded) -> str:
    """The sandbox's console-made cluster stack (`wizard.sandbox.CONSOLE_STACK`) in the seeded
    VPC: its instances in the private subnets with the console's own group, and the console's
    instance role. Returns the group's id."""
    from wizard.aws import Aws, AwsSettings
    from wizard.sandbox import add_console_stack

    aws = Aws(AwsSettings(region=REGION, endpoint_url=seeded.ec2.meta.endpoint_url))
    return add_console_stack(aws, seeded.vpc, [seeded.private_a, seeded.private_b])
