"""The reachability model (wizard/steps/flows.py): which flows a launch needs per version, and
whether the groups the network step leaves in the emulator admit each of them, between two
instances as much as within one. The emulator places no task, so "a worker and an API server
on different instances" is judged by the model over the groups AWS holds."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.network_fixtures import Seeded
from tests.test_step_network import STEP, _context, _group, _state
from wizard.config import LaunchConfig
from wizard.steps import flows as model
from wizard.steps.flows import Flow, Node


def _names(flows: list[Flow]) -> dict[str, tuple[str, str, str]]:
    return {flow.name: (flow.source, flow.target, flow.ports) for flow in flows}


def test_every_flow_a_launch_needs_per_version(make_config: Callable[..., LaunchConfig]) -> None:
    three = _names(model.launch_flows(make_config()))
    assert three == {
        "load balancer → web server": ("load-balancer", "instances", "32768-65535"),
        "components → API server (Service Connect proxy)": (
            "instances",
            "instances",
            "32768-65535",
        ),
        "web server → worker log server": ("instances", "instances", "8793"),
        "tasks → database": ("instances", "database", "5432"),
        "tasks → Redis broker": ("instances", "cache", "6379"),
    }
    two = _names(model.launch_flows(make_config(airflow__version="2.11", image__tag="2.11.2")))
    assert "components → API server (Service Connect proxy)" not in two
    assert "web server → worker log server" in two
    given_url = make_config(airflow__execution_api_url="http://api.internal:8080/execution/")
    assert not model.service_connect(given_url)
    existing = make_config(redis__mode="existing", redis__endpoint="cache.example:6380")
    assert _names(model.launch_flows(existing, database_port=5433))["tasks → database"][2] == "5433"
    assert _names(model.launch_flows(existing))["tasks → Redis broker"][2] == "6380"
    no_balancer = make_config(
        web__load_balancer="none",
        web__target_group_arn=(
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef"
        ),
    )
    assert "load balancer → web server" not in _names(model.launch_flows(no_balancer))


def test_instances_reach_the_aws_endpoints_they_need(
    make_config: Callable[..., LaunchConfig],
) -> None:
    services = model.endpoint_services(make_config())
    assert {"ecs", "ecs-agent", "ecs-telemetry", "ecr.api", "ecr.dkr", "s3", "ssm"} == set(services)
    assert "logs" in model.endpoint_services(make_config(airflow__log_driver="awslogs"))


def _rules(seeded: Seeded, *groups: str) -> list[dict[str, Any]]:
    return list(
        seeded.ec2.describe_security_group_rules(
            Filters=[{"Name": "group-id", "Values": list(groups)}]
        )["SecurityGroupRules"]
    )


def _applied(config: LaunchConfig, seeded: Seeded, tmp_path: Path) -> tuple[str, str]:
    STEP.apply(_context(config, _state(tmp_path, config)))
    (instances,) = _group(seeded.ec2, seeded.vpc, "airflow-staging-instances")
    (balancer,) = _group(seeded.ec2, seeded.vpc, "airflow-staging-load-balancer")
    return instances["GroupId"], balancer["GroupId"]


def test_every_flow_is_admitted_by_the_groups_the_network_step_leaves(
    config: LaunchConfig, seeded: Seeded, tmp_path: Path
) -> None:
    instances, balancer = _applied(config, seeded, tmp_path)
    nodes: dict[model.Role, list[Node]] = {
        "load-balancer": [Node("load balancer", (balancer,))],
        "instances": model.two_instances([instances]),
        "database": [Node("RDS instance staging-rds", (seeded.rds_group,))],
    }
    rules = _rules(seeded, instances, balancer, seeded.rds_group)
    flows = model.launch_flows(config)
    assert model.blocked(flows, nodes, rules) == []

    # without the network step's rules every flow is dropped
    bare: dict[model.Role, list[Node]] = {
        "load-balancer": [Node("load balancer", (seeded.rds_group,))],
        "instances": model.two_instances([seeded.rds_group]),
    }
    dropped = {b.flow.name for b in model.blocked(flows, bare, _rules(seeded, seeded.rds_group))}
    assert dropped == {
        "load balancer → web server",
        "components → API server (Service Connect proxy)",
        "web server → worker log server",
    }


def test_a_worker_and_an_api_server_on_different_instances(
    config: LaunchConfig, seeded: Seeded, tmp_path: Path
) -> None:
    instances, _ = _applied(config, seeded, tmp_path)
    (proxy,) = [f for f in model.launch_flows(config) if "Service Connect" in f.name]
    worker_host = Node("instance running the worker", (instances,), "10.0.1.10")
    api_host = Node("instance running the API server", (instances,), "10.0.2.20")
    assert model.admitted(proxy, worker_host, api_host, _rules(seeded, instances))

    # the rule that lets instances reach each other's proxy port is gone: only a worker on the
    # API server's own instance still reaches it
    (rule,) = [
        r
        for r in _rules(seeded, instances)
        if not r["IsEgress"]
        and r.get("ReferencedGroupInfo", {}).get("GroupId") == instances
        and r["FromPort"] == 32768
    ]
    seeded.ec2.revoke_security_group_ingress(
        GroupId=instances, SecurityGroupRuleIds=[rule["SecurityGroupRuleId"]]
    )
    rules = _rules(seeded, instances)
    assert not model.admitted(proxy, worker_host, api_host, rules)
    assert model.admitted(proxy, api_host, api_host, rules)
    (found,) = model.blocked([proxy], {"instances": [worker_host, api_host]}, rules)[:1]
    assert "components → API server (Service Connect proxy) (tcp 32768-65535)" in str(found)
    assert "time out on the execution API" in str(found)

    # a rule by CIDR admits the instances by their addresses, the other's subnet only
    seeded.ec2.authorize_security_group_ingress(
        GroupId=instances,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 32768,
                "ToPort": 65535,
                "IpRanges": [{"CidrIp": "10.0.1.0/24"}],
            }
        ],
    )
    rules = _rules(seeded, instances)
    assert model.admitted(proxy, worker_host, api_host, rules)
    assert not model.admitted(proxy, api_host, worker_host, rules)


def test_a_group_without_the_outbound_rule_drops_the_flow(
    config: LaunchConfig, seeded: Seeded, tmp_path: Path
) -> None:
    instances, _ = _applied(config, seeded, tmp_path)
    (logs,) = [f for f in model.launch_flows(config) if "log server" in f.name]
    a, b = model.two_instances([instances])
    assert model.admitted(logs, a, b, _rules(seeded, instances))
    egress = [r for r in _rules(seeded, instances) if r["IsEgress"]]
    assert egress, "a new group allows all outbound traffic"
    seeded.ec2.revoke_security_group_egress(
        GroupId=instances, SecurityGroupRuleIds=[r["SecurityGroupRuleId"] for r in egress]
    )
    assert not model.admitted(logs, a, b, _rules(seeded, instances))


def test_the_load_balancers_subnets_must_span_two_zones(
    make_config: Callable[..., LaunchConfig], aws_endpoint: str, seeded: Seeded
) -> None:
    one_zone = make_config(
        aws__endpoint_url=aws_endpoint,
        network__vpc_id=seeded.vpc,
        network__subnet_ids=[seeded.private_a],
    )
    problems = STEP.plan(_context(one_zone)).problems
    assert problems == [
        "network.subnet_ids are all in us-east-1a: the internal load balancer "
        "(web.load_balancer) needs subnets in at least two Availability Zones; add a subnet "
        "of another zone to network.subnet_ids"
    ]
    public = one_zone.model_copy(
        update={
            "network": one_zone.network.model_copy(
                update={
                    "subnet_ids": [seeded.private_a, seeded.private_b],
                    "public_subnet_ids": [seeded.public],
                }
            ),
            "web": one_zone.web.model_copy(
                update={
                    "load_balancer": "internet-facing",
                    "certificate_arn": "arn:aws:acm:us-east-1:123456789012:certificate/"
                    "00000000-0000-0000-0000-000000000000",
                }
            ),
        }
    )
    (problem,) = STEP.plan(_context(public)).problems
    assert problem.startswith("network.public_subnet_ids are all in us-east-1a: the internet-")
    # two zones are enough; no load balancer needs none
    assert STEP.plan(_context(public.model_copy(update={"web": one_zone.web}))).problems == []


def test_an_interface_endpoint_whose_group_drops_the_instances_is_warned_about(
    config: LaunchConfig, seeded: Seeded, tmp_path: Path
) -> None:
    ec2 = seeded.ec2
    endpoint = ec2.create_vpc_endpoint(
        VpcId=seeded.vpc,
        ServiceName="com.amazonaws.us-east-1.ecr.dkr",
        VpcEndpointType="Interface",
        SubnetIds=[seeded.private_a, seeded.private_b],
        PrivateDnsEnabled=True,
    )["VpcEndpoint"]["VpcEndpointId"]
    (default,) = _group(ec2, seeded.vpc, "default")

    def endpoint_warnings() -> list[str]:
        return [w for w in STEP.plan(_context(config)).warnings if w.startswith("VPC endpoint ")]

    # no group given: AWS puts the VPC's default group on it, which admits only its members
    (warning,) = endpoint_warnings()
    assert warning.startswith(
        f"VPC endpoint {endpoint} (ecr.dkr) admits HTTPS only through {default['GroupId']} "
        "(the VPC's default group: none given), which does not admit the instances: instances "
        "cannot pull the image. Add an inbound rule for tcp 443 from "
        "airflow-staging-instances (new) or the private subnets (10.0.1.0/24, 10.0.2.0/24)"
    )

    https = ec2.create_security_group(GroupName="endpoints", Description="443", VpcId=seeded.vpc)
    ec2.modify_vpc_endpoint(VpcEndpointId=endpoint, AddSecurityGroupIds=[https["GroupId"]])

    def admit(source: dict[str, Any]) -> None:
        permission = {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, **source}
        ec2.authorize_security_group_ingress(GroupId=https["GroupId"], IpPermissions=[permission])

    admit({"IpRanges": [{"CidrIp": "10.0.1.0/24"}]})  # one subnet of two is not enough
    (warning,) = endpoint_warnings()
    assert f"through {https['GroupId']}, which does not admit the instances" in warning
    admit({"IpRanges": [{"CidrIp": "10.0.2.0/24"}]})
    assert endpoint_warnings() == []

    # by the instance group: once it exists, a rule that names it is enough
    instances, _ = _applied(config, seeded, tmp_path)
    ec2.revoke_security_group_ingress(
        GroupId=https["GroupId"],
        SecurityGroupRuleIds=[
            r["SecurityGroupRuleId"]
            for r in _rules(seeded, https["GroupId"])
            if not r["IsEgress"] and r.get("CidrIpv4") == "10.0.1.0/24"
        ],
    )
    assert len(endpoint_warnings()) == 1
    admit({"UserIdGroupPairs": [{"GroupId": instances}]})
    assert endpoint_warnings() == []


def test_more_workers_than_instances_is_warned_about(
    make_config: Callable[..., LaunchConfig], config: LaunchConfig
) -> None:
    assert model.placement_warnings(config) == []  # 2 workers, up to 4 instances
    crowded = make_config(components__worker__desired_count=3, cluster__max_size=2)
    assert model.placement_warnings(crowded) == [
        "components.worker.desired_count is 3 but cluster.max_size is 2: each worker takes "
        "host port 8793 (its log server), so an instance runs one worker and the others would "
        "stay pending; raise cluster.max_size or lower the count"
    ]
    plan = STEP.plan(
        _context(
            config.model_copy(update={"cluster": crowded.cluster, "components": crowded.components})
        )
    )
    assert model.placement_warnings(crowded)[0] in plan.warnings
