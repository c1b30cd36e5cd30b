"""AWS's rules, written down where the emulator does not enforce them.

moto accepts launches that AWS would refuse, or accept and then leave broken (a task no capacity
provider scales for, a security group that drops a flow, a secret in plain `environment`). Each
rule here states one such rule of AWS's, names the AWS document it comes from, and checks it over
what a launch did:

- `Evidence.calls`: every API call any `Aws` made during the test, with its parameters (recorded
  through `wizard.aws.observe_calls`, before the request is built, so it is what we *sent*, even
  where moto drops a field: `serviceConnectConfiguration`, `capacityProviderStrategy`);
- `Evidence.aws()`: clients on the emulator, to read what it holds after the test.

`conftest.py` runs every rule after every test that used the emulator (`aws_endpoint`) and
passed, and fails the test with the violations. A test that breaks a rule on purpose says so with
`@pytest.mark.breaks_aws_rule("rule-name")`. `tests/test_aws_rules.py` shows each rule failing
on a launch that breaks it.

Adding a rule: a function `(evidence) -> Iterable[str]` (one message per violation) decorated
with `@rule("name", source="URL — the sentence it rests on")`. A rule judges only the calls it is
about, so it passes trivially on tests that never made them.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from wizard.aws import Aws, AwsSettings, observe_calls


@dataclass(frozen=True)
class Call:
    """One API call as it was sent."""

    service: str
    operation: str
    params: dict[str, Any]
    region: str
    endpoint: str


@dataclass
class Evidence:
    """What a test's launch sent to AWS, and where."""

    calls: list[Call] = field(default_factory=list)

    def of(self, service: str, *operations: str) -> list[Call]:
        """The calls of these operations of one service, in the order they were made."""
        return [c for c in self.calls if c.service == service and c.operation in operations]

    def aws(self, region: str = "") -> Aws:
        """Clients on the endpoint and region the launch used (its first call's)."""
        first = self.calls[0]
        return Aws(AwsSettings(region=region or first.region, endpoint_url=first.endpoint))

    def secure_string_values(self) -> set[str]:
        """Every SecureString value the launch put into SSM."""
        return {
            str(c.params["Value"])
            for c in self.of("ssm", "PutParameter")
            if c.params.get("Type") == "SecureString" and c.params.get("Value")
        }


@dataclass(frozen=True)
class Rule:
    """One of AWS's rules and the document it comes from."""

    name: str
    source: str
    check: Callable[[Evidence], Iterable[str]]


RULES: dict[str, Rule] = {}


def rule(name: str, *, source: str) -> Callable[[Callable[[Evidence], Iterable[str]]], Any]:
    """Register a rule under `name`; `source` names the AWS document (URL and what it says)."""

    def register(check: Callable[[Evidence], Iterable[str]]) -> Callable[[Evidence], Any]:
        if name in RULES:
            raise ValueError(f"two rules named {name}")
        RULES[name] = Rule(name, source, check)
        return check

    return register


def violations(evidence: Evidence, *, skip: Iterable[str] = ()) -> list[str]:
    """Every violation of every rule (but those skipped), as `rule: message` lines."""
    skipped = set(skip)
    unknown = skipped - RULES.keys()
    if unknown:
        raise ValueError(f"no such rules: {sorted(unknown)}")
    if not evidence.calls:
        return []
    return [
        f"{name}: {message}  [{RULES[name].source}]"
        for name in sorted(RULES.keys() - skipped)
        for message in RULES[name].check(evidence)
    ]


@contextmanager
def recording() -> Iterator[Evidence]:
    """Collect every call made in the block into an `Evidence`."""
    evidence = Evidence()
    lock = threading.Lock()

    def observe(
        service: str, operation: str, params: dict[str, Any], region: str, endpoint: str
    ) -> None:
        with lock:
            evidence.calls.append(Call(service, operation, dict(params), region, endpoint))

    with observe_calls(observe):
        yield evidence


