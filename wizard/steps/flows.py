"""The reachability model: every network flow a launch needs, and whether the security groups
admit it.

A launch works only when each of these connections gets through:

- the load balancer to the web server, on the host port ECS maps it to;
- on Airflow 3, every component to the API server's execution API through Service Connect: the
  client's proxy connects to the API server's proxy, which in bridge mode listens on an
  ephemeral host port of the API server's instance;
- the web server to the log server of the worker that runs a task, for the task's live log;
- every task to the database and to the Redis broker;
- every instance to the AWS endpoints (ECS, ECR, S3, SSM, CloudWatch Logs) through a NAT route
  or VPC endpoints: routes decide those (`reachability.endpoint_warnings`), and an interface
  endpoint's own groups must admit the instances on 443 (`endpoint_group_warnings`).

Tasks land on any instance, so a flow between two components crosses the instances' groups
unless both run on the same instance: the model judges flows between *nodes* (an instance, the
load balancer, the database, the cache), each with its security groups and address. Traffic that
stays on one instance never meets a security group.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from wizard.airflow_containers import WORKER_LOG_SERVER_PORT
from wizard.config import LaunchConfig
from wizard.steps.reachability import (
    DYNAMIC_PORTS,
    ENDPOINT_REASONS,
    AwsItem,
    Subnet,
    covers,
    group_rules,
    paginate,
)

Role = Literal["load-balancer", "instances", "database", "cache", "endpoint"]

SERVICE_CONNECT_PROXY_PORTS = DYNAMIC_PORTS
"""Where the API server's Service Connect proxy listens in bridge mode: "In bridge mode, the
default value [of ingressPortOverride] is the ephemeral port of the Service Connect proxy"
(ECS API reference, ServiceConnectService)."""


@dataclass(frozen=True)
class Flow:
    """One TCP connection a launch needs: from a role's nodes to another's, on a port range."""

    name: str
    source: Role
    target: Role
    from_port: int
    to_port: int
    broken: str
    """What fails without it, as a user sees it."""

    @property
    def ports(self) -> str:
        """The port or port range, as a reader writes it."""
        if self.from_port == self.to_port:
            return str(self.from_port)
        return f"{self.from_port}-{self.to_port}"

    def __str__(self) -> str:
        return f"{self.name} (tcp {self.ports})"

    @property
    def description(self) -> str:
        """The flow's name in the characters a security group rule's description allows."""
        return self.name.replace(" → ", " to ")


def launch_flows(
    config: LaunchConfig, *, database_port: int | None = None, cache_port: int | None = None
) -> list[Flow]:
    """Every flow between nodes of the VPC that a launch of `config` needs.

    Args:
        config: The launch.
        database_port: The database's port when known (an existing instance's endpoint).
        cache_port: The broker's port when known.
    """
    version = config.airflow.parsed_version
    components = set(config.components)
    flows = []
    if config.web.load_balancer != "none":
        flows.append(
            Flow(
                "load balancer → web server",
                "load-balancer",
                "instances",
                *DYNAMIC_PORTS,
                "the UI answers 502/504: the targets never turn healthy",
            )
        )
    if version.major >= 3 and service_connect(config):
        flows.append(
            Flow(
                "components → API server (Service Connect proxy)",
                "instances",
                "instances",
                *SERVICE_CONNECT_PROXY_PORTS,
                "workers, the scheduler, the triggerer and the DAG processor time out on the "
                "execution API when the API server runs on another instance",
            )
        )
    if {"webserver", "worker"} <= components:
        flows.append(
            Flow(
                "web server → worker log server",
                "instances",
                "instances",
                WORKER_LOG_SERVER_PORT,
                WORKER_LOG_SERVER_PORT,
                "the UI shows no log of a running task",
            )
        )
    flows.append(
        Flow(
            "tasks → database",
            "instances",
            "database",
            database_port or config.database.default_port,
            database_port or config.database.default_port,
            "every component restarts: it cannot reach the metadata database",
        )
    )
    cache = cache_port or _broker_port(config)
    flows.append(
        Flow(
            "tasks → Redis broker",
            "instances",
            "cache",
            cache,
            cache,
            "no task runs: the scheduler and the workers cannot reach the broker",
        )
    )
    return flows


def endpoint_services(config: LaunchConfig) -> list[str]:
    """The AWS endpoints every instance must reach (HTTPS, through NAT or VPC endpoints)."""
    services = [s for s in ENDPOINT_REASONS if s != "logs"]
    if config.airflow.log_driver == "awslogs":
        services.append("logs")
    return services


def placement_warnings(config: LaunchConfig) -> list[str]:
    """The worker's log server takes a fixed host port, so one instance runs one worker: more
    workers than instances stay pending."""
    worker = config.components.get("worker")
    if worker is None or worker.desired_count <= config.cluster.max_size:
        return []
    return [
        f"components.worker.desired_count is {worker.desired_count} but cluster.max_size is "
        f"{config.cluster.max_size}: each worker takes host port {WORKER_LOG_SERVER_PORT} (its "
        "log server), so an instance runs one worker and the others would stay pending; raise "
        "cluster.max_size or lower the count"
    ]


def service_connect(config: LaunchConfig) -> bool:
    """Whether the components reach the API server through Service Connect (Airflow 3 without
    a given execution API URL)."""
    return config.airflow.parsed_version.major >= 3 and not config.airflow.execution_api_url


def _broker_port(config: LaunchConfig) -> int:
    if config.redis.mode == "existing":
        _, _, port = config.redis.endpoint.partition(":")
        return int(port or 6379)
    return 6379


@dataclass(frozen=True)
class Node:
    """Something that sends or receives a flow: an instance, the load balancer, the database.

    `groups` are its security groups; `address` its private IPv4 address, or the CIDR of the
    subnet it is somewhere in ("" when unknown), for rules by CIDR.
    """

    name: str
    groups: tuple[str, ...]
    address: str = ""


def _egress_covers(rule: AwsItem, flow: Flow, target: Node) -> bool:
    if not rule.get("IsEgress") or str(rule.get("IpProtocol")) not in {"tcp", "6", "-1"}:
        return False
    if str(rule.get("IpProtocol")) != "-1" and not (
        rule.get("FromPort", -1) <= flow.from_port and flow.to_port <= rule.get("ToPort", -1)
    ):
        return False
    referenced = rule.get("ReferencedGroupInfo", {}).get("GroupId")
    if referenced:
        return referenced in target.groups
    cidr = rule.get("CidrIpv4")
    if cidr == "0.0.0.0/0":
        return True
    return bool(cidr and target.address) and _inside(target.address, str(cidr))


def _inside(address: str, cidr: str) -> bool:
    inner = ipaddress.ip_network(address if "/" in address else f"{address}/32", strict=False)
    outer = ipaddress.ip_network(cidr, strict=False)
    return inner.version == outer.version and inner.subnet_of(outer)  # type: ignore[arg-type]


def admitted(flow: Flow, source: Node, target: Node, rules: Iterable[AwsItem]) -> bool:
    """Whether the groups let `flow` from `source` to `target`: an outbound rule of one of the
    source's groups and an inbound rule of one of the target's. Security groups are stateful,
    so the replies need nothing. A flow within one node never leaves it."""
    if source.name == target.name:
        return True
    rules = list(rules)
    # a group still to be created (no `sg-` id yet) will have the allow-all outbound rule AWS
    # gives every new group
    outbound = not any(group.startswith("sg-") for group in source.groups) or any(
        rule.get("GroupId") in source.groups and _egress_covers(rule, flow, target)
        for rule in rules
    )
    address = source.address
    sources = [
        *source.groups,
        *([address if "/" in address else f"{address}/32"] if address else []),
    ]
    inbound = any(
        rule.get("GroupId") in target.groups
        and any(covers(rule, flow.from_port, flow.to_port, s) for s in sources)
        for rule in rules
    )
    return outbound and inbound


@dataclass(frozen=True)
class Blocked:
    """A flow the groups drop between two nodes."""

    flow: Flow
    source: Node
    target: Node

    def __str__(self) -> str:
        return (
            f"{self.flow} from {self.source.name} ({', '.join(self.source.groups) or 'no group'})"
            f" to {self.target.name} ({', '.join(self.target.groups) or 'no group'}) is not "
            f"admitted: {self.flow.broken}"
        )


def blocked(
    flows: Iterable[Flow], nodes: Mapping[Role, list[Node]], rules: Iterable[AwsItem]
) -> list[Blocked]:
    """Every flow that some pair of its nodes cannot make. A role without nodes (no database
    known, say) is not judged."""
    rules = list(rules)
    found = []
    for flow in flows:
        for source in nodes.get(flow.source, []):
            for target in nodes.get(flow.target, []):
                if not admitted(flow, source, target, rules):
                    found.append(Blocked(flow, source, target))
    return found


def two_instances(groups: Iterable[str]) -> list[Node]:
    """Two instances that carry `groups`: tasks land on any instance, so a flow between two
    components must be admitted from one instance to another."""
    ids = tuple(groups)
    return [Node("instance A", ids), Node("instance B", ids)]


ENDPOINT_FLOW = Flow(
    "instances → AWS endpoints",
    "instances",
    "endpoint",
    443,
    443,
    "the instances reach the service only through the endpoint (private DNS), so its group decides",
)
"""An interface VPC endpoint answers HTTPS on its own network interfaces, behind its groups
(the VPC's default group when it was given none, which admits only its own members)."""


def endpoint_group_warnings(
    ec2: Any, vpc_id: str, instance_groups: list[str], subnets: list[Subnet], services: list[str]
) -> list[str]:
    """The interface endpoints of the services the instances need whose security groups do not
    admit the instances on 443, from any of their groups or from every instance subnet."""
    region = ec2.meta.region_name
    vpc = [{"Name": "vpc-id", "Values": [vpc_id]}]
    wanted = {f"com.amazonaws.{region}.{service}": service for service in services}
    endpoints = [
        endpoint
        for endpoint in paginate(ec2, "describe_vpc_endpoints", "VpcEndpoints", Filters=vpc)
        if endpoint.get("VpcEndpointType") == "Interface"
        and endpoint.get("PrivateDnsEnabled")
        and str(endpoint.get("State", "")).lower() in {"available", "pending"}
        and endpoint.get("ServiceName") in wanted
    ]
    if not endpoints or not subnets:
        return []
    default = [
        g["GroupId"]
        for g in paginate(
            ec2,
            "describe_security_groups",
            "SecurityGroups",
            Filters=[*vpc, {"Name": "group-name", "Values": ["default"]}],
        )
    ]
    groups = {
        endpoint["VpcEndpointId"]: tuple(g["GroupId"] for g in endpoint.get("Groups", []))
        or tuple(default)
        for endpoint in endpoints
    }
    ids = [g for found in groups.values() for g in found]
    rules = group_rules(ec2, [*instance_groups, *ids])
    instances = [Node(f"instances in {s.id}", tuple(instance_groups), s.cidr) for s in subnets]
    warnings = []
    for endpoint in endpoints:
        node = Node(f"VPC endpoint {endpoint['VpcEndpointId']}", groups[endpoint["VpcEndpointId"]])
        service = wanted[endpoint["ServiceName"]]
        if blocked([ENDPOINT_FLOW], {"instances": instances, "endpoint": [node]}, rules):
            given = "" if endpoint.get("Groups") else " (the VPC's default group: none given)"
            warnings.append(
                f"VPC endpoint {endpoint['VpcEndpointId']} ({service}) admits HTTPS only "
                f"through {', '.join(node.groups) or 'no group'}{given}, which does not admit "
                f"the instances: {ENDPOINT_REASONS[service]}. Add an inbound rule for tcp 443 "
                f"from {', '.join(instance_groups)} or the private subnets "
                f"({', '.join(s.cidr for s in subnets)})"
            )
    return warnings
