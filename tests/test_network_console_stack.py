"""The network step over a console-made cluster stack (`cluster.existing_stack`): the instances
carry the console's own group (the patch keeps it), so the launch's rules for the instances go
there, with consent; destroy revokes only those and leaves the group as it found it."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import boto3
import pytest

from tests.network_fixtures import Seeded, console_stack
from tests.test_step_network import STEP, _context, _group, _ingress, _state
from wizard.config import LaunchConfig
from wizard.destroy import destroy
from wizard.errors import WizardError
from wizard.sandbox import CONSOLE_STACK
from wizard.state import StateFile
from wizard.steps.base import Action
from wizard.steps.provisioning import ensure_security_group
from wizard.steps.redis import RedisStep

REDIS = RedisStep()


def _on_console(config: LaunchConfig, **network: object) -> LaunchConfig:
    cluster = config.cluster.model_copy(update={"existing_stack": CONSOLE_STACK})
    changes: dict[str, object] = {"cluster": cluster}
    if network:
        changes["network"] = config.network.model_copy(update=network)
    return config.model_copy(update=changes)


def _rules(seeded: Seeded, *groups: str) -> list[dict[str, object]]:
    """Every rule of the groups, without the ids AWS gives them (to compare before and after)."""
    found = seeded.ec2.describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": list(groups)}]
    )["SecurityGroupRules"]
    return sorted(
        ({k: v for k, v in r.items() if k != "SecurityGroupRuleId"} for r in found), key=repr
    )


def _updates_on(plan_actions: list[Action], group: str) -> set[str]:
    return {
        a.name.split(": ", 1)[1]
        for a in plan_actions
        if a.kind == "ec2:security-group-rule" and a.name.startswith(f"{group}: ")
    }


def test_the_console_stacks_group_gets_the_rules_with_consent_and_destroy_leaves_it_as_found(
    config: LaunchConfig, seeded: Seeded, tmp_path: Path
) -> None:
    console = console_stack(seeded)
    config = _on_console(config)
    before = _rules(seeded, console, seeded.rds_group)

    refused = _context(config, yes=False)
    plan = STEP.plan(refused)
    (group,) = [a for a in plan.actions if a.kind == "ec2:security-group" and a.name == console]
    assert group.verb == "check"
    assert f"the instances of {CONSOLE_STACK} carry it" in group.detail
    assert "destroy removes only the rules the launch added" in group.detail
    # no group of the launch's own for instances that would never carry it
    assert not [a for a in plan.actions if a.name.startswith("airflow-staging-instances")]
    updates = [a for a in plan.changes if a.name.startswith(f"{console}: ")]
    assert {a.verb for a in updates} == {"update"}
    assert _updates_on(plan.changes, console) == {
        "tcp 32768-65535 from airflow-staging-load-balancer (new)",
        "tcp 8080 from airflow-staging-load-balancer (new)",
        f"tcp 32768-65535 from {console}",  # the API server's Service Connect proxy
        f"tcp 8793 from {console}",  # the worker's log server
    }
    assert _updates_on(plan.changes, seeded.rds_group) == {f"tcp 5432 from {console}"}
    consent = [p for p in plan.consents if p.startswith(f"security group {console} of ")]
    assert len(consent) == 4, plan.consents
    assert all(f"of the instances of {CONSOLE_STACK} does not admit" in p for p in consent)
    assert all("a group this launch does not own" in p for p in consent)
    assert not [p for p in plan.problems if "does not admit" in p]  # consent, not a problem
    with pytest.raises(WizardError, match=f"security group {console}"):
        STEP.apply(refused)
    assert refused.aws.recorder.mutating() == {}

    state = _state(tmp_path, config)
    STEP.apply(_context(config, state))
    (balancer,) = _group(seeded.ec2, seeded.vpc, "airflow-staging-load-balancer")
    assert _ingress(seeded.ec2, console) == {
        (32768, 65535, balancer["GroupId"]),
        (8080, 8080, balancer["GroupId"]),
        (32768, 65535, console),
        (8793, 8793, console),
    }
    assert _ingress(seeded.ec2, seeded.rds_group) == {(5432, 5432, console)}
    assert _group(seeded.ec2, seeded.vpc, "airflow-staging-instances") == []
    outputs = state.step("network").outputs
    assert outputs["instance_security_group_ids"] == [console]
    assert outputs["instance_security_group_id"] == console
    recorded = {(r.kind, r.id): r.created for r in state.created_resources(created_only=False)}
    assert recorded[("ec2:security-group", console)] is False  # adopted, never deleted
    rules = seeded.ec2.describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": [console]}]
    )["SecurityGroupRules"]
    added = [r for r in rules if not r["IsEgress"]]
    for rule in added:
        assert recorded[("ec2:security-group-rule", rule["SecurityGroupRuleId"])] is True
        assert {"Key": "airflow-ecs-wizard:launch", "Value": "airflow-staging"} in rule["Tags"]

    again = _context(config, StateFile.open(state.path))
    assert STEP.plan(again).changes == []
    STEP.apply(again)
    assert again.aws.recorder.mutating() == {}

    result = destroy(again.aws, StateFile.open(state.path), delete_data=False)
    assert result.failed == []
    assert _rules(seeded, console, seeded.rds_group) == before
    assert [g["GroupId"] for g in _group(seeded.ec2, seeded.vpc, "console-ecs-instances")] == [
        console
    ]
    assert _group(seeded.ec2, seeded.vpc, "airflow-staging-load-balancer") == []


def test_naming_the_stacks_group_is_consent_and_naming_another_is_a_problem(
    config: LaunchConfig, seeded: Seeded
) -> None:
    console = console_stack(seeded)
    named = STEP.plan(_context(_on_console(config, security_group_ids=[console]), yes=False))
    # only the database's group still asks: naming the stack's group consents to its rules
    (consent,) = named.consents
    assert "RDS instance staging-rds does not admit" in consent
    assert len(_updates_on(named.changes, console)) == 4

    other = seeded.ec2.create_security_group(GroupName="other", Description="x", VpcId=seeded.vpc)[
        "GroupId"
    ]
    wrong = STEP.plan(_context(_on_console(config, security_group_ids=[other])))
    (problem,) = wrong.problems
    assert problem.startswith(f"network.security_group_ids names {other}, but the instances of")
    assert f"carry {console}" in problem
    assert "leave network.security_group_ids empty" in problem


def test_a_missing_console_stack_is_a_problem_for_the_network_step_too(
    config: LaunchConfig, seeded: Seeded
) -> None:
    plan = STEP.plan(_context(_on_console(config)))
    assert plan.problems == [
        f"stack {CONSOLE_STACK} (cluster.existing_stack) does not exist in us-east-1: the "
        "launch's rules for the instances go on the security groups its instances carry"
    ]


def test_the_instance_group_an_earlier_version_made_on_a_console_launch_is_retired(
    config: LaunchConfig, seeded: Seeded, tmp_path: Path
) -> None:
    """An earlier version made the launch's own instance group on console launches too, and
    no instance carried it. Re-applied, the rules go on the stack's group; once every step
    applied, the old group goes, with the launch's rules that named it."""
    console = console_stack(seeded)
    state = _state(tmp_path, config)
    earlier = _context(config, state)  # no cluster.existing_stack: what the earlier version did
    STEP.apply(earlier)
    (old,) = _group(seeded.ec2, seeded.vpc, "airflow-staging-instances")
    cache = ensure_security_group(REDIS, earlier, "airflow-staging-cache", 6379, "Airflow broker")
    other = seeded.ec2.create_security_group(
        GroupName="someone-elses", Description="x", VpcId=seeded.vpc
    )["GroupId"]

    ctx = _context(_on_console(config), StateFile.open(state.path))
    STEP.apply(ctx)
    ensure_security_group(REDIS, ctx, "airflow-staging-cache", 6379, "Airflow broker")
    assert _ingress(seeded.ec2, cache) == {(6379, 6379, old["GroupId"]), (6379, 6379, console)}

    # a rule the launch did not make keeps the group
    seeded.ec2.authorize_security_group_ingress(
        GroupId=other,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "UserIdGroupPairs": [{"GroupId": old["GroupId"]}],
            }
        ],
    )
    said: list[str] = []
    kept = _context(_on_console(config), StateFile.open(state.path))
    kept.progress = said.append
    STEP.retire(kept)
    assert kept.aws.recorder.mutating() == {}
    (message,) = said
    assert f"rules the launch did not make name it ({other})" in message
    seeded.ec2.revoke_security_group_ingress(
        GroupId=other,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "UserIdGroupPairs": [{"GroupId": old["GroupId"]}],
            }
        ],
    )

    # nor while an instance still carries it (AWS: DependencyViolation)
    interface = seeded.ec2.create_network_interface(
        SubnetId=seeded.private_a, Groups=[old["GroupId"]]
    )["NetworkInterface"]["NetworkInterfaceId"]
    said.clear()
    STEP.retire(kept)
    assert kept.aws.recorder.mutating() == {}
    (message,) = said
    assert "1 network interface(s) still carry it" in message
    seeded.ec2.delete_network_interface(NetworkInterfaceId=interface)

    retired = StateFile.open(state.path)
    STEP.retire(_context(_on_console(config), retired))
    assert _group(seeded.ec2, seeded.vpc, "airflow-staging-instances") == []
    assert _ingress(seeded.ec2, seeded.rds_group) == {(5432, 5432, console)}
    assert _ingress(seeded.ec2, cache) == {(6379, 6379, console)}
    recorded = {r.id for r in StateFile.open(state.path).created_resources(created_only=False)}
    assert old["GroupId"] not in recorded
    rules = seeded.ec2.describe_security_group_rules()["SecurityGroupRules"]
    assert {r["SecurityGroupRuleId"] for r in rules} >= {
        i for i in recorded if i.startswith("sgr-")
    }  # no record of a rule that is gone
    again = _context(_on_console(config), StateFile.open(state.path))
    STEP.retire(again)
    assert again.aws.recorder.mutating() == {}