# --- the rules --------------------------------------------------------------------------------

SECRET_OPTION = re.compile(
    r"(FERNET_KEY|SECRET_KEY|JWT_SECRET|SQL_ALCHEMY_CONN|RESULT_BACKEND|PASSWORD|AUTH_TOKEN)$"
)
"""`AIRFLOW__…` names (and plain names) that carry a secret by what they are."""


def _containers(evidence: Evidence) -> Iterator[tuple[str, dict[str, Any]]]:
    for call in evidence.of("ecs", "RegisterTaskDefinition"):
        for container in call.params.get("containerDefinitions", []):
            yield str(call.params.get("family")), container


@rule(
    "no-secret-in-environment",
    source="https://docs.aws.amazon.com/AmazonECS/latest/developerguide/specifying-sensitive-data.html"
    " — sensitive data goes in `secrets` (Secrets Manager or SSM Parameter Store); `environment` "
    "values are visible to anyone who can describe the task definition",
)
def no_secret_in_environment(evidence: Evidence) -> Iterator[str]:
    """No task definition carries a secret in plain `environment`: neither an option that is a
    secret by name, nor a value the launch keeps in a SecureString."""
    values = evidence.secure_string_values()
    for family, container in _containers(evidence):
        for variable in container.get("environment", []):
            name, value = str(variable.get("name", "")), str(variable.get("value", ""))
            if SECRET_OPTION.search(name):
                yield f"{family}/{container.get('name')}: {name} is in environment"
            elif any(secret and secret in value for secret in values):
                yield f"{family}/{container.get('name')}: {name} holds a SecureString's value"


SSM_ARN = re.compile(r"^arn:aws[\w-]*:ssm:(?P<region>[\w-]+):\d{12}:parameter/.+")


@rule(
    "secrets-resolvable",
    source="https://docs.aws.amazon.com/AmazonECS/latest/developerguide/secrets-envvar-ssm-paramstore.html"
    " — a parameter in the task's Region may be named by name or ARN, in another Region by its "
    "full ARN; and https://docs.aws.amazon.com/systems-manager/latest/userguide/"
    "sysman-paramstore-su-create.html — a name that contains '/' must be fully qualified with a "
    "leading '/'",
)
def secrets_resolvable(evidence: Evidence) -> Iterator[str]:
    """Every `secrets[].valueFrom` names an SSM parameter ECS can find from the task's Region."""
    for call in evidence.of("ecs", "RegisterTaskDefinition"):
        for container in call.params.get("containerDefinitions", []):
            for secret in container.get("secrets", []):
                source = str(secret.get("valueFrom", ""))
                if source.startswith("arn:"):
                    match = SSM_ARN.match(source)
                    if match is None and ":secretsmanager:" not in source:
                        yield f"{call.params.get('family')}: {secret.get('name')} from {source}"
                elif not source.startswith("/") and "/" in source:
                    yield (
                        f"{call.params.get('family')}: {secret.get('name')} from {source!r}: a "
                        "name with a path must start with '/'"
                    )


# --- wt-secure: ElastiCache AUTH (issue 9, items 5 and 6) -------------------------------------

AUTH_TOKEN_CHARACTERS = re.compile(r"^[A-Za-z0-9!&#$^<>\-]{16,128}$")
"""An ElastiCache AUTH token: 16 to 128 printable characters, and of the specials only
!, &, #, $, ^, <, > and -."""


