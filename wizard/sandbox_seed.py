"""What the sandbox's account starts with: what the runbook's operator has before they start.

A VPC with private and public subnets (`seed_network`), the RDS PostgreSQL instance
`staging-rds` in its private subnets with a security group of its own (`seed_database`), the
ECR repository `zdp-airflow` with a few tags, the Google OAuth parameters and, on request, a
cluster stack as the ECS console makes it. The tests' network fixtures seed the same network.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources

from wizard.aws import Aws
from wizard.sandbox_console import console_role

IMAGE_TAGS = ("3.3.2", "3.3.1", "2.11.2")
RDS_INSTANCE = "staging-rds"
REPOSITORY = "zdp-airflow"
GOOGLE_PARAMETERS = (
    "dataplatform.production.airflow.google_client_id",
    "dataplatform.production.airflow.google_client_secret",
)
CONSOLE_STACK = "Infra-ECS-Cluster-airflow-console"
"""A cluster stack as the ECS console makes it (launch template, public IPs): the runbook patches
one like it by hand, the wizard's cluster step can patch it instead of creating a stack."""


@dataclass(frozen=True)
class SeededNetwork:
    """The ids of the seeded VPC, each list in Availability Zone order (a, b)."""

    vpc_id: str
    subnet_ids: list[str]
    """Private: on the VPC's main route table, which has no route out."""
    public_subnet_ids: list[str]
    """On a route table of their own that sends 0.0.0.0/0 to the internet gateway."""


@dataclass(frozen=True)
class SeededAccount:
    """The ids a config needs to point at the seeded account."""

    vpc_id: str
    subnet_ids: list[str]
    public_subnet_ids: list[str]
    security_group_id: str
    rds_instance_id: str
    repository: str


def seed_network(aws: Aws) -> SeededNetwork:
    """Create the VPC `dataplatform` (10.0.0.0/16) with an internet gateway and, in zones a and
    b of the region, a private subnet (10.0.1.0/24, 10.0.2.0/24: `private-a`, `private-b`) and
    a public one (10.0.101.0/24, 10.0.102.0/24: `public-a`, `public-b`)."""
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ec2.create_tags(Resources=[vpc], Tags=[{"Key": "Name", "Value": "dataplatform"}])
    gateway = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=gateway, VpcId=vpc)
    private, public = [], []
    for index, zone in enumerate("ab"):
        az = f"{aws.region}{zone}"
        private.append(_subnet(aws, vpc, f"10.0.{index + 1}.0/24", az, f"private-{zone}"))
        public.append(_subnet(aws, vpc, f"10.0.{index + 101}.0/24", az, f"public-{zone}"))
    public_routes = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(
        RouteTableId=public_routes, DestinationCidrBlock="0.0.0.0/0", GatewayId=gateway
    )
    for subnet in public:
        ec2.associate_route_table(RouteTableId=public_routes, SubnetId=subnet)
    return SeededNetwork(vpc_id=vpc, subnet_ids=private, public_subnet_ids=public)


def seed_database(aws: Aws, network: SeededNetwork) -> str:
    """Create the RDS instance `staging-rds` in the network's private subnets, with a security
    group of its own (`staging-rds`, no rules); returns the group's id."""
    group = aws.client("ec2").create_security_group(
        GroupName="staging-rds", Description="staging-rds", VpcId=network.vpc_id
    )["GroupId"]
    rds = aws.client("rds")
    rds.create_db_subnet_group(
        DBSubnetGroupName="staging-rds",
        DBSubnetGroupDescription="staging-rds",
        SubnetIds=network.subnet_ids,
    )
    rds.create_db_instance(
        DBInstanceIdentifier=RDS_INSTANCE,
        Engine="postgres",
        EngineVersion="16.4",
        DBInstanceClass="db.t4g.medium",
        AllocatedStorage=20,
        MasterUsername="postgres",
        MasterUserPassword="emulator-only-password",
        DBSubnetGroupName="staging-rds",
        VpcSecurityGroupIds=[group],
    )
    return str(group)


def seed_account(
    aws: Aws, *, google_parameters: tuple[str, ...] = (), console_stack: bool = False
) -> SeededAccount:
    """Create the account a new launch starts from (call once, on an empty emulator)."""
    network = seed_network(aws)
    database_group = seed_database(aws, network)
    _push_images(aws)
    if console_stack:
        add_console_stack(aws, network.vpc_id, network.subnet_ids)
    for name in google_parameters:
        aws.client("ssm").put_parameter(
            Name=name, Value=f"sandbox-{name.rsplit('.', 1)[-1]}", Type="SecureString"
        )
    return SeededAccount(
        vpc_id=network.vpc_id,
        subnet_ids=network.subnet_ids,
        public_subnet_ids=network.public_subnet_ids,
        security_group_id=database_group,
        rds_instance_id=RDS_INSTANCE,
        repository=REPOSITORY,
    )


def add_console_stack(aws: Aws, vpc: str, subnets: list[str]) -> str:
    """Create the console's instance group and role, and its stack (`CONSOLE_STACK`) with its
    instances in `subnets`; returns the group's id."""
    group = aws.client("ec2").create_security_group(
        GroupName="console-ecs-instances", Description="made by the ECS console", VpcId=vpc
    )["GroupId"]
    console_role(aws)
    template = resources.files("wizard") / "data" / "console-cluster-stack.json"
    aws.client("cloudformation").create_stack(
        StackName=CONSOLE_STACK,
        TemplateBody=template.read_text(encoding="utf-8"),
        Parameters=[
            {"ParameterKey": "ECSClusterName", "ParameterValue": "airflow-console"},
            {"ParameterKey": "VpcId", "ParameterValue": vpc},
            {"ParameterKey": "SubnetIds", "ParameterValue": ",".join(subnets)},
            {"ParameterKey": "SecurityGroupIds", "ParameterValue": group},
        ],
        Capabilities=["CAPABILITY_IAM"],
    )
    return str(group)


def _subnet(aws: Aws, vpc: str, cidr: str, zone: str, name: str) -> str:
    ec2 = aws.client("ec2")
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=zone)["Subnet"]
    ec2.create_tags(Resources=[subnet["SubnetId"]], Tags=[{"Key": "Name", "Value": name}])
    return str(subnet["SubnetId"])


def _push_images(aws: Aws) -> None:
    aws.client("ecr").create_repository(repositoryName=REPOSITORY)
    for index, tag in enumerate(IMAGE_TAGS):
        push_image(aws, REPOSITORY, tag, digest=f"sha256:{index:064x}")


def push_image(aws: Aws, repository: str, tag: str, *, digest: str) -> None:
    """Put an image manifest under `tag`, as `docker push` would (the emulator keeps only
    manifests; `digest` names the image's config blob and so tells images apart)."""
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": 7023,
            "digest": digest,
        },
        "layers": [],
    }
    aws.client("ecr").put_image(
        repositoryName=repository, imageTag=tag, imageManifest=json.dumps(manifest)
    )
