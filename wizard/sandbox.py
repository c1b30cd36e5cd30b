"""A believable AWS account inside the emulator, for trying the wizard with no AWS account.

The emulator (moto, as a server on loopback) is seeded with what the runbook's operator has
before they start: a VPC with private and public subnets and a security group, the RDS
PostgreSQL instance `staging-rds`, the ECR repository `zdp-airflow` with a few tags, and the
Google OAuth parameters. Where the emulator does not behave like AWS by itself, this drives its
own API: it has no ECS agent, so `join_container_instances` registers the Auto Scaling group's
instances with the cluster, as the agent on each instance would.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from wizard.aws import Aws

IMAGE_TAGS = ("3.3.2", "3.3.1", "2.11.2")
RDS_INSTANCE = "staging-rds"
REPOSITORY = "zdp-airflow"


@dataclass(frozen=True)
class SeededAccount:
    """The ids a config needs to point at the seeded account."""

    vpc_id: str
    subnet_ids: list[str]
    public_subnet_ids: list[str]
    security_group_id: str
    rds_instance_id: str
    repository: str


def seed_account(aws: Aws, *, google_parameters: tuple[str, ...] = ()) -> SeededAccount:
    """Create the account a new launch starts from (call once, on an empty emulator)."""
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
    database_group = ec2.create_security_group(
        GroupName="staging-rds", Description="staging-rds", VpcId=vpc
    )["GroupId"]
    rds = aws.client("rds")
    rds.create_db_subnet_group(
        DBSubnetGroupName="staging-rds",
        DBSubnetGroupDescription="staging-rds",
        SubnetIds=private,
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
        VpcSecurityGroupIds=[database_group],
    )
    _push_images(aws)
    for name in google_parameters:
        aws.client("ssm").put_parameter(
            Name=name, Value=f"sandbox-{name.rsplit('.', 1)[-1]}", Type="SecureString"
        )
    return SeededAccount(
        vpc_id=vpc,
        subnet_ids=private,
        public_subnet_ids=public,
        security_group_id=database_group,
        rds_instance_id=RDS_INSTANCE,
        repository=REPOSITORY,
    )


def _subnet(aws: Aws, vpc: str, cidr: str, zone: str, name: str) -> str:
    ec2 = aws.client("ec2")
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=zone)["Subnet"]
    ec2.create_tags(Resources=[subnet["SubnetId"]], Tags=[{"Key": "Name", "Value": name}])
    return str(subnet["SubnetId"])


def _push_images(aws: Aws) -> None:
    ecr = aws.client("ecr")
    ecr.create_repository(repositoryName=REPOSITORY)
    for index, tag in enumerate(IMAGE_TAGS):
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": 7023,
                "digest": f"sha256:{index:064x}",
            },
            "layers": [],
        }
        ecr.put_image(repositoryName=REPOSITORY, imageTag=tag, imageManifest=json.dumps(manifest))


def join_container_instances(aws: Aws, cluster: str, *, minimum: int = 1) -> int:
    """Register the cluster's EC2 instances with ECS, as each instance's agent would.

    Instances are those of the cluster stack's Auto Scaling groups; when the emulator started
    none, `minimum` are started in the first private subnet the groups use.
    """
    ec2 = aws.client("ec2")
    ecs = aws.client("ecs")
    registered = {
        detail["ec2InstanceId"]
        for arns in [ecs.list_container_instances(cluster=cluster)["containerInstanceArns"]]
        if arns
        for detail in ecs.describe_container_instances(cluster=cluster, containerInstances=arns)[
            "containerInstances"
        ]
    }
    groups = aws.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
    instances = [i["InstanceId"] for g in groups for i in g.get("Instances", [])]
    if not instances:
        image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        subnet = groups[0]["VPCZoneIdentifier"].split(",")[0] if groups else None
        started = ec2.run_instances(
            ImageId=image,
            MinCount=minimum,
            MaxCount=minimum,
            **({"SubnetId": subnet} if subnet else {}),
        )
        instances = [i["InstanceId"] for i in started["Instances"]]
    for instance in instances:
        if instance not in registered:
            ecs.register_container_instance(
                cluster=cluster, instanceIdentityDocument=json.dumps({"instanceId": instance})
            )
    return len(instances)