@rule(
    "elasticache-auth-token-needs-tls",
    source="https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/"
    "API_CreateReplicationGroup.html — AuthToken can be specified only on replication groups "
    "where TransitEncryptionEnabled is true; it must be 16 to 128 printable characters, and the "
    "only permitted special characters are !, &, #, $, ^, <, > and -",
)
def elasticache_auth_token_needs_tls(evidence: Evidence) -> Iterator[str]:
    """Every replication group created with an AUTH token encrypts in transit, and the token
    is one ElastiCache accepts."""
    for call in evidence.of("elasticache", "CreateReplicationGroup"):
        token = call.params.get("AuthToken")
        if token is None:
            continue
        group = call.params.get("ReplicationGroupId")
        if call.params.get("TransitEncryptionEnabled") is not True:
            yield f"replication group {group}: AuthToken without TransitEncryptionEnabled"
        if not AUTH_TOKEN_CHARACTERS.match(str(token)):
            yield (
                f"replication group {group}: the AuthToken has {len(str(token))} characters or "
                "a character ElastiCache refuses"
            )


# --- network flows (wt-network) ---------------------------------------------------------------
# The reachability model (wizard/steps/flows.py) over what the launch registered and what the
# emulator's security groups hold after it: moto keeps groups and rules but never drops a packet.

from wizard.airflow_containers import WORKER_LOG_SERVER_PORT  # noqa: E402
from wizard.steps.flows import (  # noqa: E402
    SERVICE_CONNECT_PROXY_PORTS,
    Flow,
    Node,
    Role,
    blocked,
    two_instances,
)
from wizard.steps.reachability import DYNAMIC_PORTS  # noqa: E402

_COMPONENT_TAG = "airflow-ecs-wizard:component"


def _latest_taskdefs(evidence: Evidence) -> dict[str, dict[str, Any]]:
    """The last task definition registered per component (by the launch's component tag)."""
    found: dict[str, dict[str, Any]] = {}
    for call in evidence.of("ecs", "RegisterTaskDefinition"):
        tags = {t.get("key"): t.get("value") for t in call.params.get("tags", [])}
        component = tags.get(_COMPONENT_TAG) or str(call.params.get("family", ""))
        found[str(component)] = call.params
    return found


def _instance_groups(aws: Aws) -> tuple[str, ...]:
    """The groups the cluster's instances get: from every launch template (latest version) and
    launch configuration the emulator holds (its Auto Scaling starts instances without them)."""
    ec2, groups = aws.client("ec2"), []
    for template in ec2.describe_launch_templates().get("LaunchTemplates", []):
        (version,) = ec2.describe_launch_template_versions(
            LaunchTemplateId=template["LaunchTemplateId"], Versions=["$Latest"]
        )["LaunchTemplateVersions"]
        data = version.get("LaunchTemplateData", {})
        groups += data.get("SecurityGroupIds", [])
        for interface in data.get("NetworkInterfaces", []):
            groups += interface.get("Groups", [])
    autoscaling = aws.client("autoscaling")
    for configuration in autoscaling.describe_launch_configurations()["LaunchConfigurations"]:
        groups += configuration.get("SecurityGroups", [])
    return tuple(dict.fromkeys(groups))


def _web_host_ports(taskdefs: dict[str, dict[str, Any]], container_port: int) -> tuple[int, int]:
    for container in taskdefs.get("webserver", {}).get("containerDefinitions", []):
        for mapping in container.get("portMappings", []):
            if mapping.get("containerPort") == container_port and mapping.get("hostPort"):
                return int(mapping["hostPort"]), int(mapping["hostPort"])
    return DYNAMIC_PORTS


def _log_server_port(container: dict[str, Any]) -> int:
    for variable in container.get("environment", []):
        if str(variable.get("name")).endswith("__WORKER_LOG_SERVER_PORT"):
            return int(variable["value"])
    return WORKER_LOG_SERVER_PORT


