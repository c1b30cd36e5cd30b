"""What the wizard asks at each step, as data: the TUI's forms and the plain prompts share it.

A question names a config field by its dotted path (`network.vpc_id`); its label, kind, fixed
choices and help text come from the config models themselves (a `Literal` is a fixed choice, a
`list[str]` a list, a field's `description` its help), so the forms cannot drift from what the
config accepts. Live choices come from the step's `discover`, keyed by the same path.

Answers are applied with `with_answers`, which validates the whole config and reports every
problem by field, in the config models' own words.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from wizard.config import LaunchConfig
from wizard.errors import Problem, ProblemsError, quoted

Kind = Literal["text", "int", "bool", "choice", "list"]


@dataclass(frozen=True)
class Question:
    """One field of the config, as a form or a prompt asks for it."""

    path: str
    """The dotted config path, also the key of `discover`'s choices."""
    label: str
    kind: Kind
    help: str = ""
    options: tuple[str, ...] = ()
    """Fixed choices (from a `Literal`); live ones come from `discover`."""
    discovered: bool = False
    """Whether the step's `discover` lists choices for it (with manual entry as a fallback)."""


_ASKED: dict[str, tuple[tuple[str, str], ...]] = {
    "account": (
        ("name", "Launch name"),
        ("environment", "Environment"),
        ("aws.region", "AWS region"),
        ("aws.profile", "AWS profile"),
        ("aws.endpoint_url", "Endpoint URL"),
    ),
    "network": (
        ("network.vpc_id", "VPC"),
        ("network.subnet_ids", "Private subnets"),
        ("network.public_subnet_ids", "Public subnets"),
        ("network.security_group_ids", "Instance security groups"),
    ),
    "iam": (
        ("iam.execution_role_arn", "Task execution role ARN"),
        ("iam.task_role_arn", "Task role ARN"),
    ),
    "s3_layout": (
        ("s3.bucket", "Bucket"),
        ("s3.create_bucket", "Create the bucket"),
        ("s3.prefix", "Prefix"),
        ("s3.environments", "Environments"),
    ),
    "bootstrap": (
        ("bootstrap.os", "Operating system"),
        ("bootstrap.mount_tool", "S3 mount tool"),
        ("bootstrap.mount_point", "Mount point"),
    ),
    "database": (
        ("database.mode", "Database"),
        ("database.rds_instance_id", "RDS instance"),
        ("database.engine", "Engine"),
        ("database.database_name", "Database name"),
        ("database.username", "Airflow's database user"),
        ("database.run_sql", "Run the SQL"),
        ("database.admin_username", "Admin user"),
        ("database.host", "Host override (tunnel)"),
        ("database.port", "Port override"),
    ),
    "redis": (
        ("redis.mode", "Broker"),
        ("redis.replication_group_id", "Replication group id"),
        ("redis.engine", "Engine"),
        ("redis.node_type", "Node type"),
        ("redis.transit_encryption", "In-transit encryption"),
        ("redis.endpoint", "Existing endpoint"),
        ("redis.broker_db", "Broker database number"),
    ),
    "image": (
        ("image.ecr_repository", "ECR repository"),
        ("image.tag", "Image tag"),
        ("image.create_repository", "Create the repository"),
    ),
    "secrets": (
        ("airflow.secrets.fernet_key", "Fernet key parameter"),
        ("airflow.secrets.sql_alchemy_conn", "Database URL parameter"),
        ("airflow.secrets.result_backend", "Result backend parameter"),
        ("airflow.secrets.google_client_id", "Google client id parameter"),
        ("airflow.secrets.google_client_secret", "Google client secret parameter"),
    ),
    "cluster": (
        ("cluster.name", "Cluster name"),
        ("cluster.existing_stack", "Console-made stack to patch"),
        ("cluster.instance_type", "Instance type"),
        ("cluster.min_size", "Minimum instances"),
        ("cluster.max_size", "Maximum instances"),
    ),
    "task_definitions": (
        ("airflow.version", "Airflow version"),
        ("airflow.home", "AIRFLOW_HOME in the image"),
        ("airflow.log_driver", "Container logs"),
        ("airflow.parallelism", "Parallelism"),
        ("airflow.log_level", "Log level"),
    ),
    "services": (
        ("web.load_balancer", "Load balancer"),
        ("web.certificate_arn", "ACM certificate ARN"),
        ("web.allowed_cidrs", "Allowed CIDRs"),
        ("components.webserver.desired_count", "Web servers"),
        ("components.worker.desired_count", "Workers"),
    ),
}

