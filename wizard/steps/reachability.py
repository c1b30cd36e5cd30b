"""What the network step checks: routes out of the private subnets, and whether security groups
admit the cluster's instances.

Read-only: EC2, RDS and ElastiCache describes. `NetworkStep` turns the findings into actions,
warnings and problems. Most launches of Airflow on ECS that never start fail here: instances that
cannot reach the ECS endpoints never join the cluster, and tasks that cannot reach the database or
the broker restart forever.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from wizard.aws import error_code
from wizard.taskdefs import LAUNCH_TAG

AwsItem = dict[str, Any]

DYNAMIC_PORTS = (32768, 65535)
"""The host ports ECS maps `hostPort: 0` containers to (the Linux ephemeral range)."""

EGRESS_TARGETS = ("NatGatewayId", "InstanceId", "NetworkInterfaceId", "TransitGatewayId")
"""Route targets that carry a private subnet's traffic out without a public IP."""

ENDPOINT_REASONS = {
    "ecs": "instances cannot join the cluster",
    "ecs-agent": "instances cannot join the cluster",
    "ecs-telemetry": "instances cannot join the cluster",
    "ecr.api": "instances cannot pull the image",
    "ecr.dkr": "instances cannot pull the image",
    "s3": "instances cannot pull image layers nor fetch bootstrap.sh",
    "ssm": "tasks cannot read their secrets",
    "logs": "containers cannot send their logs (awslogs)",
}
"""The VPC endpoint services a private subnet needs without NAT, and what fails without each."""


def paginate(client: Any, operation: str, key: str, **arguments: Any) -> list[AwsItem]:
    """Every item of a paginated describe/list call."""
    items: list[AwsItem] = []
    for page in client.get_paginator(operation).paginate(**arguments):
        items += page.get(key, [])
    return items


def _vpc_filter(vpc_id: str) -> list[AwsItem]:
    return [{"Name": "vpc-id", "Values": [vpc_id]}]


def name_tag(item: AwsItem) -> str:
    """The `Name` tag of an EC2 resource ("" when it has none)."""
    return next((t["Value"] for t in item.get("Tags", []) if t["Key"] == "Name"), "")


def tagged_for(item: AwsItem, launch: str) -> bool:
    """Whether a resource carries the launch tag of `launch`."""
    return {"Key": LAUNCH_TAG, "Value": launch} in item.get("Tags", [])


@dataclass(frozen=True)
class Subnet:
    """A subnet of the VPC and where its route table sends traffic."""

    id: str
    cidr: str
    az: str
    name: str
    route_table_id: str
    internet_gateway: bool
    """A route to an internet gateway (`igw-`): public, for instances with a public IP."""
    nat: bool
    """A default route through a NAT gateway, an instance, an ENI or a transit gateway."""

    @property
    def label(self) -> str:
        """How a form lists it: CIDR, Availability Zone, Name tag."""
        return " ".join(part for part in (self.cidr, self.az, self.name) if part)


def vpc_subnets(ec2: Any, vpc_id: str) -> dict[str, Subnet]:
    """The subnets of a VPC by id, each with its route table (explicit, or the VPC's main)."""
    vpc = _vpc_filter(vpc_id)
    tables = paginate(ec2, "describe_route_tables", "RouteTables", Filters=vpc)
    explicit = {
        association["SubnetId"]: table
        for table in tables
        for association in table.get("Associations", [])
        if association.get("SubnetId")
    }
    main = next((t for t in tables if any(a.get("Main") for a in t.get("Associations", []))), None)
    subnets = {}
    for item in paginate(ec2, "describe_subnets", "Subnets", Filters=vpc):
        table = explicit.get(item["SubnetId"], main) or {}
        routes = table.get("Routes", [])
        subnets[item["SubnetId"]] = Subnet(
            id=item["SubnetId"],
            cidr=item.get("CidrBlock", ""),
            az=item.get("AvailabilityZone", ""),
            name=name_tag(item),
            route_table_id=table.get("RouteTableId", ""),
            internet_gateway=any(
                str(route.get("GatewayId", "")).startswith("igw-") for route in routes
            ),
            nat=any(
                route.get("DestinationCidrBlock") == "0.0.0.0/0"
                and any(route.get(target) for target in EGRESS_TARGETS)
                for route in routes
            ),
        )
    return subnets