def launch_flows_sent(evidence: Evidence) -> tuple[list[Flow], list[str]]:
    """The model's flows that what the launch sent needs, and the mappings that break a flow
    before any group is involved (a log server on no fixed host port)."""
    taskdefs, flows, broken = _latest_taskdefs(evidence), [], []
    services = evidence.of("ecs", "CreateService", "UpdateService")
    for call in services:
        for balancer in call.params.get("loadBalancers", []):
            low, high = _web_host_ports(taskdefs, int(balancer.get("containerPort", 0)))
            flows.append(
                Flow("load balancer → web server", "load-balancer", "instances", low, high, "")
            )
    for call in services:
        for server in call.params.get("serviceConnectConfiguration", {}).get("services", []):
            override = server.get("ingressPortOverride")
            low, high = (override, override) if override else SERVICE_CONNECT_PROXY_PORTS
            name = "components → API server (Service Connect proxy)"
            flows.append(Flow(name, "instances", "instances", low, high, ""))
    if {"webserver", "worker"} <= taskdefs.keys():
        for container in taskdefs["worker"].get("containerDefinitions", []):
            port = _log_server_port(container)
            fixed = {
                (m.get("containerPort"), m.get("hostPort"))
                for m in container.get("portMappings", [])
            }
            if (port, port) not in fixed:
                broken.append(
                    f"{taskdefs['worker'].get('family')}: the worker's log server port {port} "
                    "is not mapped to the same fixed host port: the web server cannot fetch a "
                    "running task's log"
                )
            flows.append(
                Flow("web server → worker log server", "instances", "instances", port, port, "")
            )
    return list(dict.fromkeys(flows)), broken


def _database_nodes(evidence: Evidence, aws: Aws) -> tuple[list[Node], int | None]:
    ids = {
        str(call.params["DBInstanceIdentifier"])
        for call in evidence.of("rds", "CreateDBInstance", "DescribeDBInstances")
        if call.params.get("DBInstanceIdentifier")
    }
    nodes, port = [], None
    for instance_id in sorted(ids):
        try:
            (instance,) = aws.client("rds").describe_db_instances(DBInstanceIdentifier=instance_id)[
                "DBInstances"
            ]
        except aws.client("rds").exceptions.DBInstanceNotFoundFault:
            continue
        groups = tuple(g["VpcSecurityGroupId"] for g in instance.get("VpcSecurityGroups", []))
        nodes.append(Node(f"RDS instance {instance_id}", groups))
        port = int(instance.get("Endpoint", {}).get("Port") or 0) or None
    return nodes, port


def _destroyed(evidence: Evidence) -> bool:
    """Whether every service the launch created was deleted afterwards, as `destroy` does."""
    created = {
        (_short(c.params.get("cluster")), _short(c.params.get("serviceName")))
        for c in evidence.of("ecs", "CreateService")
    }
    deleted = {
        (_short(c.params.get("cluster")), _short(c.params.get("service")))
        for c in evidence.of("ecs", "DeleteService")
    }
    return bool(created) and created <= deleted


