"""What a finished launch tells its operator: where Airflow is, how to log in, what was made.

The CLI prints it and the TUI's summary screen shows it; neither shows a secret value, only the
command that fetches one.
"""

from __future__ import annotations

import shlex
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from wizard.config import LaunchConfig
from wizard.state import Resource, StateFile
from wizard.steps.load_balancer import cleartext_warnings

_CONSOLE_PAGES = {
    "cloudformation:stack": "cloudformation/home?region={region}#/stacks/stackinfo?stackId={id}",
    "ec2:security-group": "ec2/home?region={region}#SecurityGroup:groupId={id}",
    "ecr:repository": "ecr/repositories/private/{account}/{id}?region={region}",
    "ecs:service": "ecs/v2/clusters/{cluster}/services/{name}?region={region}",
    "ecs:task-definition": "ecs/v2/task-definitions/{family}?region={region}",
    "elasticache:replication-group": "elasticache/home?region={region}#/redis/{id}",
    "elbv2:load-balancer": "ec2/home?region={region}#LoadBalancers:search={name}",
    "elbv2:target-group": "ec2/home?region={region}#TargetGroups:search={name}",
    "iam:role": "iam/home#/roles/details/{name}",
    "rds:instance": "rds/home?region={region}#database:id={id}",
    "s3:bucket": "s3/buckets/{id}?region={region}",
    "servicediscovery:namespace": "cloudmap/home?region={region}#namespaces/{id}",
    "ssm:parameter": "systems-manager/parameters/{id}/description?region={region}",
}


def console_url(resource: Resource, *, region: str, account_id: str, cluster: str) -> str:
    """The AWS console page of a resource ("" for kinds the console has no page for)."""
    page = _CONSOLE_PAGES.get(resource.kind)
    if page is None:
        return ""
    identifier = resource.id
    name = identifier.rsplit("/", 1)[-1].rsplit(":", 1)[-1] if "/" in identifier else identifier
    if resource.kind == "elbv2:load-balancer" or resource.kind == "elbv2:target-group":
        name = identifier.split("/")[-2] if identifier.count("/") >= 2 else name
    family = identifier.rsplit("/", 1)[-1].split(":")[0]
    fields = {
        "region": resource.region or region,
        "account": account_id,
        "cluster": cluster,
        "id": urllib.parse.quote(identifier, safe=""),
        "name": name,
        "family": family,
    }
    return "https://console.aws.amazon.com/" + page.format(**fields)


def replay_command(config_path: str, state_path: str) -> str:
    """The command that runs a launch headless (it applies nothing that has applied)."""
    return (
        f"airflow-ecs-wizard apply --config {shlex.quote(config_path)} "
        f"--state {shlex.quote(state_path)} --yes"
    )


@dataclass(frozen=True)
class CreatedRow:
    """One resource the launch created, with its console page."""

    kind: str
    id: str
    console_url: str


@dataclass(frozen=True)
class LaunchSummary:
    """Everything the operator needs once the launch is done."""

    web_url: str
    admin_username: str
    password_command: str
    """The command that prints the Admin password ("" when Google login replaces it)."""
    state_path: Path
    config_path: Path
    replay_command: str
    created: list[CreatedRow]
    warnings: list[str] = field(default_factory=list)
    """What the operator should know about how the launch is reached (e.g. cleartext logins)."""


def summarize(
    config: LaunchConfig, state: StateFile, *, config_path: Path, state_path: Path
) -> LaunchSummary:
    """The summary of a launch from its config and state (no AWS call)."""
    region = state.state.region
    password_command = ""
    if config.airflow.admin_user:
        parameter = config.secret_name("admin_password")
        password_command = (
            f"aws ssm get-parameter --with-decryption --region {region} --name {parameter} "
            "--query Parameter.Value --output text"
        )
    created = [
        CreatedRow(
            resource.kind,
            resource.id,
            console_url(
                resource,
                region=region,
                account_id=state.state.account_id,
                cluster=str(
                    state.step("cluster").outputs.get("cluster_name") or config.cluster_name
                ),
            ),
        )
        for resource in reversed(state.created_resources())
    ]
    replay = replay_command(str(config_path), str(state_path))
    return LaunchSummary(
        web_url=str(state.step("services").outputs.get("web_url", "")),
        admin_username=config.airflow.admin_username if config.airflow.admin_user else "",
        password_command=password_command,
        state_path=state_path,
        config_path=config_path,
        replay_command=replay,
        created=created,
        warnings=cleartext_warnings(config),
    )