def chosen_subnets(
    ec2: Any, subnets: dict[str, Subnet], ids: list[str], field: str, vpc_id: str
) -> tuple[list[Subnet], list[str]]:
    """The configured subnets of the VPC, and a problem naming each one that is not there."""
    missing = [subnet_id for subnet_id in ids if subnet_id not in subnets]
    problems = []
    if missing:
        found = ec2.describe_subnets(Filters=[{"Name": "subnet-id", "Values": missing}])
        elsewhere = {s["SubnetId"]: s["VpcId"] for s in found["Subnets"]}
        for subnet_id in missing:
            where = elsewhere.get(subnet_id)
            problems.append(
                f"subnet {subnet_id} ({field}) belongs to {where}, not {vpc_id}"
                if where
                else f"subnet {subnet_id} ({field}) does not exist in {ec2.meta.region_name}"
            )
    return [subnets[i] for i in ids if i in subnets], problems


def subnet_warnings(private: list[Subnet], public: list[Subnet], public_ip: bool) -> list[str]:
    """Private subnets that are public (instances without a public IP gain nothing from the
    internet gateway), and public ones that are not."""
    warnings = [
        f"subnet {s.id} ({s.label}) is in network.subnet_ids but routes to an internet gateway: "
        "the instances get no public IP, so they need a NAT gateway or VPC endpoints to reach "
        "AWS; prefer private subnets"
        for s in private
        if s.internet_gateway and not public_ip
    ]
    return warnings + [
        f"subnet {s.id} ({s.label}) is in network.public_subnet_ids but has no route to an "
        "internet gateway: an internet-facing load balancer there cannot be reached"
        for s in public
        if not s.internet_gateway
    ]


def endpoint_warnings(
    ec2: Any, vpc_id: str, subnets: Iterable[Subnet], services: Iterable[str]
) -> list[str]:
    """For each subnet without a NAT route, what it cannot reach, what fails, and the fixes.

    An interface endpoint serves every subnet of the VPC when its private DNS name is on (the
    SDKs and the ECS agent use the default names); a gateway endpoint (S3) serves the subnets
    whose route table it is associated with.
    """
    region = ec2.meta.region_name
    endpoints = [
        endpoint
        for endpoint in paginate(
            ec2, "describe_vpc_endpoints", "VpcEndpoints", Filters=_vpc_filter(vpc_id)
        )
        if str(endpoint.get("State", "")).lower() in {"available", "pending"}
    ]

    def reaches(subnet: Subnet, service: str) -> bool:
        return any(
            str(endpoint["ServiceName"]).endswith(f"amazonaws.{region}.{service}")
            and (
                subnet.route_table_id in endpoint.get("RouteTableIds", [])
                if endpoint.get("VpcEndpointType") == "Gateway"
                else bool(endpoint.get("PrivateDnsEnabled"))
            )
            for endpoint in endpoints
        )

    warnings = []
    for subnet in (s for s in subnets if not s.nat):
        reasons: dict[str, list[str]] = {}
        for service in services:
            if not reaches(subnet, service):
                reasons.setdefault(ENDPOINT_REASONS[service], []).append(service)
        if reasons:
            because = "; ".join(f"{', '.join(names)}: {why}" for why, names in reasons.items())
            warnings.append(
                f"private subnet {subnet.id} ({subnet.label}) has no NAT route (0.0.0.0/0 to a "
                f"NAT gateway) and no VPC endpoint for {because}. Add a NAT gateway route to "
                f"route table {subnet.route_table_id or '(none)'}, or VPC endpoints for these "
                "services"
            )
    return warnings


@dataclass(frozen=True)
class Ingress:
    """One inbound TCP rule: a port range on a group, from a security group or a CIDR.

    `group_id` and `source` may name a group this launch has not created yet (not an `sg-` id);
    such a rule exists nowhere yet.
    """

    group_id: str
    from_port: int
    to_port: int
    source: str
    description: str

    @property
    def ports(self) -> str:
        """The port or port range, as a reader writes it."""
        if self.from_port == self.to_port:
            return str(self.from_port)
        return f"{self.from_port}-{self.to_port}"

    def __str__(self) -> str:
        return f"{self.group_id}: tcp {self.ports} from {self.source}"

    def permission(self) -> AwsItem:
        """The `IpPermissions` entry that authorizes it."""
        key, field = ("Ipv6Ranges", "CidrIpv6") if ":" in self.source else ("IpRanges", "CidrIp")
        if "/" not in self.source:
            key, field = "UserIdGroupPairs", "GroupId"
        return {
            "IpProtocol": "tcp",
            "FromPort": self.from_port,
            "ToPort": self.to_port,
            key: [{field: self.source, "Description": self.description}],
        }


