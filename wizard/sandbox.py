"""A believable AWS account inside the emulator, for trying the wizard with no AWS account.

The emulator (moto, as a server on loopback) is seeded with what the runbook's operator has
before they start: a VPC with private and public subnets and a security group, the RDS
PostgreSQL instance `staging-rds`, the ECR repository `zdp-airflow` with a few tags, and the
Google OAuth parameters. Where the emulator does not behave like AWS by itself, this drives its
own API: it has no ECS agent, so `join_container_instances` registers the Auto Scaling group's
instances with the cluster, as the agent on each instance would.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from wizard.aws import EMULATOR_CREDENTIALS, WAIT_SCALE_VARIABLE, Aws, AwsSettings
from wizard.config import LaunchConfig
from wizard.config_file import save_config
from wizard.emulator_gaps import fill_elasticache_gaps, register_service_targets
from wizard.errors import WizardError
from wizard.sandbox_account import (
    PORT_FILE,
    RECORDER_VARIABLE,
    RECORDING,
    point_configs_at,
    preferred_port,
    record_changes_only,
    recorded_requests,
    replay,
    seed_ids,
    start_recording,
    touch_every_service,
)
from wizard.sandbox_console import console_role

IMAGE_TAGS = ("3.3.2", "3.3.1", "2.11.2")
RDS_INSTANCE = "staging-rds"
REPOSITORY = "zdp-airflow"


@dataclass(frozen=True)
class SeededAccount:
    """The ids a config needs to point at the seeded account."""

    vpc_id: str
    subnet_ids: list[str]
    public_subnet_ids: list[str]
    security_group_id: str
    rds_instance_id: str
    repository: str


CONSOLE_STACK = "Infra-ECS-Cluster-airflow-console"
"""A cluster stack as the ECS console makes it (launch template, public IPs): the runbook patches
one like it by hand, the wizard's cluster step can patch it instead of creating a stack."""


def seed_account(
    aws: Aws, *, google_parameters: tuple[str, ...] = (), console_stack: bool = False
) -> SeededAccount:
    """Create the account a new launch starts from (call once, on an empty emulator)."""
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ec2.create_tags(Resources=[vpc], Tags=[{"Key": "Name", "Value": "dataplatform"}])
    gateway = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=gateway, VpcId=vpc)
    private, public = [], []
    for index, zone in enumerate("ab"):
        az = f"{aws.region}{zone}"
        private.append(_subnet(aws, vpc, f"10.0.{index + 1}.0/24", az, f"private-{zone}"))
        public.append(_subnet(aws, vpc, f"10.0.{index + 101}.0/24", az, f"public-{zone}"))
    public_routes = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(
        RouteTableId=public_routes, DestinationCidrBlock="0.0.0.0/0", GatewayId=gateway
    )
    for subnet in public:
        ec2.associate_route_table(RouteTableId=public_routes, SubnetId=subnet)
    database_group = ec2.create_security_group(
        GroupName="staging-rds", Description="staging-rds", VpcId=vpc
    )["GroupId"]
    rds = aws.client("rds")
    rds.create_db_subnet_group(
        DBSubnetGroupName="staging-rds",
        DBSubnetGroupDescription="staging-rds",
        SubnetIds=private,
    )
    rds.create_db_instance(
        DBInstanceIdentifier=RDS_INSTANCE,
        Engine="postgres",
        EngineVersion="16.4",
        DBInstanceClass="db.t4g.medium",
        AllocatedStorage=20,
        MasterUsername="postgres",
        MasterUserPassword="emulator-only-password",
        DBSubnetGroupName="staging-rds",
        VpcSecurityGroupIds=[database_group],
    )
    _push_images(aws)
    if console_stack:
        add_console_stack(aws, vpc, private)
    for name in google_parameters:
        aws.client("ssm").put_parameter(
            Name=name, Value=f"sandbox-{name.rsplit('.', 1)[-1]}", Type="SecureString"
        )
    return SeededAccount(
        vpc_id=vpc,
        subnet_ids=private,
        public_subnet_ids=public,
        security_group_id=database_group,
        rds_instance_id=RDS_INSTANCE,
        repository=REPOSITORY,
    )


