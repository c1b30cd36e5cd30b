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
    """The account a test starts from: the sandbox's VPC and database (`wizard.sandbox_seed`),
    with a route table of its own for private subnet A."""

    vpc: str
    private_a: str
    private_b: str
    public_subnet_ids: list[str]
    private_table: str
    main_table: str
    rds_group: str
    ec2: Any

    @property
    def public(self) -> str:
        """The public subnet of zone a."""
        return self.public_subnet_ids[0]


def _seed(endpoint: str) -> Seeded:
    """The sandbox's network and RDS instance; private subnet A gets a route table of its own,
    B keeps the VPC's main table (neither routes to the internet gateway; the public subnets'
    table sends 0.0.0.0/0 to it)."""
    import boto3

    from wizard.aws import Aws, AwsSettings
    from wizard.sandbox_seed import seed_database, seed_network

    aws = Aws(AwsSettings(region=REGION, endpoint_url=endpoint))
    network = seed_network(aws)
    rds_group = seed_database(aws, network)
    ec2 = boto3.client("ec2", endpoint_url=endpoint, region_name=REGION)  # the tests' own
    vpc, (private_a, private_b) = network.vpc_id, network.subnet_ids
    private_table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.associate_route_table(RouteTableId=private_table, SubnetId=private_a)
    main_table = ec2.describe_route_tables(
        Filters=[
            {"Name": "vpc-id", "Values": [vpc]},
            {"Name": "association.main", "Values": ["true"]},
        ]
    )["RouteTables"][0]["RouteTableId"]
    return Seeded(
        vpc,
        private_a,
        private_b,
        network.public_subnet_ids,
        private_table,
        main_table,
        rds_group,
        ec2,
    )


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
    from wizard.sandbox_seed import add_console_stack

    aws = Aws(AwsSettings(region=REGION, endpoint_url=seeded.ec2.meta.endpoint_url))
    return add_console_stack(aws, seeded.vpc, [seeded.private_a, seeded.private_b])
