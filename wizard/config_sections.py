"""The sections of `launch.toml`: one pydantic model per table, with its own rules.

Rules that need two fields of one section live in field validators that read the earlier
field (`info.data`), so one pass reports every problem with the path of the field to fix.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal
from urllib.parse import quote

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from wizard import naming
from wizard.airflow_versions import AirflowVersion
from wizard.errors import quoted


def rule(check: Callable[[str], str | None], *, allow_empty: bool = False) -> AfterValidator:
    def validate(value: str) -> str:
        if allow_empty and value == "":
            return value
        problem = check(value)
        if problem:
            raise ValueError(f"{quoted(value)} {problem}")
        return value

    return AfterValidator(validate)


OptionalRoleArn = Annotated[str, rule(naming.role_arn_problem, allow_empty=True)]
SubnetId = Annotated[str, rule(naming.subnet_problem)]
SecurityGroupId = Annotated[str, rule(naming.security_group_problem)]
SsmName = Annotated[str, rule(naming.ssm_parameter_problem)]
Cidr = Annotated[str, rule(naming.cidr_problem)]


class Section(BaseModel):
    """A config table: unknown keys are errors (a typo must not be silently ignored), and
    defaults are validated too (a rule like "required with mode = existing" must see them)."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

    @field_validator("*", mode="before")
    @classmethod
    def _plain_text(cls, value: object, info: ValidationInfo) -> object:
        """Every string of the config, in any field or list: a sane length and no control
        characters, checked before the field's own rule (so a newline is named as such)."""
        limit = naming.MAX_COMMAND_TEXT if info.field_name == "command" else naming.MAX_TEXT
        for text in value if isinstance(value, list) else [value]:
            problem = naming.text_problem(text, limit) if isinstance(text, str) else None
            if problem:
                raise ValueError(f"{quoted(text)} {problem}")
        return value


class AwsSection(Section):
    """Where the launch goes."""

    account_id: Annotated[str, rule(naming.account_id_problem, allow_empty=True)] = Field(
        "", description="empty: from the IAM role ARNs offline, confirmed by STS at apply"
    )
    region: Annotated[str, rule(naming.region_problem)] = Field(
        "us-east-1", description="the region every resource is created in"
    )
    profile: Annotated[str, rule(naming.profile_problem, allow_empty=True)] = Field(
        "", description="empty: the default credential chain"
    )
    endpoint_url: str = Field("", description="empty: real AWS; set for an emulator")

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint_url(cls, value: str) -> str:
        problem = naming.url_problem(value) if value else None
        if problem:
            raise ValueError(f"{quoted(value)} {problem}, or be empty")
        return value.rstrip("/")


class NetworkSection(Section):
    """The VPC the cluster, the database and the cache live in."""

    vpc_id: Annotated[str, rule(naming.vpc_problem, allow_empty=True)] = Field(
        "", description="the VPC of the cluster"
    )
    subnet_ids: list[SubnetId] = Field(
        default_factory=list, description="private subnets for the instances"
    )
    public_subnet_ids: list[SubnetId] = Field(
        default_factory=list, description="for an internet-facing load balancer (two AZs)"
    )
    security_group_ids: list[SecurityGroupId] = Field(
        default_factory=list,
        description="empty: the network step creates the cluster's instance group",
    )


class S3Section(Section):
    """The bucket that holds DAGs, plugins, logs and the bootstrap file."""

    bucket: Annotated[str, rule(naming.bucket_problem, allow_empty=True)] = Field(
        "", description="the bucket name"
    )
    create_bucket: bool = Field(False, description="create the bucket (else it must exist)")
    prefix: Annotated[str, rule(naming.s3_prefix_problem)] = Field(
        "airflow", description="s3://BUCKET/PREFIX/ENVIRONMENT/{dags,plugins,logs,bootstrap}/"
    )
    environments: list[str] = Field(
        default_factory=lambda: ["staging", "prod"],
        min_length=1,
        description="the environment folders laid out under the prefix",
    )

    @field_validator("environments")
    @classmethod
    def _environments(cls, value: list[str]) -> list[str]:
        for env in value:
            if naming.s3_prefix_problem(env) or "/" in env:
                raise ValueError(f"{quoted(env)} must be one folder name such as staging or prod")
        if len(set(value)) != len(value):
            raise ValueError("lists an environment twice")
        return value

    def uri(self, environment: str, folder: str = "") -> str:
        """`s3://BUCKET/PREFIX/ENV/` or a folder under it, always with a trailing slash."""
        base = f"s3://{self.bucket}/{self.prefix}/{environment}/"
        return f"{base}{folder.strip('/')}/" if folder else base

    def key(self, environment: str, name: str) -> str:
        """The object key of `name` under the environment's folder."""
        return f"{self.prefix}/{environment}/{name}"