def add_console_stack(aws: Aws, vpc: str, subnets: list[str]) -> str:
    """Create the console's instance group and role, and its stack (`CONSOLE_STACK`) with its
    instances in `subnets`; returns the group's id."""
    group = aws.client("ec2").create_security_group(
        GroupName="console-ecs-instances", Description="made by the ECS console", VpcId=vpc
    )["GroupId"]
    console_role(aws)
    template = resources.files("wizard") / "data" / "console-cluster-stack.json"
    aws.client("cloudformation").create_stack(
        StackName=CONSOLE_STACK,
        TemplateBody=template.read_text(encoding="utf-8"),
        Parameters=[
            {"ParameterKey": "ECSClusterName", "ParameterValue": "airflow-console"},
            {"ParameterKey": "VpcId", "ParameterValue": vpc},
            {"ParameterKey": "SubnetIds", "ParameterValue": ",".join(subnets)},
            {"ParameterKey": "SecurityGroupIds", "ParameterValue": group},
        ],
        Capabilities=["CAPABILITY_IAM"],
    )
    return str(group)


def fill_change_set_gap() -> None:
    """Make the emulator (moto 5.2, in this process) execute change sets as AWS does.

    Executing a change set whose parameters use UsePreviousValue fails in moto with a 500: it
    carries each previous value as it resolved it (a list parameter already split, an
    SSM-typed one as the AMI id instead of the parameter's name). AWS reuses the original
    values and re-resolves the SSM one; this gives moto those values back.
    """
    from moto.cloudformation.parsing import ResourceMap

    original = ResourceMap.load_parameters
    if getattr(original, "filled_by_sandbox", False):
        return

    def load_parameters(self: ResourceMap) -> None:
        slots = self._template.get("Parameters", {})
        fixed = {}
        for key, value in self.input_parameters.items():
            kind = slots.get(key, {}).get("Type", "")
            if isinstance(value, list):
                value = ",".join(value)
            if kind.startswith("AWS::SSM::Parameter::") and not str(value).startswith("/"):
                value = slots[key].get("Default", value)
            fixed[key] = value
        self.input_parameters = fixed
        original(self)

    load_parameters.filled_by_sandbox = True  # type: ignore[attr-defined]
    ResourceMap.load_parameters = load_parameters  # type: ignore[method-assign]


def _subnet(aws: Aws, vpc: str, cidr: str, zone: str, name: str) -> str:
    ec2 = aws.client("ec2")
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=zone)["Subnet"]
    ec2.create_tags(Resources=[subnet["SubnetId"]], Tags=[{"Key": "Name", "Value": name}])
    return str(subnet["SubnetId"])


def _push_images(aws: Aws) -> None:
    aws.client("ecr").create_repository(repositoryName=REPOSITORY)
    for index, tag in enumerate(IMAGE_TAGS):
        push_image(aws, REPOSITORY, tag, digest=f"sha256:{index:064x}")


def push_image(aws: Aws, repository: str, tag: str, *, digest: str) -> None:
    """Put an image manifest under `tag`, as `docker push` would (the emulator keeps only
    manifests; `digest` names the image's config blob and so tells images apart)."""
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": 7023,
            "digest": digest,
        },
        "layers": [],
    }
    aws.client("ecr").put_image(
        repositoryName=repository, imageTag=tag, imageManifest=json.dumps(manifest)
    )


def join_container_instances(aws: Aws, cluster: str, *, minimum: int = 1) -> int:
    """Register the cluster's EC2 instances with ECS, as each instance's agent would.

    Instances are those of the cluster stack's Auto Scaling groups; when the emulator started
    none, `minimum` are started in the first private subnet the groups use.
    """
    ec2 = aws.client("ec2")
    ecs = aws.client("ecs")
    registered = {
        detail["ec2InstanceId"]
        for arns in [ecs.list_container_instances(cluster=cluster)["containerInstanceArns"]]
        if arns
        for detail in ecs.describe_container_instances(cluster=cluster, containerInstances=arns)[
            "containerInstances"
        ]
    }
    groups = aws.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
    instances = [i["InstanceId"] for g in groups for i in g.get("Instances", [])]
    if not instances:
        image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        subnet = groups[0]["VPCZoneIdentifier"].split(",")[0] if groups else None
        started = ec2.run_instances(
            ImageId=image,
            MinCount=minimum,
            MaxCount=minimum,
            **({"SubnetId": subnet} if subnet else {}),
        )
        instances = [i["InstanceId"] for i in started["Instances"]]
    for instance in instances:
        if instance not in registered:
            ecs.register_container_instance(
                cluster=cluster, instanceIdentityDocument=json.dumps({"instanceId": instance})
            )
    return len(instances)