@rule(
    "every-flow-admitted",
    source="https://docs.aws.amazon.com/vpc/latest/userguide/vpc-security-group-rules.html"
    " — a security group admits only the inbound traffic its rules allow, and traffic between "
    "instances of one group is no exception; https://docs.aws.amazon.com/AmazonECS/latest/"
    "APIReference/API_ServiceConnectService.html — in bridge mode the Service Connect proxy "
    "listens on an ephemeral host port, to admit in the VPC security groups",
)
def every_flow_admitted(evidence: Evidence) -> Iterator[str]:
    """Every flow of the reachability model that the launch's task definitions and services
    need is admitted by the groups the emulator holds, between two instances as well."""
    flows, broken = launch_flows_sent(evidence)
    yield from broken
    if not evidence.of("ecs", "RegisterTaskDefinition", "CreateService", "UpdateService"):
        return  # no task runs: a plan, or a launch that stopped before its tasks
    if _destroyed(evidence):
        return  # every service the launch made was deleted since (a destroy): no task runs
    aws = evidence.aws()
    instances = _instance_groups(aws)
    if not instances:
        return  # no instance runs anywhere yet: nothing to judge
    nodes: dict[Role, list[Node]] = {"instances": two_instances(instances)}
    balancers = aws.client("elbv2").describe_load_balancers()["LoadBalancers"]
    nodes["load-balancer"] = [
        Node(f"load balancer {b['LoadBalancerName']}", tuple(b.get("SecurityGroups", [])))
        for b in balancers
    ]
    database, port = _database_nodes(evidence, aws)
    if database and port:
        nodes["database"] = database
        flows.append(Flow("tasks → database", "instances", "database", port, port, ""))
    caches = evidence.of("elasticache", "CreateReplicationGroup")
    nodes["cache"] = [
        Node(f"cache {c.params.get('ReplicationGroupId')}", tuple(c.params["SecurityGroupIds"]))
        for c in caches
        if c.params.get("SecurityGroupIds")
    ]
    for call in caches[:1]:
        port = int(call.params.get("Port") or 6379)
        flows.append(Flow("tasks → Redis broker", "instances", "cache", port, port, ""))
    groups = {g for role in nodes.values() for node in role for g in node.groups}
    if not groups:
        return
    rules = aws.client("ec2").describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": sorted(groups)}]
    )["SecurityGroupRules"]
    reported: set[Flow] = set()
    for found in blocked(flows, nodes, rules):
        if found.flow in reported:
            continue  # once per flow: instance B to A says nothing A to B did not
        reported.add(found.flow)
        yield (
            f"{found.flow} from {found.source.name} ({', '.join(found.source.groups)}) to "
            f"{found.target.name} ({', '.join(found.target.groups) or 'no group'}) is not admitted"
        )


# --- capacity providers and the services' day-2 updates (issue 9, items 1 and 3) ---------------

ECS_PLACING = ("CreateService", "RunTask", "UpdateService")


def _short(name: object) -> str:
    """A cluster, service or task-definition family from its name or ARN."""
    return str(name or "default").rsplit("/", 1)[-1]


def _cluster_name(template: dict[str, Any], parameters: dict[str, str], logical: str) -> str:
    """The name a template gives its cluster resource `logical` (a literal, or a parameter)."""
    name = (template.get("Resources", {}).get(logical, {}).get("Properties") or {}).get(
        "ClusterName"
    )
    if isinstance(name, dict) and "Ref" in name:
        slot = template.get("Parameters", {}).get(name["Ref"], {})
        return str(parameters.get(name["Ref"]) or slot.get("Default") or "")
    return str(name or "")


def _template_clusters(template: dict[str, Any], parameters: dict[str, str]) -> set[str]:
    """The clusters a CloudFormation template gives an EC2 capacity provider."""
    resources = template.get("Resources") or {}
    providers = {
        logical
        for logical, resource in resources.items()
        if resource.get("Type") == "AWS::ECS::CapacityProvider"
    }
    clusters: set[str] = set()
    for logical, resource in resources.items():
        properties = resource.get("Properties") or {}
        named = properties.get("CapacityProviders") or []
        if not any(isinstance(n, dict) and n.get("Ref") in providers for n in named):
            continue
        if resource.get("Type") == "AWS::ECS::Cluster":
            clusters.add(_cluster_name(template, parameters, logical))
        elif resource.get("Type") == "AWS::ECS::ClusterCapacityProviderAssociations":
            cluster = properties.get("Cluster")
            if isinstance(cluster, dict) and "Ref" in cluster:
                clusters.add(_cluster_name(template, parameters, cluster["Ref"]))
            elif cluster:
                clusters.add(str(cluster))
    return clusters - {""}


def _parse_template(body: object) -> dict[str, Any]:
    from wizard.cfn_template import load_template

    if isinstance(body, dict):
        return body
    return load_template(str(body), source_name="template").doc


def _emulator(evidence: Evidence, service: str) -> Any:
    """A client on the endpoint the launch used, with credentials of its own: rules run after
    the test's fixtures took theirs away (the emulator takes any)."""
    import boto3

    first = evidence.calls[0]
    return boto3.client(
        service,
        region_name=first.region,
        endpoint_url=first.endpoint,
        aws_access_key_id="rules",
        aws_secret_access_key="rules",
    )


