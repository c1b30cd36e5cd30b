"""The launch inputs: `LaunchConfig`, the whole of `launch.toml`, and what derives from it.

Field names are the contract of `shared/spec/launch.example.toml`; each field's description is
what the TOML writer puts beside it. The sections are in `wizard.config_sections`. Rules across
sections live here; values derived from others (resource names, the remote log folder, the image
URI, secret parameter names) are properties here, never computed in templates.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator

from wizard import naming
from wizard.airflow_versions import (
    LONG_RUNNING_COMPONENTS,
    MIGRATE_COMPONENT,
    component_problems,
)
from wizard.config_sections import (
    AirflowSection,
    AwsSection,
    BootstrapSection,
    ClusterSection,
    Component,
    DatabaseSection,
    HealthCheck,
    IamSection,
    ImageSection,
    NetworkSection,
    RedisSection,
    S3Section,
    SecretsSection,
    Section,
    WebSection,
    rule,
)
from wizard.errors import quoted

__all__ = [
    "API_SERVER_ALIAS",
    "AirflowSection",
    "AwsSection",
    "BootstrapSection",
    "ClusterSection",
    "Component",
    "DatabaseSection",
    "HealthCheck",
    "IamSection",
    "ImageSection",
    "LaunchConfig",
    "NetworkSection",
    "RedisSection",
    "S3Section",
    "SecretsSection",
    "WebSection",
]

API_SERVER_ALIAS = "airflow-api-server"
"""The Service Connect name of the API server on Airflow 3 (stable: task definitions use it)."""


def _default_components() -> dict[str, Component]:
    return {
        "webserver": Component(),
        "scheduler": Component(),
        "worker": Component(desired_count=2),
        "flower": Component(memory=1024, memory_reservation=512),
        "triggerer": Component(memory=1024, memory_reservation=512),
        "dag_processor": Component(memory=2048, memory_reservation=1024),
    }


DEFAULT_MIGRATE = Component(desired_count=0, memory=2048, memory_reservation=1024)
"""The migrate task's resources when `[components.initdb]` is not given."""