OperatingSystem = Literal["amazon-linux-2023", "amazon-linux-2"]
MountTool = Literal["mountpoint-s3", "s3fs"]


class BootstrapSection(Section):
    """How each ECS instance mounts the environment's folder of the bucket."""

    os: OperatingSystem = Field(
        "amazon-linux-2023",
        description="amazon-linux-2023 | amazon-linux-2 (the runbook's; past end of support)",
    )
    mount_tool: MountTool = Field(
        "mountpoint-s3", description="mountpoint-s3 | s3fs (the runbook's: EPEL + s3fs-fuse)"
    )
    mount_point: Annotated[str, rule(naming.absolute_path_problem)] = Field(
        "/mnt/airflow", description="where s3://BUCKET/PREFIX/ENV/ is mounted on the instance"
    )

    @field_validator("mount_tool")
    @classmethod
    def _mount_tool(cls, value: str, info: ValidationInfo) -> str:
        if value == "s3fs" and info.data.get("os") == "amazon-linux-2023":
            raise ValueError(
                "s3fs is not available on Amazon Linux 2023 (no EPEL): use mountpoint-s3, "
                "or set bootstrap.os = amazon-linux-2 for the runbook's legacy path"
            )
        return value

    @property
    def legacy_os(self) -> bool:
        """Amazon Linux 2 reached end of support on 2026-06-30."""
        return self.os == "amazon-linux-2"


class DatabaseSection(Section):
    """The Airflow metadata database, inside an RDS instance."""

    mode: Literal["existing", "new"] = Field(
        "existing", description="existing: a database in an RDS instance | new: a new instance"
    )
    rds_instance_id: Annotated[str, rule(naming.rds_instance_problem, allow_empty=True)] = Field(
        "", description="the RDS instance (with mode = new: empty names it after the launch)"
    )
    engine: Literal["postgres", "mysql"] = Field("postgres", description="postgres | mysql")
    instance_class: Annotated[
        str, rule(lambda v: naming.instance_type_problem(v, prefix="db."))
    ] = Field("db.t4g.medium", description="with mode = new")
    allocated_storage: int = Field(20, ge=20, le=65536, description="GiB, with mode = new")
    engine_version: Annotated[str, rule(naming.engine_version_problem, allow_empty=True)] = Field(
        "", description="with mode = new; empty: the engine's default"
    )
    database_name: Annotated[str, rule(naming.sql_identifier_problem)] = Field(
        "airflow", description="the database Airflow uses"
    )
    username: Annotated[str, rule(naming.sql_identifier_problem)] = Field(
        "airflow", description="the role Airflow connects as"
    )
    run_sql: Literal["direct", "print"] = Field(
        "direct", description="direct: connect and run it | print: show the SQL to run elsewhere"
    )
    host: Annotated[str, rule(naming.host_problem, allow_empty=True)] = Field(
        "", description="empty: the instance's endpoint; set for a tunnel"
    )
    port: int = Field(0, ge=0, le=65535, description="0: the instance's port")
    admin_username: Annotated[str, rule(naming.sql_identifier_problem)] = Field(
        "postgres", description="the admin password never comes from this file"
    )
    ca_bundle: Annotated[str, rule(naming.absolute_path_problem, allow_empty=True)] = Field(
        "",
        description="the RDS CA bundle's path inside the image (e.g. "
        "/etc/ssl/certs/rds-global-bundle.pem): the URLs verify the certificate and host name; "
        "empty: TLS required, certificate not verified",
    )

    @field_validator("rds_instance_id")
    @classmethod
    def _instance_for_existing(cls, value: str, info: ValidationInfo) -> str:
        if not value and info.data.get("mode") == "existing":
            raise ValueError(
                "is required with database.mode = existing: name the RDS instance that gets "
                "the Airflow database (e.g. staging-rds)"
            )
        return value

    @field_validator("username")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in {"postgres", "rdsadmin", "root", "admin", "mysql"}:
            raise ValueError(f"{quoted(value)} is reserved for administrators: choose e.g. airflow")
        return value

    @property
    def default_port(self) -> int:
        """The engine's standard port."""
        return 5432 if self.engine == "postgres" else 3306