def clusters_with_providers(evidence: Evidence) -> set[str]:
    """Clusters that have a capacity provider, from what the launch sent (templates, clusters)
    and from the templates of the stacks in the account: never from the cluster itself, which
    an emulator that makes no provider reports without one."""
    clusters: set[str] = set()
    for call in evidence.of("ecs", "CreateCluster", "PutClusterCapacityProviders"):
        if call.params.get("capacityProviders"):
            clusters.add(_short(call.params.get("clusterName") or call.params.get("cluster")))
    for call in evidence.of("cloudformation", "CreateStack", "UpdateStack", "CreateChangeSet"):
        if call.params.get("TemplateBody"):
            parameters = {
                str(p.get("ParameterKey")): str(p.get("ParameterValue", ""))
                for p in call.params.get("Parameters", [])
            }
            clusters |= _template_clusters(_parse_template(call.params["TemplateBody"]), parameters)
    cloudformation = _emulator(evidence, "cloudformation")
    for stack in cloudformation.describe_stacks().get("Stacks", []):
        body = cloudformation.get_template(StackName=stack["StackId"])["TemplateBody"]
        parameters = {
            str(p["ParameterKey"]): str(p.get("ParameterValue", ""))
            for p in stack.get("Parameters", [])
        }
        clusters |= _template_clusters(_parse_template(body), parameters)
    return clusters


@rule(
    "tasks-placed-by-the-capacity-provider",
    source="https://docs.aws.amazon.com/AmazonECS/latest/developerguide/"
    "managed-scaling-behavior.html — tasks without a capacity provider strategy are ignored by "
    "capacity providers; and the CreateService/RunTask API reference — if no "
    "capacityProviderStrategy or launchType is specified, the defaultCapacityProviderStrategy "
    "for the cluster is used; a launchType and a capacityProviderStrategy are mutually exclusive",
)
def tasks_placed_by_the_capacity_provider(evidence: Evidence) -> Iterator[str]:
    """CreateService/RunTask in a cluster with a capacity provider name no launch type (they
    carry a strategy or rely on the cluster's default); no call names both."""
    placing = evidence.of("ecs", *ECS_PLACING)
    for call in placing:
        if call.params.get("launchType") and call.params.get("capacityProviderStrategy"):
            yield (
                f"{call.operation} in {_short(call.params.get('cluster'))}: both a launchType "
                "and a capacityProviderStrategy"
            )
    launched = [c for c in placing if c.operation != "UpdateService" and c.params.get("launchType")]
    if not launched:
        return
    clusters = clusters_with_providers(evidence)
    for call in launched:
        cluster = _short(call.params.get("cluster"))
        if cluster in clusters:
            what = call.params.get("serviceName") or call.params.get("taskDefinition")
            yield (
                f"{call.operation} {what} in {cluster} has launchType "
                f"{call.params['launchType']}: its capacity provider never scales for it"
            )


@rule(
    "capacity-provider-change-redeploys",
    source="https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_UpdateService.html"
    " — capacityProviderStrategy: this parameter doesn't trigger a new service deployment; "
    "AWS refuses the switch otherwise (InvalidParameterException: when switching from launch "
    "type to capacity provider strategy on an existing service, or making a change to a "
    "capacity provider strategy on a service that is already using one, you must force a new "
    "deployment)",
)
def capacity_provider_change_redeploys(evidence: Evidence) -> Iterator[str]:
    """An UpdateService that moves a service to (or off) a capacity provider forces a new
    deployment, or its running tasks stay where no provider scales for them."""
    for call in evidence.of("ecs", "UpdateService"):
        if "capacityProviderStrategy" in call.params and not call.params.get("forceNewDeployment"):
            yield (
                f"UpdateService {_short(call.params.get('service'))} changes the capacity "
                "provider strategy without forceNewDeployment"
            )


