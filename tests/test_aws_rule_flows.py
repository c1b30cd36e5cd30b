"""The rule "every-flow-admitted" (tests/aws_rules.py): it holds on what the network step leaves
and the launch registers, and fails on a launch whose groups drop a flow of the reachability
model, or whose worker serves its log on no fixed host port."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.aws_rules import Evidence, recording, violations
from tests.network_fixtures import Seeded, console_stack
from tests.test_step_network import STEP, _context, _group, _state
from wizard.aws import Aws, AwsSettings
from wizard.config import LaunchConfig
from wizard.render import render_artifacts
from wizard.sandbox import CONSOLE_STACK

RULE = "every-flow-admitted"


def _taskdef(config: LaunchConfig, component: str) -> dict[str, Any]:
    return dict(json.loads(render_artifacts(config, "123456789012")[f"taskdef-{component}.json"]))


def _launch(
    config: LaunchConfig,
    seeded: Seeded,
    tmp_path: Path,
    worker: dict[str, Any] | None = None,
    *,
    console: str = "",
) -> tuple[Evidence, Aws, str]:
    """The parts of a launch the rule reads, made as the launch makes them: the network step's
    groups and rules, a launch template with the instance group (or, with `console`, the
    console stack's, whose instances carry that group), the web server and worker task
    definitions, the load balancer, and the web server's service with Service Connect.

    Returns:
        The evidence, clients on the emulator, and the instances' group id.
    """
    aws = Aws(AwsSettings(region="us-east-1", endpoint_url=config.aws.endpoint_url))
    with recording() as evidence:
        STEP.apply(_context(config, _state(tmp_path, config)))
        (balancer,) = _group(seeded.ec2, seeded.vpc, "airflow-staging-load-balancer")
        instances = console
        if not console:
            (own,) = _group(seeded.ec2, seeded.vpc, "airflow-staging-instances")
            instances = own["GroupId"]
            aws.client("ec2").create_launch_template(
                LaunchTemplateName="airflow-staging-instances",
                LaunchTemplateData={
                    "NetworkInterfaces": [{"DeviceIndex": 0, "Groups": [instances]}]
                },
            )
        ecs = aws.client("ecs")
        ecs.register_task_definition(**_taskdef(config, "webserver"))
        ecs.register_task_definition(**(worker or _taskdef(config, "worker")))
        elbv2 = aws.client("elbv2")
        elbv2.create_load_balancer(
            Name="airflow-staging-web",
            Subnets=[seeded.private_a, seeded.private_b],
            SecurityGroups=[balancer["GroupId"]],
            Scheme="internal",
        )
        group = elbv2.create_target_group(
            Name="airflow-staging-web", Protocol="HTTP", Port=8080, VpcId=seeded.vpc
        )["TargetGroups"][0]["TargetGroupArn"]
        ecs.create_cluster(clusterName="airflow-staging")
        ecs.create_service(
            cluster="airflow-staging",
            serviceName="airflow-staging-webserver",
            taskDefinition="airflow-staging-webserver",
            desiredCount=1,
            loadBalancers=[
                {"targetGroupArn": group, "containerName": "webserver", "containerPort": 8080}
            ],
            serviceConnectConfiguration={
                "enabled": True,
                "namespace": "airflow-staging",
                "services": [
                    {
                        "portName": "api",
                        "discoveryName": "airflow-api-server",
                        "clientAliases": [{"port": 8080, "dnsName": "airflow-api-server"}],
                    }
                ],
            },
        )
    return evidence, aws, instances


def _rule_says(evidence: Evidence) -> list[str]:
    return [v.split("  [")[0] for v in violations(evidence) if v.startswith(f"{RULE}: ")]


def test_what_the_network_step_leaves_admits_every_flow(
    config: LaunchConfig, seeded: Seeded, tmp_path: Path
) -> None:
    evidence, _, _ = _launch(config, seeded, tmp_path)
    assert violations(evidence) == []


@pytest.mark.breaks_aws_rule(RULE)
def test_a_group_that_drops_a_flow_breaks_the_rule(
    config: LaunchConfig, seeded: Seeded, tmp_path: Path
) -> None:
    evidence, aws, instances = _launch(config, seeded, tmp_path)
    ec2 = aws.client("ec2")
    rules = ec2.describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": [instances, seeded.rds_group]}]
    )["SecurityGroupRules"]
    between = [
        r["SecurityGroupRuleId"]
        for r in rules
        if not r["IsEgress"]
        and r["GroupId"] == instances
        and r.get("ReferencedGroupInfo", {}).get("GroupId") == instances
    ]
    assert len(between) == 2  # the proxy's ephemeral ports and the worker's log server
    ec2.revoke_security_group_ingress(GroupId=instances, SecurityGroupRuleIds=between)
    (database,) = [
        r["SecurityGroupRuleId"]
        for r in rules
        if r["GroupId"] == seeded.rds_group and not r["IsEgress"]
    ]
    ec2.revoke_security_group_ingress(GroupId=seeded.rds_group, SecurityGroupRuleIds=[database])

    said = _rule_says(evidence)
    assert len(said) == 3, said
    proxy, logs, db = said
    assert proxy.startswith(
        f"{RULE}: components → API server (Service Connect proxy) (tcp 32768-65535) from "
        f"instance A ({instances}) to instance B ({instances}) is not admitted"
    )
    assert "web server → worker log server (tcp 8793)" in logs
    assert f"tasks → database (tcp 5432) from instance A ({instances}) to RDS instance " in db


@pytest.mark.breaks_aws_rule(RULE)
def test_a_worker_whose_log_port_is_not_fixed_breaks_the_rule(
    config: LaunchConfig, seeded: Seeded, tmp_path: Path
) -> None:
    worker = _taskdef(config, "worker")
    worker["containerDefinitions"][0]["portMappings"] = [
        {"containerPort": 8793, "hostPort": 0, "protocol": "tcp"}
    ]
    evidence, _, _ = _launch(config, seeded, tmp_path, worker)
    assert _rule_says(evidence) == [
        f"{RULE}: airflow-staging-worker: the worker's log server port 8793 is not mapped to "
        "the same fixed host port: the web server cannot fetch a running task's log"
    ]


# --- a patched console stack: its instances carry the console's own group ---------------------


@pytest.mark.breaks_aws_rule(RULE)
def test_a_console_launch_whose_rules_miss_the_stacks_group_breaks_the_rule(
    config: LaunchConfig, seeded: Seeded, tmp_path: Path
) -> None:
    """What the network step did before it knew the console stack's group: its rules went on a
    group of its own, which the stack's instances never carry."""
    console = console_stack(seeded)
    evidence, _, _ = _launch(config, seeded, tmp_path, console=console)
    said = _rule_says(evidence)
    assert len(said) == 4, said
    balancer, proxy, logs, database = said
    assert balancer.startswith(f"{RULE}: load balancer → web server (tcp 32768-65535) from ")
    assert balancer.endswith(f"to instance A ({console}) is not admitted")
    assert proxy.startswith(
        f"{RULE}: components → API server (Service Connect proxy) (tcp 32768-65535) from "
        f"instance A ({console}) to instance B ({console}) is not admitted"
    )
    assert "web server → worker log server (tcp 8793)" in logs
    assert f"tasks → database (tcp 5432) from instance A ({console}) to RDS instance " in database


def test_a_console_launch_admits_every_flow_on_the_stacks_group(
    config: LaunchConfig, seeded: Seeded, tmp_path: Path
) -> None:
    console = console_stack(seeded)
    cluster = config.cluster.model_copy(update={"existing_stack": CONSOLE_STACK})
    on_console = config.model_copy(update={"cluster": cluster})
    evidence, _, _ = _launch(on_console, seeded, tmp_path, console=console)
    assert violations(evidence) == []


def test_a_launch_whose_services_were_all_deleted_needs_no_flow(
    config: LaunchConfig, seeded: Seeded, tmp_path: Path
) -> None:
    """After `destroy` no task runs, so the rules it revoked drop no flow; a service left
    running keeps the rule judging."""
    console = console_stack(seeded)
    evidence, aws, _ = _launch(config, seeded, tmp_path, console=console)
    assert len(_rule_says(evidence)) == 4
    ecs = aws.client("ecs")
    with recording() as later:
        ecs.create_service(
            cluster="airflow-staging",
            serviceName="airflow-staging-worker",
            taskDefinition="airflow-staging-worker",
            desiredCount=1,
            serviceConnectConfiguration={"enabled": True, "namespace": "airflow-staging"},
        )
        ecs.delete_service(
            cluster="airflow-staging", service="airflow-staging-webserver", force=True
        )
    evidence.calls += later.calls
    assert len(_rule_says(evidence)) == 4  # the worker still runs
    with recording() as destroyed:
        arn = ecs.describe_services(cluster="airflow-staging", services=["airflow-staging-worker"])[
            "services"
        ][0]["serviceArn"]
        ecs.delete_service(cluster="airflow-staging", service=arn, force=True)
    evidence.calls += destroyed.calls
    assert _rule_says(evidence) == []