class RedisSection(Section):
    """The Celery broker: an ElastiCache replication group."""

    mode: Literal["new", "existing"] = Field("new", description="new | existing")
    replication_group_id: Annotated[
        str, rule(naming.replication_group_problem, allow_empty=True)
    ] = Field("", description="empty: named after the launch")
    node_type: Annotated[str, rule(lambda v: naming.instance_type_problem(v, prefix="cache."))] = (
        Field("cache.t4g.small", description="with mode = new")
    )
    engine: Literal["valkey", "redis"] = Field("valkey", description="valkey | redis")
    transit_encryption: bool = Field(
        True,
        description="TLS: a rediss:// broker URL that checks the certificate (an existing "
        "ElastiCache group's own setting wins)",
    )
    auth_token: bool | None = Field(
        None,
        description="an AUTH token in SSM (airflow.secrets.redis_auth_token): generated for a new "
        "cache, read for an existing one; empty: as transit_encryption (an existing ElastiCache "
        "group's own setting wins)",
    )
    endpoint: str = Field("", description="HOST or HOST:PORT, with mode = existing")
    broker_db: int = Field(1, ge=0, le=15, description="redis://ENDPOINT:6379/1 as in the runbook")

    @field_validator("auth_token")
    @classmethod
    def _auth_needs_tls(cls, value: bool | None, info: ValidationInfo) -> bool | None:
        if (
            value
            and info.data.get("mode") == "new"
            and info.data.get("transit_encryption") is False
        ):
            raise ValueError(
                "= true needs redis.transit_encryption = true: ElastiCache takes an AUTH token "
                "only on a replication group with in-transit encryption"
            )
        return value

    @property
    def uses_auth_token(self) -> bool:
        """Whether the cache wants an AUTH token (unless an existing group says otherwise)."""
        return self.transit_encryption if self.auth_token is None else self.auth_token

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("mode") == "existing" and not value:
            raise ValueError(
                "is required with redis.mode = existing: give the primary endpoint, "
                "e.g. airflow.abc123.ng.0001.use1.cache.amazonaws.com"
            )
        host, _, port = value.partition(":")
        if value and (naming.host_problem(host) or "/" in value):
            raise ValueError(f"{quoted(value)} must be HOST or HOST:PORT, without a scheme")
        if port and not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
            raise ValueError(f"{quoted(value)} has a port that is not a number from 1 to 65535")
        return value

    def broker_url(self, endpoint: str, *, tls: bool | None = None, password: str = "") -> str:
        """Celery's broker URL for a primary endpoint (`HOST` or `HOST:PORT`).

        Args:
            endpoint: The cache's primary endpoint.
            tls: Whether the cache encrypts in transit (None: `transit_encryption`); then the
                URL is `rediss://` and Celery checks the certificate (`ssl_cert_reqs=required`).
            password: The AUTH token, if the cache wants one (URL-encoded into the URL).
        """
        host, _, port = endpoint.partition(":")
        tls = self.transit_encryption if tls is None else tls
        credentials = f":{quote(password, safe='')}@" if password else ""
        url = (
            f"{'rediss' if tls else 'redis'}://{credentials}{host}:{port or 6379}/{self.broker_db}"
        )
        return f"{url}?ssl_cert_reqs=required" if tls else url


class ImageSection(Section):
    """The Airflow image in ECR."""

    ecr_repository: Annotated[str, rule(naming.ecr_repository_problem)] = Field(
        "zdp-airflow", description="the ECR repository (the runbook's fork: zdp-airflow)"
    )
    tag: Annotated[str, rule(naming.image_tag_problem)] = Field(
        "latest", description="the image tag to run"
    )
    create_repository: bool = Field(False, description="create the repository if it is missing")
    architecture: Literal["", "amd64", "arm64"] = Field(
        "",
        description="the image's CPU architecture, checked against cluster.instance_type when "
        "ECR cannot tell (a single-platform image): amd64 | arm64; empty: not checked",
    )


class ClusterSection(Section):
    """The ECS cluster and its EC2 capacity."""

    name: Annotated[str, rule(naming.ecs_name_problem, allow_empty=True)] = Field(
        "", description="empty: the launch name"
    )
    instance_type: Annotated[str, rule(naming.instance_type_problem)] = Field(
        "m6i.xlarge", description="EC2 instance type of the container instances"
    )
    min_size: int = Field(1, ge=0, le=1000, description="Auto Scaling group minimum")
    max_size: int = Field(4, ge=1, le=1000, description="Auto Scaling group maximum")
    associate_public_ip: bool = Field(False, description="the runbook turns public IPs off")
    existing_stack: Annotated[str, rule(naming.stack_name_problem, allow_empty=True)] = Field(
        "", description="a console-made cluster stack to patch instead of creating one"
    )

    @field_validator("max_size")
    @classmethod
    def _sizes(cls, value: int, info: ValidationInfo) -> int:
        minimum = info.data.get("min_size")
        if minimum is not None and value < minimum:
            raise ValueError(f"({value}) must be at least cluster.min_size ({minimum})")
        return value

    @property
    def arm64(self) -> bool:
        """Graviton instance families (a1, m6g, c7gn, t4g, ...) need the arm64 AMI."""
        family = self.instance_type.split(".")[0]
        generation = family.lstrip("abcdefghijklmnopqrstuvwxyz-")
        return family == "a1" or "g" in generation.lstrip("0123456789")