def covers(rule: AwsItem, from_port: int, to_port: int, source: str) -> bool:
    """Whether an existing rule (`DescribeSecurityGroupRules` form) admits TCP on the ports
    from the source (a group id, or a CIDR inside the rule's)."""
    if rule.get("IsEgress") or str(rule.get("IpProtocol")) not in {"tcp", "6", "-1"}:
        return False
    if str(rule.get("IpProtocol")) != "-1" and not (
        rule.get("FromPort", -1) <= from_port and to_port <= rule.get("ToPort", -1)
    ):
        return False
    if "/" not in source:
        return bool(rule.get("ReferencedGroupInfo", {}).get("GroupId") == source)
    cidr = rule.get("CidrIpv4") or rule.get("CidrIpv6")
    if not cidr:
        return False
    have, wanted = ipaddress.ip_network(cidr), ipaddress.ip_network(source, strict=False)
    return have.version == wanted.version and have.supernet_of(wanted)  # type: ignore[arg-type]


def covering_rule(rules: Iterable[AwsItem], wanted: Ingress) -> AwsItem | None:
    """The existing rule of `wanted.group_id` that already admits what `wanted` would."""
    return next(
        (
            rule
            for rule in rules
            if rule.get("GroupId") == wanted.group_id
            and covers(rule, wanted.from_port, wanted.to_port, wanted.source)
        ),
        None,
    )


def group_rules(ec2: Any, group_ids: Iterable[str]) -> list[AwsItem]:
    """The rules of existing groups (ids that are not `sg-` are skipped)."""
    ids = sorted({g for g in group_ids if g.startswith("sg-")})
    rules = "describe_security_group_rules", "SecurityGroupRules"
    return paginate(ec2, *rules, Filters=[{"Name": "group-id", "Values": ids}]) if ids else []


@dataclass(frozen=True)
class Target:
    """A service the instances must reach: who it is, its port, VPC and security groups.

    `unchecked` says why it could not be checked (then the groups are unknown).
    """

    what: str
    port: int
    vpc_id: str = ""
    group_ids: tuple[str, ...] = ()
    unchecked: str = ""


def rds_target(rds: Any, instance_id: str, default_port: int) -> Target:
    """The existing RDS instance that holds the Airflow database."""
    what = f"RDS instance {instance_id}"
    try:
        (instance,) = rds.describe_db_instances(DBInstanceIdentifier=instance_id)["DBInstances"]
    except ClientError as error:
        if error_code(error) != "DBInstanceNotFound":
            raise
        return Target(what, default_port, unchecked=f"{what} does not exist in this region")
    groups = tuple(
        group["VpcSecurityGroupId"]
        for group in instance.get("VpcSecurityGroups", [])
        if group.get("Status", "active") in {"active", "adding"}
    )
    port = int(instance.get("Endpoint", {}).get("Port") or default_port)
    vpc_id = str(instance.get("DBSubnetGroup", {}).get("VpcId", ""))
    if not groups:
        return Target(what, port, vpc_id, unchecked=f"{what} has no VPC security group")
    return Target(what, port, vpc_id, groups)


def cache_target(elasticache: Any, endpoint: str) -> Target:
    """The replication group whose primary (or configuration) endpoint is `endpoint`."""
    host, _, port_text = endpoint.partition(":")
    port = int(port_text or 6379)
    what = f"cache {host}"
    groups = paginate(elasticache, "describe_replication_groups", "ReplicationGroups")
    for group in groups:
        addresses = {group.get("ConfigurationEndpoint", {}).get("Address")} | {
            node.get("PrimaryEndpoint", {}).get("Address") for node in group.get("NodeGroups", [])
        }
        if host in addresses:
            return _cache_groups(elasticache, group, port)
    return Target(
        what,
        port,
        unchecked=f"no ElastiCache replication group here has the endpoint {host} (a cache "
        "outside ElastiCache, or in another account or region)",
    )


def _cache_groups(elasticache: Any, group: AwsItem, port: int) -> Target:
    what = f"replication group {group['ReplicationGroupId']}"
    clusters = []
    for member in group.get("MemberClusters", [])[:1]:  # members share the group's groups
        try:
            clusters = elasticache.describe_cache_clusters(CacheClusterId=member)["CacheClusters"]
        except ClientError as error:
            if error_code(error) != "CacheClusterNotFound":  # moto: members are not clusters
                raise
    ids = tuple(
        g["SecurityGroupId"] for cluster in clusters for g in cluster.get("SecurityGroups", [])
    )
    if not ids:
        return Target(
            what, port, unchecked=f"the security groups of {what}'s nodes could not be read"
        )
    return Target(what, port, group_ids=ids)