def _service_history(evidence: Evidence) -> Iterator[tuple[int, Call, str]]:
    """CreateService/UpdateService calls in order, with their index and `cluster/service`."""
    for index, call in enumerate(evidence.calls):
        if call.service == "ecs" and call.operation in ("CreateService", "UpdateService"):
            name = call.params.get("serviceName") or call.params.get("service")
            yield index, call, f"{_short(call.params.get('cluster'))}/{_short(name)}"


@rule(
    "update-keeps-service-connect-and-load-balancer",
    source="https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_UpdateService.html"
    " — loadBalancers: you can remove existing loadBalancers by passing an empty list; "
    "serviceConnectConfiguration: the configuration for this service to discover and connect "
    "to services (an update with enabled false takes the service out of the namespace)",
)
def update_keeps_service_connect_and_load_balancer(evidence: Evidence) -> Iterator[str]:
    """An UpdateService of a service that had Service Connect or a load balancer keeps it
    (fields an update omits stay as they were)."""
    connected: dict[str, bool] = {}
    balanced: dict[str, bool] = {}
    for _, call, key in _service_history(evidence):
        sent = call.params
        had_connect, had_balancer = connected.get(key, False), balanced.get(key, False)
        if "serviceConnectConfiguration" in sent:
            connected[key] = bool(sent["serviceConnectConfiguration"].get("enabled"))
        if "loadBalancers" in sent:
            balanced[key] = bool(sent["loadBalancers"])
        if call.operation != "UpdateService":
            continue
        if had_connect and not connected[key]:
            yield f"UpdateService {key} turns Service Connect off"
        if had_balancer and not balanced[key]:
            yield f"UpdateService {key} removes its load balancer"


EXECUTION_API_URL = "AIRFLOW__CORE__EXECUTION_API_SERVER_URL"


@rule(
    "service-connect-client-for-its-alias",
    source="https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-connect.html"
    " — tasks that run in a namespace can use short names to connect to services in the "
    "namespace; only the tasks that Amazon ECS services create with a Service Connect "
    "configuration are supported",
)
def service_connect_client_for_its_alias(evidence: Evidence) -> Iterator[str]:
    """A service whose tasks call the API server by a Service Connect alias (one the launch
    served, or any single-label name) is itself a Service Connect client once the launch is
    done (after an upgrade to Airflow 3 too)."""
    aliases = {
        str(alias.get("dnsName"))
        for _, call, _ in _service_history(evidence)
        for served in (call.params.get("serviceConnectConfiguration") or {}).get("services", [])
        for alias in served.get("clientAliases", [])
    }
    hosts: dict[str, str] = {}  # family -> the execution API's host of its latest revision
    final: dict[str, tuple[str, bool]] = {}  # service -> (family, a Service Connect client)
    for call in evidence.calls:
        if call.service == "ecs" and call.operation == "RegisterTaskDefinition":
            family = str(call.params.get("family"))
            hosts.pop(family, None)
            for container in call.params.get("containerDefinitions", []):
                for variable in container.get("environment", []):
                    if variable.get("name") == EXECUTION_API_URL:
                        hosts[family] = re.sub(r"^\w+://([^:/]+).*$", r"\1", variable["value"])
    for _, call, key in _service_history(evidence):
        family, client = final.get(key, ("", False))
        if call.params.get("taskDefinition"):
            family = _short(call.params["taskDefinition"]).split(":")[0]
        if "serviceConnectConfiguration" in call.params:
            client = bool(call.params["serviceConnectConfiguration"].get("enabled"))
        final[key] = (family, client)
    for key, (family, client) in sorted(final.items()):
        host = hosts.get(family, "")
        # a single-label name (no dot, not localhost) resolves in a VPC only through Service
        # Connect: an HTTP namespace has no DNS
        short = bool(host) and "." not in host and host != "localhost"
        if (host in aliases or short) and not client:
            yield f"{key} calls {hosts[family]} but is no Service Connect client"