class WebSection(Section):
    """How the operator reaches the web server (the API server on Airflow 3)."""

    load_balancer: Literal["internal", "internet-facing", "none"] = Field(
        "internal", description="internal | internet-facing | none (then target_group_arn)"
    )
    certificate_arn: Annotated[str, rule(naming.certificate_arn_problem, allow_empty=True)] = Field(
        "", description="ACM certificate for HTTPS on an internet-facing load balancer"
    )
    target_group_arn: Annotated[str, rule(naming.target_group_arn_problem, allow_empty=True)] = (
        Field("", description="use an existing target group instead of creating one")
    )
    allowed_cidrs: list[Cidr] = Field(
        default_factory=lambda: ["10.0.0.0/8"],
        description="who may reach the web UI through the load balancer",
    )

    @field_validator("certificate_arn")
    @classmethod
    def _certificate(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("load_balancer") == "internet-facing" and not value:
            raise ValueError(
                "is required with web.load_balancer = internet-facing: the UI is only "
                "served over HTTPS on the internet"
            )
        return value

    @field_validator("target_group_arn")
    @classmethod
    def _target_group(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("load_balancer") == "none" and not value:
            raise ValueError(
                "is required with web.load_balancer = none: name the target group the web "
                "server registers with, or choose internal"
            )
        return value


class IamSection(Section):
    """The roles of the tasks; empty means the iam step creates them."""

    execution_role_arn: OptionalRoleArn = Field(
        "", description="pulls the image and reads the secrets; empty: created"
    )
    task_role_arn: OptionalRoleArn = Field(
        "", description="what Airflow itself may do (S3 logs); empty: created"
    )


OptionalSsmName = Annotated[str, rule(naming.ssm_parameter_problem, allow_empty=True)]


class SecretsSection(Section):
    """SSM parameter names that the task definitions reference with `valueFrom`.

    An empty name is derived: `fernet_key` becomes `/airflow/NAME/fernet_key`, and every other
    one is named like `fernet_key` with its last segment replaced by the key.
    """

    fernet_key: OptionalSsmName = Field("", description="the Fernet key, generated once")
    sql_alchemy_conn: OptionalSsmName = Field("", description="the metadata database URL")
    result_backend: OptionalSsmName = Field("", description="Celery's result backend URL")
    google_client_id: OptionalSsmName = Field(
        "", description="Google OAuth login (web server); empty: no Google login"
    )
    google_client_secret: OptionalSsmName = Field(
        "", description="Google OAuth login (web server); empty: no Google login"
    )
    secret_key: OptionalSsmName = Field(
        "", description="[webserver]/[api] secret_key, shared by every component"
    )
    jwt_secret: OptionalSsmName = Field("", description="Airflow 3 [api_auth] jwt_secret")
    admin_password: OptionalSsmName = Field("", description="the first Admin user's password")
    db_password: OptionalSsmName = Field("", description="the Airflow database user's password")
    broker_url: OptionalSsmName = Field(
        "", description="the broker URL (with the AUTH token, if any), written by the redis step"
    )
    redis_auth_token: OptionalSsmName = Field(
        "",
        description="the cache's AUTH token: generated for a new cache, given for an existing one",
    )

    @field_validator("google_client_secret")
    @classmethod
    def _google_pair(cls, value: str, info: ValidationInfo) -> str:
        if bool(value) != bool(info.data.get("google_client_id", value)):
            raise ValueError(
                "set both google_client_id and google_client_secret for Google login, "
                "or leave both empty"
            )
        return value

    def name(self, key: str, launch_name: str) -> str:
        """The parameter name of one secret (see the class docstring for empty names)."""
        explicit: str = getattr(self, key)
        if explicit:
            return explicit
        base = self.fernet_key or f"/airflow/{launch_name}/fernet_key"
        if key == "fernet_key":
            return base
        separator = "/" if "/" in base else "."
        head, _, _ = base.rpartition(separator)
        return f"{head}{separator}{key}" if head else key

    @property
    def google_login(self) -> bool:
        """Whether the web server gets the Google OAuth client id and secret."""
        return bool(self.google_client_id and self.google_client_secret)


class AirflowSection(Section):
    """What runs in the containers."""

    version: str = Field(
        "3.3", description="MAJOR.MINOR: 1.10 | 2.7-2.11 | 3.x: commands, env names, components"
    )
    home: Annotated[str, rule(naming.absolute_path_problem)] = Field(
        "/opt/airflow",
        description="AIRFLOW_HOME in the image: /home/airflow/airflow in the runbook's fork",
    )
    log_driver: Literal["json-file", "awslogs"] = Field(
        "json-file", description="json-file (rotated) | awslogs"
    )
    remote_log_folder: str = Field("", description="empty: s3://BUCKET/PREFIX/ENVIRONMENT/logs")
    parallelism: int = Field(8, ge=1, le=10000, description="[core] parallelism")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        "INFO", description="[logging] logging_level"
    )
    docker_label_prefix: Annotated[str, rule(naming.label_prefix_problem)] = Field(
        "airflow", description="dockerLabels: es_index_prefix and service start with it"
    )
    log_topic: Annotated[str, rule(naming.kafka_topic_problem, allow_empty=True)] = Field(
        "", description="dockerLabels: kafka_topic of the log shipper"
    )
    pythonpath: Annotated[str, rule(naming.pythonpath_problem, allow_empty=True)] = Field(
        "", description="PYTHONPATH in the containers; empty: HOME/dags"
    )
    execution_api_url: str = Field(
        "",
        description="Airflow 3: the API server URL workers call; empty: its Service Connect name",
    )
    admin_user: bool = Field(
        True, description="the migrate task creates an Admin user (password in SSM)"
    )
    admin_username: Annotated[str, rule(naming.sql_identifier_problem)] = Field(
        "admin", description="the first Admin user's login"
    )
    admin_email: Annotated[str, rule(naming.email_problem)] = Field(
        "admin@example.com", description="the first Admin user's e-mail"
    )
    secrets: SecretsSection = Field(default_factory=dict, validate_default=True)

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        return str(AirflowVersion.parse(value))

    @field_validator("remote_log_folder")
    @classmethod
    def _remote_log_folder(cls, value: str) -> str:
        problem = naming.s3_uri_problem(value.rstrip("/")) if value else None
        if problem:
            raise ValueError(f"{quoted(value)} {problem}, or empty for the default")
        return value.rstrip("/")

    @field_validator("execution_api_url")
    @classmethod
    def _execution_api_url(cls, value: str) -> str:
        if value and naming.url_problem(value):
            raise ValueError(f"{quoted(value)} must be an http(s):// URL ending in /execution/")
        return value

    @property
    def parsed_version(self) -> AirflowVersion:
        """The version as numbers."""
        return AirflowVersion.parse(self.version)


class HealthCheck(Section):
    """An override of a component's container health check, within ECS's bounds."""

    command: list[str] | None = Field(None, description="CMD-SHELL command; empty: the default")
    interval: int = Field(30, ge=5, le=300, description="seconds between checks (5-300)")
    timeout: int = Field(20, ge=2, le=60, description="seconds a check may take (2-60)")
    retries: int = Field(5, ge=1, le=10, description="failures before unhealthy (1-10)")
    start_period: int = Field(120, ge=0, le=300, description="grace after start (0-300)")

    @field_validator("timeout")
    @classmethod
    def _timeout_within_interval(cls, value: int, info: ValidationInfo) -> int:
        interval = info.data.get("interval")
        if interval is not None and value >= interval:
            raise ValueError(f"({value}) must be shorter than interval ({interval})")
        return value


class Component(Section):
    """One Airflow component's container and service."""

    desired_count: int = Field(1, ge=0, le=100, description="tasks the service keeps running")
    memory: int = Field(3072, ge=6, le=1_000_000, description="MiB, the hard limit")
    memory_reservation: int = Field(1024, ge=6, le=1_000_000, description="MiB, the soft limit")
    cpu: int = Field(0, ge=0, le=196_608, description="CPU units; 0: share the instance")
    container_port: int | None = Field(
        None, ge=1, le=65535, description="for components that listen"
    )
    command: list[str] | None = Field(None, description="override the version's command")
    health_check: HealthCheck | None = Field(None, description="override the health check")

    @field_validator("memory_reservation")
    @classmethod
    def _reservation_within_memory(cls, value: int, info: ValidationInfo) -> int:
        memory = info.data.get("memory")
        if memory is not None and value > memory:
            raise ValueError(
                f"({value} MiB) must not exceed memory ({memory} MiB): ECS refuses a soft "
                "limit above the hard limit"
            )
        return value
