"""A believable AWS account inside the emulator, for trying the wizard with no AWS account.

The emulator (moto, as a server on loopback, in a child process) is seeded with what the
runbook's operator has before they start (`wizard.sandbox_seed`), and keeps it between runs
(`wizard.sandbox_account`). Where the emulator does not behave like AWS by itself, its process
drives its own API (`wizard.emulator_gaps`): it has no ECS agent, so a stand-in registers the
Auto Scaling groups' instances with their cluster, as the agent on each instance would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import tomllib
from importlib import resources
from pathlib import Path

from wizard.aws import EMULATOR_CREDENTIALS, WAIT_SCALE_VARIABLE, Aws, AwsSettings
from wizard.child_process import end
from wizard.config import LaunchConfig
from wizard.config_file import save_config
from wizard.emulator_gaps import (
    fill_change_set_gap,
    fill_elasticache_gaps,
    join_container_instances,
)
from wizard.errors import WizardError
from wizard.sandbox_account import (
    ACCOUNT_CHANGED,
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
from wizard.sandbox_agent import look, run_agent
from wizard.sandbox_seed import (
    CONSOLE_STACK,
    GOOGLE_PARAMETERS,
    SeededAccount,
    add_console_stack,
    push_image,
    seed_account,
)

__all__ = [  # what the tests and benches import from here, wherever it is defined
    "CONSOLE_STACK",
    "GOOGLE_PARAMETERS",
    "SANDBOX_CREDENTIALS",
    "Sandbox",
    "SeededAccount",
    "add_console_stack",
    "fill_change_set_gap",
    "join_container_instances",
    "push_image",
    "sandbox_config",
    "seed_account",
    "seed_folder_account",
    "serve",
]

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
        if self._process is not None:
            end(self._process, grace=10)
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
    parent = os.getppid()  # the wizard that started it: when it is gone, so is the sandbox
    try:
        run_agent(lambda: look(aws), ACCOUNT_CHANGED, lambda: os.getppid() == parent)
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