class LaunchConfig(Section):
    """Everything one launch of Airflow on ECS needs. Loads `launch.toml`; see `config_file`."""

    name: Annotated[str, rule(naming.launch_name_problem)] = Field(
        description="launch name: state file and default resource names derive from it"
    )
    aws: AwsSection = Field(default_factory=dict, validate_default=True)
    network: NetworkSection = Field(default_factory=dict, validate_default=True)
    s3: S3Section = Field(default_factory=dict, validate_default=True)
    environment: str = Field("staging", description="one of s3.environments")
    bootstrap: BootstrapSection = Field(default_factory=dict, validate_default=True)
    database: DatabaseSection = Field(default_factory=dict, validate_default=True)
    redis: RedisSection = Field(default_factory=dict, validate_default=True)
    image: ImageSection = Field(default_factory=dict, validate_default=True)
    cluster: ClusterSection = Field(default_factory=dict, validate_default=True)
    web: WebSection = Field(default_factory=dict, validate_default=True)
    iam: IamSection = Field(default_factory=dict, validate_default=True)
    airflow: AirflowSection = Field(default_factory=dict, validate_default=True)
    components: dict[str, Component] = Field(default_factory=_default_components)

    @field_validator("environment")
    @classmethod
    def _environment_listed(cls, value: str, info: ValidationInfo) -> str:
        s3 = info.data.get("s3")
        if isinstance(s3, S3Section) and value not in s3.environments:
            raise ValueError(
                f"{quoted(value)} is not in s3.environments ({', '.join(s3.environments)}): "
                "add it there or choose one of them"
            )
        return value

    @field_validator("web")
    @classmethod
    def _public_subnets(cls, value: WebSection, info: ValidationInfo) -> WebSection:
        network = info.data.get("network")
        if (
            value.load_balancer == "internet-facing"
            and isinstance(network, NetworkSection)
            and len(network.public_subnet_ids) < 2
        ):
            raise ValueError(
                "load_balancer = internet-facing needs network.public_subnet_ids in two "
                "Availability Zones"
            )
        return value

    @field_validator("components")
    @classmethod
    def _components(cls, value: dict[str, Component], info: ValidationInfo) -> dict[str, Component]:
        value = {
            **{key: value[key] for key in LONG_RUNNING_COMPONENTS if key in value},
            **{key: item for key, item in value.items() if key not in LONG_RUNNING_COMPONENTS},
        }
        airflow = info.data.get("airflow")
        if not isinstance(airflow, AirflowSection):
            return value
        problems = component_problems(airflow.parsed_version, set(value))
        if problems:
            raise ValueError("; ".join(problems))
        return value

    # Derived names and values: one place, so templates and steps agree.

    @property
    def cluster_name(self) -> str:
        """The ECS cluster's name."""
        return self.cluster.name or self.name

    @property
    def replication_group_id(self) -> str:
        """The ElastiCache replication group's id."""
        return self.redis.replication_group_id or self.name

    @property
    def rds_instance_id(self) -> str:
        """The RDS instance that holds the Airflow database."""
        return self.database.rds_instance_id or f"{self.name}-db"

    @property
    def stack_name(self) -> str:
        """The CloudFormation stack of the cluster (the console's, when patching one)."""
        return self.cluster.existing_stack or f"{self.name}-cluster"

    @property
    def remote_log_folder(self) -> str:
        """Where Airflow's remote task logs go."""
        return self.airflow.remote_log_folder or self.s3.uri(self.environment, "logs").rstrip("/")

    @property
    def mount_source(self) -> str:
        """The S3 URI mounted at the mount point: the environment's folder."""
        return self.s3.uri(self.environment)

    @property
    def bootstrap_uri(self) -> str:
        """Where the bootstrap step uploads `bootstrap.sh` and the user data fetches it."""
        return f"s3://{self.s3.bucket}/{self.bootstrap_key}"

    @property
    def bootstrap_key(self) -> str:
        """The object key of the bootstrap file."""
        return self.s3.key(self.environment, "bootstrap/bootstrap.sh")

    @property
    def partition(self) -> str:
        """The ARN partition of the region."""
        if self.aws.region.startswith("cn-"):
            return "aws-cn"
        if self.aws.region.startswith("us-gov-"):
            return "aws-us-gov"
        return "aws"

    @property
    def account_id(self) -> str:
        """The account: given, or taken from a role ARN; empty when neither says."""
        if self.aws.account_id:
            return self.aws.account_id
        for arn in (self.iam.execution_role_arn, self.iam.task_role_arn):
            account = naming.role_arn_account(arn)
            if account:
                return account
        return ""

    def family(self, component: str) -> str:
        """The task-definition family of a component."""
        return f"{self.name}-{component.replace('_', '-')}"

    def component(self, key: str) -> Component:
        """A component's settings; the migrate task has defaults of its own."""
        if key == MIGRATE_COMPONENT:
            return self.components.get(key, DEFAULT_MIGRATE)
        return self.components[key]

    @property
    def long_running(self) -> list[str]:
        """The components that run as services, in launch order."""
        return [key for key in LONG_RUNNING_COMPONENTS if key in self.components]

    @property
    def rendered_components(self) -> list[str]:
        """Every component that gets a task definition: the services and the migrate task."""
        return [*self.long_running, MIGRATE_COMPONENT]

    def secret_name(self, key: str) -> str:
        """The SSM parameter name of one secret, e.g. `fernet_key` or `admin_password`."""
        return self.airflow.secrets.name(key, self.name)

    def container_port(self, key: str) -> int | None:
        """The port a component listens on: 8080 for the web server, 5555 for flower."""
        port = self.component(key).container_port
        return port or {"webserver": 8080, "flower": 5555}.get(key)

    @property
    def service_connect_namespace(self) -> str:
        """The Cloud Map namespace in which the services find the API server (Airflow 3)."""
        return self.name

    @property
    def execution_api_url(self) -> str:
        """Where Airflow 3 workers reach the execution API: given, or the Service Connect alias."""
        port = self.container_port("webserver")
        return self.airflow.execution_api_url or f"http://{API_SERVER_ALIAS}:{port}/execution/"

    def role_arn(self, role: Literal["execution", "task"], account_id: str) -> str:
        """A role's ARN: the configured one, or the one the iam step creates."""
        configured = self.iam.execution_role_arn if role == "execution" else self.iam.task_role_arn
        return configured or f"arn:{self.partition}:iam::{account_id}:role/{self.role_name(role)}"

    def role_name(self, role: Literal["execution", "task"]) -> str:
        """The name of a role the iam step creates. IAM is global: the region is in the name,
        so the same launch name in two regions never shares (or deletes) the other's roles."""
        return f"{self.name}-{self.aws.region}-{role}"

    @property
    def policy_name(self) -> str:
        """The name of the inline policy the iam step writes: unique to the launch and its
        region, so it never overwrites a policy it did not write."""
        return f"airflow-ecs-wizard-{self.name}-{self.aws.region}"

    def image_uri(self, account_id: str) -> str:
        """`ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO:TAG`."""
        suffix = ".cn" if self.partition == "aws-cn" else ""
        registry = f"{account_id}.dkr.ecr.{self.aws.region}.amazonaws.com{suffix}"
        return f"{registry}/{self.image.ecr_repository}:{self.image.tag}"

    def warnings(self) -> list[str]:
        """Choices that work but that a careful operator should know about."""
        notes = []
        if self.bootstrap.legacy_os:
            notes.append(
                "bootstrap.os = amazon-linux-2: Amazon Linux 2 reached end of support on "
                "2026-06-30; prefer amazon-linux-2023 with mountpoint-s3"
            )
        if self.bootstrap.mount_tool == "s3fs":
            notes.append(
                "bootstrap.mount_tool = s3fs: EPEL 7 is archived, so the bootstrap installs "
                "s3fs-fuse from the EPEL archive"
            )
        if self.cluster.associate_public_ip:
            notes.append(
                "cluster.associate_public_ip = true: the instances get public IP addresses "
                "(the runbook turns them off)"
            )
        if self.airflow.parsed_version.major == 2:
            notes.append(
                f"airflow.version = {self.airflow.version}: Airflow 2 reached end of life on "
                "2026-04-22; plan a move to 3.x"
            )
        return notes