_DISCOVERED = frozenset(
    {
        "network.vpc_id",
        "network.subnet_ids",
        "network.public_subnet_ids",
        "network.security_group_ids",
        "s3.bucket",
        "database.rds_instance_id",
        "redis.replication_group_id",
        "image.ecr_repository",
        "image.tag",
        "cluster.existing_stack",
    }
)
"""The fields some step's `discover` lists choices for."""

_FIXED_OPTIONS = {"airflow.version": ("3.3", "3.2", "3.1", "3.0", "2.11", "2.10", "1.10")}
"""Choices a `Literal` does not give (a free-form field with a known set of good answers)."""


def questions(step: str) -> tuple[Question, ...]:
    """The questions of one step, in the order they are asked (none for an unknown step)."""
    return tuple(_question(path, label) for path, label in _ASKED.get(step, ()))


def all_questions() -> dict[str, tuple[Question, ...]]:
    """Every step's questions, by step name."""
    return {step: questions(step) for step in _ASKED}


def _question(path: str, label: str) -> Question:
    annotation, description = _field(path)
    options: tuple[str, ...] = _FIXED_OPTIONS.get(path, ())
    kind: Kind = "text"
    literal = _literal_values(annotation)
    if literal:
        kind, options = "choice", literal
    elif options:
        kind = "choice"
    elif annotation is bool:
        kind = "bool"
    elif annotation is int:
        kind = "int"
    elif typing.get_origin(annotation) is list:
        kind = "list"
    return Question(
        path=path,
        label=label,
        kind=kind,
        help=description,
        options=options,
        discovered=path in _DISCOVERED,
    )


def _field(path: str) -> tuple[Any, str]:
    """The annotation and description of the model field at `path`."""
    model: type[BaseModel] = LaunchConfig
    parts = path.split(".")
    annotation: Any = None
    description = ""
    index = 0
    while index < len(parts):
        info = model.model_fields[parts[index]]
        annotation, description = info.annotation, info.description or ""
        index += 1
        if typing.get_origin(annotation) is dict:  # components.NAME.field
            annotation = typing.get_args(annotation)[1]
            index += 1
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
    return _unwrapped(annotation), description


def _unwrapped(annotation: Any) -> Any:
    """`Annotated[str, rule]` is `str`; an optional `X | None` is `X`."""
    if typing.get_origin(annotation) is typing.Annotated:
        return _unwrapped(typing.get_args(annotation)[0])
    if isinstance(annotation, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _unwrapped(members[0])
    return annotation


def _literal_values(annotation: Any) -> tuple[str, ...]:
    if typing.get_origin(annotation) is Literal:
        return tuple(str(value) for value in typing.get_args(annotation))
    return ()


def value_of(config: LaunchConfig, path: str) -> Any:
    """The config's value at a dotted path."""
    node: Any = config.model_dump()
    for part in path.split("."):
        node = node[part]
    return node


def text_of(question: Question, value: Any) -> str:
    """A value as a form shows it in a text field (lists comma-separated)."""
    if question.kind == "list":
        return ", ".join(str(item) for item in value)
    if question.kind == "bool":
        return "yes" if value else "no"
    return str(value)


def parse_answer(question: Question, text: str) -> Any:
    """A text answer as the field's type.

    Raises:
        ProblemsError: an `int` field given something that is not a whole number.
    """
    text = text.strip()
    if question.kind == "list":
        return [item.strip() for item in text.replace("\n", ",").split(",") if item.strip()]
    if question.kind == "int":
        try:
            return int(text or "0")
        except ValueError:
            raise ProblemsError(
                [Problem(question.path, f"{quoted(text)} must be a whole number")]
            ) from None
    if question.kind == "bool":
        return text.lower() in ("yes", "y", "true", "1", "on")
    return text


def with_answers(config: LaunchConfig, answers: Mapping[str, Any]) -> LaunchConfig:
    """The config with the answers set, validated as a whole.

    Raises:
        ProblemsError: every problem, each naming its field, in the config models' words.
    """
    from wizard.config_file import problems_from

    data = config.model_dump()
    for path, value in answers.items():
        *parents, leaf = path.split(".")
        node = data
        for part in parents:
            node = node[part]
        node[leaf] = value
    try:
        return LaunchConfig.model_validate(data)
    except ValidationError as error:
        raise ProblemsError(problems_from(error), title="Check these fields") from error
