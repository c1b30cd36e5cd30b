"""What a finished launch tells its operator: where Airflow is, how to log in, what was made.

The CLI prints it and the TUI's summary screen shows it; neither shows a secret value, only the
command that fetches one.
"""

from __future__ import annotations

import shlex
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from wizard.checklist import CHECKLIST
from wizard.config import LaunchConfig
from wizard.state import Resource, StateFile
from wizard.steps.load_balancer import HEALTHY, cleartext_warnings, health_path

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
    """Everything the operator needs once the launch is done, and whether it is."""

    up: bool
    """The services are stable and the web health check answered: only then is Airflow up."""
    headline: str
    """"Airflow is up." or why it is not (yet)."""
    progress: dict[str, list[str]]
    """The steps' titles by status (applied, running, failed, pending), when not up."""
    next_steps: list[str]
    """What to do next, when not up."""
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


UP = "Airflow is up."


def summarize(
    config: LaunchConfig,
    state: StateFile,
    *,
    config_path: Path,
    state_path: Path,
    statuses: Mapping[str, str] | None = None,
) -> LaunchSummary:
    """The summary of a launch from its config and state (no AWS call).

    Args:
        statuses: each step's status as the caller knows it (the TUI knows which are running);
            by default, as the state records it.
    """
    region = state.state.region
    password_command = ""
    if config.airflow.admin_user:
        parameter = config.secret_name("admin_password")
        where = [f"--region {region}"]  # where the launch is: the same account, profile, endpoint
        if config.aws.profile:
            where.append(f"--profile {shlex.quote(config.aws.profile)}")
        if config.aws.endpoint_url:
            where.append(f"--endpoint-url {shlex.quote(config.aws.endpoint_url)}")
        password_command = (
            f"aws ssm get-parameter --with-decryption {' '.join(where)} --name {parameter} "
            "--query Parameter.Value --output text"
        )
    cluster = str(state.step("cluster").outputs.get("cluster_name") or config.cluster_name)
    created = [
        CreatedRow(
            resource.kind,
            resource.id,
            console_url(
                resource,
                region=region,
                account_id=state.state.account_id,
                cluster=cluster,
            ),
        )
        for resource in reversed(state.created_resources())
    ]
    replay = replay_command(str(config_path), str(state_path))
    if statuses is None:
        statuses = {name: state.step(name).status for name in CHECKLIST}
    health = str(state.step("services").outputs.get("web_health", ""))
    headline, progress, next_steps = _how_far(config, statuses, health, cluster)
    return LaunchSummary(
        up=headline == UP,
        headline=headline,
        progress=progress,
        next_steps=next_steps,
        web_url=str(state.step("services").outputs.get("web_url", "")),
        admin_username=config.airflow.admin_username if config.airflow.admin_user else "",
        password_command=password_command,
        state_path=state_path,
        config_path=config_path,
        replay_command=replay,
        created=created,
        warnings=cleartext_warnings(config),
    )


def _how_far(
    config: LaunchConfig, statuses: Mapping[str, str], health: str, cluster: str
) -> tuple[str, dict[str, list[str]], list[str]]:
    """The headline, the steps by status and what to do next (nothing when Airflow is up)."""
    by_status: dict[str, list[str]] = {}
    for name, title in CHECKLIST.items():
        status = statuses.get(name, "pending")
        status = status if status in ("applied", "running", "failed") else "pending"
        by_status.setdefault(status, []).append(title)
    applied = len(by_status.get("applied", []))
    if applied == len(CHECKLIST):
        if health == HEALTHY:
            return UP, {}, []
        path = health_path(config)
        return (
            f"The services are stable, but the web health check (GET {path}) has not "
            f"answered: {health or 'not checked'}.",
            by_status,
            [
                "Look at the web service's tasks and their log: aws ecs describe-services "
                f"--cluster {cluster} --services {config.name}-webserver",
                "Then apply again to check once more (the replay command below).",
            ],
        )
    next_steps = []
    if by_status.get("failed"):
        next_steps.append(
            f"Fix what stopped {', '.join(by_status['failed'])} (its error says what), then "
            "retry it in the wizard, or apply headless (the replay command below)."
        )
    if by_status.get("running"):
        next_steps.append(
            f"Wait for {', '.join(by_status['running'])}: it goes on in the background."
        )
    if by_status.get("pending"):
        next_steps.append(
            f"Preview and confirm the pending steps ({by_status['pending'][0]} first), "
            "or apply them headless (the replay command below)."
        )
    headline = f"Airflow is not up yet: {applied} of {len(CHECKLIST)} steps applied."
    return headline, by_status, next_steps