GOOGLE_PARAMETERS = (
    "dataplatform.production.airflow.google_client_id",
    "dataplatform.production.airflow.google_client_secret",
)
AGENT_SECONDS = 1.0
"""How often the sandbox's stand-in for the ECS agent registers new instances."""

SANDBOX_WAIT_SCALE = 0.02
"""The emulator creates everything at once: poll 50 times as often as on AWS."""

SANDBOX_CREDENTIALS = {key.upper(): value for key, value in EMULATOR_CREDENTIALS.items()}
"""The emulator accepts any credentials: these keep a real account's out of every request."""


class Sandbox:
    """The emulator in a child process (so it never competes with a UI for the GIL), seeded
    with the account above, and a launch config that points at it.

    Everything lives in `folder`: the emulator's log, `launch.toml`, the state files. Nothing
    touches the user's AWS configuration.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        """The emulator's URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def config_path(self) -> Path:
        """The launch config written for the seeded account."""
        return self.folder / "launch.toml"

    def environment(self) -> dict[str, str]:
        """The variables a wizard process needs to talk to the sandbox (and nothing else)."""
        return {
            **SANDBOX_CREDENTIALS,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_REGION": "us-east-1",
            WAIT_SCALE_VARIABLE: str(SANDBOX_WAIT_SCALE),
        }

    resumed: bool = False
    """Whether `start` found an account kept from an earlier run (and replayed it)."""

    def start(self, *, timeout: float = 180.0) -> None:
        """Start the emulator and wait until it is seeded: it replays the account kept in
        `folder`, or seeds a new one and writes `launch.toml` for it.

        The emulator's own process seeds it (`serve --folder`), so this process never loads
        the seeding's boto3 clients: the wizard's memory is the launch's own.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = preferred_port(self.folder)
        seeded = self.folder / SEEDED_FILE
        seeded.unlink(missing_ok=True)
        log = (self.folder / "emulator.log").open("ab")
        environment = {
            **os.environ,
            **self.environment(),
            "MOTO_ECS_SERVICE_RUNNING": "1",
            RECORDER_VARIABLE: str(self.folder / RECORDING),
        }
        self._process = subprocess.Popen(
            [*SERVE, "--port", str(self.port), "--folder", str(self.folder)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=environment,
        )
        deadline = time.monotonic() + timeout
        while not seeded.exists():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise WizardError(
                    f"the AWS emulator did not start (see {self.folder / 'emulator.log'})",
                    title="Sandbox",
                    hint="Install the extra: pip install 'airflow-ecs-wizard[sandbox]'.",
                )
            time.sleep(0.05)
        outcome = json.loads(seeded.read_text(encoding="utf-8"))
        if "error" in outcome:
            self.stop()
            raise WizardError(
                f"the AWS emulator started, but seeding its account failed: {outcome['error']}",
                title="Sandbox",
                hint=f"See {self.folder / 'emulator.log'}; to start over, remove {self.folder}.",
            )
        self.resumed = bool(outcome["resumed"])
        (self.folder / PORT_FILE).write_text(str(self.port), encoding="utf-8")
        if self.resumed:
            point_configs_at(self.endpoint, [self.config_path, *self.launches.glob("*.toml")])

    @property
    def launches(self) -> Path:
        """Where the wizard keeps the sandbox's launches."""
        return self.folder / "launches"

    def stop(self) -> None:
        """Stop the emulator; its contents go with it."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
        self._process = None


def sandbox_config(endpoint: str, seeded: SeededAccount) -> LaunchConfig:
    """The example launch, pointed at the seeded account: the wizard creates the roles and the
    bucket, and prints the database SQL (the emulator's RDS endpoint is no real server)."""
    example = resources.files("wizard") / "data" / "launch.example.toml"
    data = tomllib.loads(example.read_text(encoding="utf-8"))
    data["aws"].update(endpoint_url=endpoint, account_id="123456789012", region="us-east-1")
    data["network"].update(
        vpc_id=seeded.vpc_id,
        subnet_ids=seeded.subnet_ids,
        public_subnet_ids=seeded.public_subnet_ids,
        security_group_ids=[],
    )
    data["s3"]["create_bucket"] = True
    data["iam"] = {}
    data["database"].update(rds_instance_id=seeded.rds_instance_id, run_sql="print")
    for component in data.get("components", {}).values():
        component["desired_count"] = 1  # the emulator runs one task per service
    return LaunchConfig.model_validate(data)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _answers(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1):
            return True
    except OSError:
        return False


SERVE = (sys.executable, "-m", "wizard.sandbox", "serve")
"""The emulator's process."""

SEEDED_FILE = "seeded.json"
"""Written by the emulator's process once its account is ready: `{"resumed": bool}`, or
`{"error": message}`."""


def seed_folder_account(endpoint: str, folder: Path) -> bool:
    """Replay the account kept in `folder` into the emulator, or seed a new one (recorded)
    and write `folder/launch.toml` for it. Whether it was replayed."""
    aws = Aws(AwsSettings(region="us-east-1", endpoint_url=endpoint))
    seed_ids(endpoint)
    touch_every_service(aws)
    config_path = folder / "launch.toml"
    if recorded_requests(folder) > 0 and config_path.exists():
        replay(endpoint)
        return True
    (folder / RECORDING).unlink(missing_ok=True)
    start_recording(endpoint)
    seeded = seed_account(aws, google_parameters=GOOGLE_PARAMETERS, console_stack=True)
    save_config(sandbox_config(endpoint, seeded), config_path)
    return False


def _seed_and_report(endpoint: str, folder: Path) -> None:
    try:
        outcome: dict[str, object] = {"resumed": seed_folder_account(endpoint, folder)}
    except Exception as error:  # the wizard shows it; the traceback goes to the log
        import traceback

        traceback.print_exc()
        outcome = {"error": f"{type(error).__name__}: {error}"}
    written = folder / f".{SEEDED_FILE}.tmp"
    written.write_text(json.dumps(outcome), encoding="utf-8")
    written.replace(folder / SEEDED_FILE)  # whole, or not there


def serve(port: int, folder: Path | None = None) -> None:
    """The child process: the emulator, and a stand-in for the ECS agent of each instance."""
    import logging

    from botocore.exceptions import BotoCoreError, ClientError
    from moto.server import ThreadedMotoServer

    from wizard.instance_refresh_gap import fill_instance_refresh_gap

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    fill_change_set_gap()
    fill_instance_refresh_gap()
    fill_elasticache_gaps()
    record_changes_only()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    if folder is not None:
        _seed_and_report(f"http://127.0.0.1:{port}", folder)
    aws = Aws(AwsSettings(region="us-east-1", endpoint_url=f"http://127.0.0.1:{port}"))
    parent = os.getppid()
    try:
        while os.getppid() == parent:  # the wizard that started it is gone: so is the sandbox
            time.sleep(AGENT_SECONDS)
            try:
                for arn in aws.client("ecs").list_clusters()["clusterArns"]:
                    join_container_instances(aws, arn.rsplit("/", 1)[-1])
                    register_service_targets(aws, arn.rsplit("/", 1)[-1])
            except (BotoCoreError, ClientError) as error:  # the agent tries again, as ECS's would
                logging.getLogger(__name__).warning("agent stand-in: %s", error)
    finally:
        server.stop()


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(prog="python -m wizard.sandbox")
    parser.add_argument("command", choices=["serve"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--folder", type=Path, help="seed the account kept in this folder")
    arguments = parser.parse_args()
    serve(arguments.port, arguments.folder)
