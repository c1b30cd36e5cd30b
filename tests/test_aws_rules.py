"""Each of AWS's rules (tests/aws_rules.py) fails on a launch that breaks it, and holds on what
the wizard renders; the rules' bookkeeping itself (every call recorded, with its parameters,
from every thread)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError
from botocore.parsers import ResponseParserError

from tests.aws_rules import RULES, Evidence, recording, violations
from wizard.aws import Aws, AwsSettings
from wizard.config import LaunchConfig
from wizard.render import render_artifacts


def _aws(endpoint: str) -> Aws:
    return Aws(AwsSettings(region="us-east-1", endpoint_url=endpoint))


def _taskdef(config: LaunchConfig, component: str = "worker") -> dict[str, Any]:
    text = render_artifacts(config, "123456789012")[f"taskdef-{component}.json"]
    return dict(json.loads(text))


def test_every_rule_names_its_aws_source() -> None:
    assert RULES
    for rule in RULES.values():
        assert rule.source.startswith("https://docs.aws.amazon.com/"), rule.name
        assert " — " in rule.source, f"{rule.name}: say what the document says"


def test_calls_are_recorded_with_their_parameters_from_every_thread(aws_endpoint: str) -> None:
    aws = _aws(aws_endpoint)
    with recording() as evidence:
        threads = [
            threading.Thread(
                target=lambda n=n: aws.client("ssm").put_parameter(
                    Name=f"/rules/{n}", Value="v", Type="String"
                )
            )
            for n in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    names = sorted(call.params["Name"] for call in evidence.of("ssm", "PutParameter"))
    assert names == [f"/rules/{n}" for n in range(4)]
    assert {call.endpoint for call in evidence.calls} == {aws_endpoint}
    assert {call.region for call in evidence.calls} == {"us-east-1"}


def test_a_rendered_task_definition_keeps_the_rules(
    aws_endpoint: str, make_config: Callable[..., LaunchConfig]
) -> None:
    config = make_config()
    with recording() as evidence:
        ecs = _aws(aws_endpoint).client("ecs")
        for component in ("webserver", "worker", "initdb"):
            ecs.register_task_definition(**_taskdef(config, component))
    assert len(evidence.of("ecs", "RegisterTaskDefinition")) == 3
    assert violations(evidence) == []


@pytest.mark.breaks_aws_rule("no-secret-in-environment")
def test_a_secret_in_environment_breaks_the_rule(
    aws_endpoint: str, make_config: Callable[..., LaunchConfig]
) -> None:
    config = make_config()
    aws = _aws(aws_endpoint)
    document = _taskdef(config)
    fernet = "b2Zmb3JfdGhlX3J1bGVzX3Rlc3Rfb25seV9fX19fX18="
    with recording() as evidence:
        aws.client("ssm").put_parameter(
            Name="/rules/fernet", Value=fernet, Type="SecureString", Overwrite=True
        )
        broken = json.loads(json.dumps(document))
        broken["containerDefinitions"][0]["environment"].append(
            {"name": "AIRFLOW__CORE__FERNET_KEY", "value": fernet}
        )
        aws.client("ecs").register_task_definition(**broken)
    found = violations(evidence)
    assert len(found) == 1
    assert found[0].startswith("no-secret-in-environment: ")
    assert "AIRFLOW__CORE__FERNET_KEY is in environment" in found[0]

    # the same value under an innocent name is caught by its value
    with recording() as evidence:
        aws.client("ssm").put_parameter(
            Name="/rules/fernet", Value=fernet, Type="SecureString", Overwrite=True
        )
        broken = json.loads(json.dumps(document))
        broken["containerDefinitions"][0]["environment"].append(
            {"name": "MY_SETTING", "value": f"key={fernet}"}
        )
        aws.client("ecs").register_task_definition(**broken)
    assert [v.split("  [")[0] for v in violations(evidence)] == [
        f"no-secret-in-environment: {config.family('worker')}/worker: MY_SETTING holds a "
        "SecureString's value"
    ]


@pytest.mark.breaks_aws_rule("secrets-resolvable")
def test_a_secret_from_a_relative_path_breaks_the_rule(
    aws_endpoint: str, make_config: Callable[..., LaunchConfig]
) -> None:
    broken = _taskdef(make_config())
    broken["containerDefinitions"][0]["secrets"][0]["valueFrom"] = "airflow/fernet_key"
    with recording() as evidence:
        _aws(aws_endpoint).client("ecs").register_task_definition(**broken)
    assert [v.split(":")[0] for v in violations(evidence)] == ["secrets-resolvable"]


def test_skipping_an_unknown_rule_is_refused() -> None:
    with pytest.raises(ValueError, match="no such rules"):
        violations(Evidence(), skip=["no-such-rule"])


@pytest.mark.breaks_aws_rule("elasticache-auth-token-needs-tls")
def test_an_auth_token_without_tls_breaks_the_rule(aws_endpoint: str) -> None:
    elasticache = _aws(aws_endpoint).client("elasticache")
    group = {
        "ReplicationGroupDescription": "x",
        "Engine": "valkey",
        "CacheNodeType": "cache.t4g.small",
    }
    with recording() as evidence:  # moto takes both
        elasticache.create_replication_group(
            ReplicationGroupId="plain", AuthToken="0123456789abcdef0123", **group
        )
        elasticache.create_replication_group(
            ReplicationGroupId="underscore",
            AuthToken="0123456789_abcdef_0123",
            TransitEncryptionEnabled=True,
            **group,
        )
    assert [v.split("  [")[0] for v in violations(evidence)] == [
        "elasticache-auth-token-needs-tls: replication group plain: AuthToken without "
        "TransitEncryptionEnabled",
        "elasticache-auth-token-needs-tls: replication group underscore: the AuthToken has 22 "
        "characters or a character ElastiCache refuses",
    ]

    with recording() as evidence:
        elasticache.create_replication_group(
            ReplicationGroupId="right",
            AuthToken="0123456789abcdef0123",
            TransitEncryptionEnabled=True,
            **group,
        )
    assert violations(evidence) == []


# --- capacity providers and the services' updates (issue 9) -----------------------------------

PROVIDER_TEMPLATE = {
    "Resources": {
        "Cluster": {"Type": "AWS::ECS::Cluster", "Properties": {"ClusterName": "rules"}},
        "Provider": {
            "Type": "AWS::ECS::CapacityProvider",
            "Properties": {
                "AutoScalingGroupProvider": {
                    "AutoScalingGroupArn": "arn:aws:autoscaling:us-east-1:123456789012:"
                    "autoScalingGroup:x:autoScalingGroupName/rules",
                    "ManagedScaling": {"Status": "ENABLED", "TargetCapacity": 100},
                }
            },
        },
        "Association": {
            "Type": "AWS::ECS::ClusterCapacityProviderAssociations",
            "Properties": {
                "Cluster": {"Ref": "Cluster"},
                "CapacityProviders": [{"Ref": "Provider"}],
                "DefaultCapacityProviderStrategy": [
                    {"CapacityProvider": {"Ref": "Provider"}, "Weight": 1}
                ],
            },
        },
    }
}
CONTAINER = [{"name": "c", "image": "i", "memory": 128}]


def _messages(evidence: Evidence) -> list[str]:
    return [v.split("  [")[0] for v in violations(evidence)]


@pytest.mark.breaks_aws_rule("tasks-placed-by-the-capacity-provider")
def test_a_launch_type_in_a_cluster_with_a_capacity_provider_breaks_the_rule(
    aws_endpoint: str,
) -> None:
    aws = _aws(aws_endpoint)
    ecs = aws.client("ecs")
    # the stack was made before (a console stack): the rule reads its template
    aws.client("cloudformation").create_stack(
        StackName="rules", TemplateBody=json.dumps(PROVIDER_TEMPLATE)
    )
    ecs.register_task_definition(family="rules", containerDefinitions=CONTAINER)
    with recording() as evidence:
        ecs.create_service(cluster="rules", serviceName="a", taskDefinition="rules", desiredCount=0)
        ecs.create_service(
            cluster="rules",
            serviceName="b",
            taskDefinition="rules",
            desiredCount=0,
            launchType="EC2",
        )
    assert _messages(evidence) == [
        "tasks-placed-by-the-capacity-provider: CreateService b in rules has launchType EC2: "
        "its capacity provider never scales for it"
    ]
    with recording() as evidence:
        ecs.create_service(
            cluster="rules",
            serviceName="c",
            taskDefinition="rules",
            desiredCount=0,
            launchType="EC2",
            capacityProviderStrategy=[{"capacityProvider": "x", "weight": 1}],
        )
    assert _messages(evidence)[0] == (
        "tasks-placed-by-the-capacity-provider: CreateService in rules: both a launchType and a "
        "capacityProviderStrategy"
    )


def test_a_launch_type_in_a_cluster_without_a_provider_keeps_the_rule(aws_endpoint: str) -> None:
    aws = _aws(aws_endpoint)
    ecs = aws.client("ecs")
    ecs.create_cluster(clusterName="plain")
    ecs.register_task_definition(family="rules", containerDefinitions=CONTAINER)
    with recording() as evidence:
        ecs.create_service(
            cluster="plain",
            serviceName="b",
            taskDefinition="rules",
            desiredCount=0,
            launchType="EC2",
        )
    assert _messages(evidence) == []


def _service(ecs: Any, name: str, **extra: Any) -> None:
    ecs.create_service(
        cluster="rules", serviceName=name, taskDefinition="rules", desiredCount=0, **extra
    )


@pytest.mark.breaks_aws_rule("capacity-provider-change-redeploys")
def test_a_strategy_change_without_a_new_deployment_breaks_the_rule(aws_endpoint: str) -> None:
    ecs = _aws(aws_endpoint).client("ecs")
    ecs.create_cluster(clusterName="rules")
    ecs.register_task_definition(family="rules", containerDefinitions=CONTAINER)
    _service(ecs, "a")
    with recording() as evidence:
        strategy = [{"capacityProvider": "cp", "weight": 1}]
        ecs.update_service(cluster="rules", service="a", capacityProviderStrategy=strategy)
        ecs.update_service(
            cluster="rules", service="a", capacityProviderStrategy=strategy, forceNewDeployment=True
        )
    assert _messages(evidence) == [
        "capacity-provider-change-redeploys: UpdateService a changes the capacity provider "
        "strategy without forceNewDeployment"
    ]


@pytest.mark.breaks_aws_rule("update-keeps-service-connect-and-load-balancer")
def test_an_update_that_drops_service_connect_or_the_balancer_breaks_the_rule(
    aws_endpoint: str,
) -> None:
    ecs = _aws(aws_endpoint).client("ecs")
    ecs.create_cluster(clusterName="rules")
    ecs.register_task_definition(family="rules", containerDefinitions=CONTAINER)
    balancer = [{"targetGroupArn": "arn:aws:elasticloadbalancing:x", "containerName": "c"}]
    with recording() as evidence:
        _service(
            ecs,
            "web",
            loadBalancers=balancer,
            serviceConnectConfiguration={"enabled": True, "namespace": "rules"},
        )
        # omitted fields stay as they were: these keep both
        ecs.update_service(cluster="rules", service="web", desiredCount=0)
        ecs.update_service(cluster="rules", service="web", loadBalancers=balancer)
        ecs.update_service(
            cluster="rules", service="web", serviceConnectConfiguration={"enabled": False}
        )
        ecs.update_service(cluster="rules", service="web", loadBalancers=[])
    assert _messages(evidence) == [
        "update-keeps-service-connect-and-load-balancer: UpdateService rules/web turns Service "
        "Connect off",
        "update-keeps-service-connect-and-load-balancer: UpdateService rules/web removes its load "
        "balancer",
    ]


@pytest.mark.breaks_aws_rule("service-connect-client-for-its-alias")
def test_a_caller_of_the_alias_outside_service_connect_breaks_the_rule(aws_endpoint: str) -> None:
    ecs = _aws(aws_endpoint).client("ecs")
    ecs.create_cluster(clusterName="rules")
    caller = [
        {
            **CONTAINER[0],
            "environment": [
                {
                    "name": "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
                    "value": "http://airflow-api-server:8080/execution/",
                }
            ],
        }
    ]
    served = {
        "enabled": True,
        "namespace": "rules",
        "services": [
            {
                "portName": "api",
                "clientAliases": [{"port": 8080, "dnsName": "airflow-api-server"}],
            }
        ],
    }
    with recording() as evidence:
        ecs.register_task_definition(family="rules", containerDefinitions=CONTAINER)
        ecs.register_task_definition(family="worker", containerDefinitions=caller)
        _service(ecs, "api", serviceConnectConfiguration=served)
        ecs.create_service(
            cluster="rules", serviceName="worker", taskDefinition="worker", desiredCount=0
        )
        ecs.create_service(
            cluster="rules",
            serviceName="worker2",
            taskDefinition="worker",
            desiredCount=0,
            serviceConnectConfiguration={"enabled": True, "namespace": "rules"},
        )
    assert _messages(evidence) == [
        "service-connect-client-for-its-alias: rules/worker calls airflow-api-server but is no "
        "Service Connect client"
    ]

    # no service serves the alias at all (an upgrade that never turned Service Connect on)
    with recording() as evidence:
        ecs.register_task_definition(family="worker", containerDefinitions=caller)
        ecs.create_service(
            cluster="rules", serviceName="worker3", taskDefinition="worker", desiredCount=0
        )
    assert _messages(evidence) == [
        "service-connect-client-for-its-alias: rules/worker3 calls airflow-api-server but is no "
        "Service Connect client"
    ]


_TWO_PARAMETERS = {
    "Parameters": {
        "Kept": {"Type": "String", "Default": "template-default"},
        "Other": {"Type": "String", "Default": "x"},
    },
    "Resources": {
        "Marker": {
            "Type": "AWS::SSM::Parameter",
            "Properties": {"Name": "/rules/kept", "Type": "String", "Value": {"Ref": "Kept"}},
        }
    },
}


@pytest.mark.breaks_aws_rule("stack-update-gives-every-parameter")
def test_an_update_that_omits_a_parameter_breaks_the_rule(aws_endpoint: str) -> None:
    cloudformation = _aws(aws_endpoint).client("cloudformation")
    body = json.dumps(_TWO_PARAMETERS)
    with recording() as evidence:
        cloudformation.create_stack(
            StackName="rules",
            TemplateBody=body,
            Parameters=[{"ParameterKey": "Kept", "ParameterValue": "chosen"}],
        )
        cloudformation.create_change_set(
            StackName="rules",
            ChangeSetName="omits",
            ChangeSetType="UPDATE",  # AWS's default; moto's is CREATE
            TemplateBody=body,
            Parameters=[{"ParameterKey": "Other", "UsePreviousValue": True}],
        )
        cloudformation.create_change_set(
            StackName="rules",
            ChangeSetName="both",
            ChangeSetType="UPDATE",  # AWS's default; moto's is CREATE
            TemplateBody=body,
            Parameters=[
                {"ParameterKey": "Kept", "UsePreviousValue": True, "ParameterValue": "x"},
                {"ParameterKey": "Other", "UsePreviousValue": True},
            ],
        )
        with pytest.raises((ClientError, ResponseParserError)):  # moto: a 500; AWS: refused
            cloudformation.create_change_set(
                StackName="rules",
                ChangeSetName="new",
                ChangeSetType="UPDATE",
                TemplateBody=body,
                Parameters=[
                    {"ParameterKey": "Kept", "UsePreviousValue": True},
                    {"ParameterKey": "Other", "UsePreviousValue": True},
                    {"ParameterKey": "New", "UsePreviousValue": True},
                ],
            )
    assert [v.split("  [")[0] for v in violations(evidence)] == [
        "stack-update-gives-every-parameter: CreateChangeSet rules: Kept not given, so it goes "
        "back to its default",
        "stack-update-gives-every-parameter: CreateChangeSet rules: Kept has both "
        "UsePreviousValue and a value",
        "stack-update-gives-every-parameter: CreateChangeSet rules: UsePreviousValue for New, "
        "new to the stack",
    ]


def test_an_update_that_keeps_every_parameter_keeps_the_rule(aws_endpoint: str) -> None:
    cloudformation = _aws(aws_endpoint).client("cloudformation")
    body = json.dumps(_TWO_PARAMETERS)
    with recording() as evidence:
        cloudformation.create_stack(StackName="rules", TemplateBody=body)
        cloudformation.create_change_set(
            StackName="rules",
            ChangeSetName="keeps",
            ChangeSetType="UPDATE",  # AWS's default; moto's is CREATE
            TemplateBody=body,
            Parameters=[
                {"ParameterKey": "Kept", "UsePreviousValue": True},
                {"ParameterKey": "Other", "ParameterValue": "y"},
            ],
        )
    assert violations(evidence) == []


@pytest.mark.breaks_aws_rule("instance-refresh-preferences-valid")
def test_instance_refresh_preferences_out_of_range_break_the_rule(aws_endpoint: str) -> None:
    aws = _aws(aws_endpoint)
    template = aws.client("ec2").create_launch_template(
        LaunchTemplateName="rules", LaunchTemplateData={"ImageId": "ami-12c6146b"}
    )["LaunchTemplate"]["LaunchTemplateId"]
    autoscaling = aws.client("autoscaling")
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="rules",
        LaunchTemplate={"LaunchTemplateId": template},
        MinSize=0,
        MaxSize=1,
        AvailabilityZones=["us-east-1a"],
    )
    with recording() as evidence:
        autoscaling.start_instance_refresh(
            AutoScalingGroupName="rules", Preferences={"MaxHealthyPercentage": 250}
        )
    assert [v.split("  [")[0] for v in violations(evidence)] == [
        "instance-refresh-preferences-valid: rules: MaxHealthyPercentage 250 is outside 100-200",
        "instance-refresh-preferences-valid: rules: MaxHealthyPercentage without "
        "MinHealthyPercentage",
    ]