def test_a_launch_template_without_groups_means_the_vpcs_default_group(
    config: LaunchConfig, seeded: Seeded
) -> None:
    """EC2 gives an instance launched with no group the VPC's default group."""
    template = json.loads(
        (resources.files("wizard") / "data" / "console-cluster-stack.json").read_text()
    )
    data = template["Resources"]["ECSLaunchTemplate"]["Properties"]["LaunchTemplateData"]
    del data["SecurityGroupIds"]
    del template["Parameters"]["SecurityGroupIds"]
    cloudformation = boto3.client(
        "cloudformation", endpoint_url=config.aws.endpoint_url, region_name="us-east-1"
    )
    cloudformation.create_stack(
        StackName=CONSOLE_STACK,
        TemplateBody=json.dumps(template),
        Parameters=[
            {"ParameterKey": "VpcId", "ParameterValue": seeded.vpc},
            {"ParameterKey": "SubnetIds", "ParameterValue": seeded.private_a},
        ],
    )
    (default,) = _group(seeded.ec2, seeded.vpc, "default")
    plan = STEP.plan(_context(_on_console(config)))
    assert plan.problems == []
    (group,) = [a for a in plan.actions if a.kind == "ec2:security-group" and a.verb == "check"]
    assert group.name == default["GroupId"]
    assert group.detail.startswith("default: the instances of")
    assert len(_updates_on(plan.changes, default["GroupId"])) == 4


def test_before_the_network_step_applied_the_cache_plan_admits_the_stacks_group(
    config: LaunchConfig, seeded: Seeded
) -> None:
    console = console_stack(seeded)
    ctx = _context(_on_console(config), read_only=True)
    plan = REDIS.plan(ctx)
    assert not [w for w in plan.warnings if "no instance security group is known" in w]
    (ingress,) = [a for a in plan.actions if a.kind == "ec2:ingress"]
    assert ingress.detail == f"from {console}"