# --- the cluster stack and its instances (cluster step) ---------------------------------------


def _declared_parameters(template_body: Any) -> set[str] | None:
    """The parameter names a template declares (None when the body cannot be read)."""
    from wizard.cfn_template import load_template
    from wizard.errors import BadInput

    if not isinstance(template_body, str):
        return None
    try:
        parameters = load_template(template_body).doc.get("Parameters") or {}
    except BadInput:
        return None
    return set(parameters) if isinstance(parameters, dict) else None


@rule(
    "stack-update-gives-every-parameter",
    source="https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_Parameter.html"
    " — ParameterKey: if you don't specify a key and value for a particular parameter, "
    "CloudFormation uses the default value that's specified in your template; UsePreviousValue: "
    "during a stack update, use the existing parameter value; if you specify true, do not "
    "specify a parameter value",
)
def stack_update_gives_every_parameter(evidence: Evidence) -> Iterator[str]:
    """An update (UpdateStack, or a change set of type UPDATE) names every parameter the stack
    has that its new template still declares, with a value or UsePreviousValue (an omitted one
    silently goes back to its default); UsePreviousValue only for a parameter the stack has, and
    never with a value."""
    known: dict[str, set[str]] = {}
    for call in evidence.calls:
        if call.service != "cloudformation":
            continue
        stack = str(call.params.get("StackName", ""))
        given = {str(p.get("ParameterKey")): p for p in call.params.get("Parameters", [])}
        updating = call.operation == "UpdateStack" or (
            call.operation == "CreateChangeSet"
            and call.params.get("ChangeSetType", "UPDATE") == "UPDATE"
        )
        if call.operation == "CreateStack" or (
            call.operation == "CreateChangeSet" and not updating
        ):
            declared = _declared_parameters(call.params.get("TemplateBody"))
            known[stack] = declared if declared is not None else set(given)
            continue
        if not updating or stack not in known:
            continue
        had = known[stack]
        for key, parameter in given.items():
            if parameter.get("UsePreviousValue") and "ParameterValue" in parameter:
                yield f"{call.operation} {stack}: {key} has both UsePreviousValue and a value"
            if parameter.get("UsePreviousValue") and key not in had:
                yield f"{call.operation} {stack}: UsePreviousValue for {key}, new to the stack"
        declared = _declared_parameters(call.params.get("TemplateBody"))
        still = had if declared is None else had & declared
        for key in sorted(still - set(given)):
            yield f"{call.operation} {stack}: {key} not given, so it goes back to its default"
        if declared is not None:
            known[stack] = declared


@rule(
    "instance-refresh-preferences-valid",
    source="https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_RefreshPreferences.html"
    " — MinHealthyPercentage: value range is 0 to 100; MaxHealthyPercentage: value range is 100 "
    "to 200; both MinHealthyPercentage and MaxHealthyPercentage must be specified, and the "
    "difference between them cannot be greater than 100",
)
def instance_refresh_preferences_valid(evidence: Evidence) -> Iterator[str]:
    """StartInstanceRefresh's preferences stay within what Auto Scaling accepts."""
    for call in evidence.of("autoscaling", "StartInstanceRefresh"):
        group = call.params.get("AutoScalingGroupName")
        preferences = call.params.get("Preferences") or {}
        low, high = preferences.get("MinHealthyPercentage"), preferences.get("MaxHealthyPercentage")
        if low is not None and not 0 <= low <= 100:
            yield f"{group}: MinHealthyPercentage {low} is outside 0-100"
        if high is not None:
            if not 100 <= high <= 200:
                yield f"{group}: MaxHealthyPercentage {high} is outside 100-200"
            if low is None:
                yield f"{group}: MaxHealthyPercentage without MinHealthyPercentage"
            elif high - low > 100:
                yield f"{group}: MaxHealthyPercentage - MinHealthyPercentage is over 100"
