"""The `docker` runtime: the launch's image (or `--image`) on a user-defined network, the API
server carrying Service Connect's name as a network alias, the mounts bound to local folders,
the container ports published on free localhost ports; the health checks run inside each
container with `docker exec`. Everything it creates carries the rehearsal's name and is removed
by `stop()`."""

from __future__ import annotations

import argparse
import ipaddress
import json
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from wizard.config import API_SERVER_ALIAS, LaunchConfig
from wizard.errors import WizardError
from wizard.rehearse.plan import ContainerPlan
from wizard.rehearse.processes import CheckResult, Runnable
from wizard.rehearse.run import Rehearsal


def _docker(*args: str, input_text: str | None = None, timeout: float = 600) -> str:
    result = subprocess.run(
        ["docker", *args],
        capture_output=True,
        text=True,
        input=input_text,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise WizardError(
            f"docker {args[0]} failed: {result.stderr.strip()[-500:]}",
            title="Docker refused",
            hint="Check that the Docker engine runs and that the image can be pulled.",
        )
    return result.stdout.strip()


class DockerContainer:
    """One component's container, with the interface of the venv runtime's process."""

    def __init__(self, name: str, run_args: list[str], component: str, log: Path) -> None:
        self.name = name
        self.run_args = run_args
        self.component = component
        self.log = log
        self.started_at = 0.0
        self.created = False

    def start(self, cwd: Path) -> None:
        """`docker run -d` with the definition's environment, mounts and command."""
        _docker("run", "-d", "--name", self.name, *self.run_args)
        self.created = True
        self.started_at = time.monotonic()

    @property
    def pid(self) -> int | None:
        """The container's main process on the host, while it runs."""
        if not self.created:
            return None
        found = _docker("inspect", "--format", "{{.State.Pid}}", self.name)
        return int(found) if found.isdigit() and int(found) else None

    def exit_code(self) -> int | None:
        """None while it runs."""
        state = json.loads(_docker("inspect", "--format", "{{json .State}}", self.name))
        return None if state.get("Running") else int(state.get("ExitCode", 1))

    def wait(self, timeout: float) -> int | None:
        """Wait for it to exit; None if it still runs after `timeout`."""
        try:
            return int(_docker("wait", self.name, timeout=timeout) or "1")
        except subprocess.TimeoutExpired:
            return None

    def tail(self, lines: int = 5) -> str:
        """The last lines of its output (also kept in the rehearsal's log folder)."""
        result = subprocess.run(
            ["docker", "logs", "--tail", str(lines), self.name],
            capture_output=True,
            text=True,
            check=False,
        )
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.log.write_text(result.stdout + result.stderr)
        return (result.stdout + result.stderr).strip()

    def check(self, command: str, timeout: float) -> CheckResult:
        """The CMD-SHELL check inside the container (its own environment and hostname)."""
        try:
            result = subprocess.run(
                ["docker", "exec", self.name, "/bin/sh", "-c", command],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return CheckResult(False, f"timed out after {timeout:g} s")
        return CheckResult(result.returncode == 0, (result.stdout + result.stderr)[-400:])

    def stop(self, grace: float = 20.0) -> None:
        """`docker stop` (SIGTERM, then SIGKILL) and remove it."""
        if self.created:
            self.tail(200)
            subprocess.run(
                ["docker", "rm", "-f", "-v", self.name], capture_output=True, check=False
            )
            self.created = False


class DockerRehearsal(Rehearsal):
    """A rehearsal whose containers are the launch's image under Docker."""

    def __init__(
        self,
        config: LaunchConfig,
        *,
        account_id: str,
        image: str | None,
        dag: Path | None,
        report: Any,
        args: argparse.Namespace | None = None,
    ) -> None:
        from wizard.render import render_artifacts

        super().__init__(
            config,
            artifacts=render_artifacts(config, account_id),
            runtime="docker",
            dag=dag,
            report=report,
        )
        self.image = image or ""
        self.args = args
        self.name = f"aew-rehearse-{uuid.uuid4().hex[:8]}"
        self.network = ""
        self.shared: dict[str, str] = {}  # host file -> where the containers see it
        self.service_host = self._create_network()

    def _create_network(self) -> str:
        """A user-defined network for this rehearsal; the local services listen on its gateway."""
        self.network = _docker("network", "create", self.name)
        inspected = json.loads(_docker("network", "inspect", self.name))
        gateway = str(inspected[0]["IPAM"]["Config"][0]["Gateway"])
        ipaddress.ip_address(gateway)  # a docker that reports no gateway fails here, clearly
        return gateway

    def prepare(self) -> tuple[str, dict[str, str]]:
        """Pull the image (with an ECR login when it is the launch's private one)."""
        definition = json.loads(self.artifacts[f"taskdef-{self.config.long_running[0]}.json"])
        launch_image = definition["containerDefinitions"][0]["image"]
        self.image = self.image or launch_image
        if self.image == launch_image and ".dkr.ecr." in self.image:
            self._ecr_login(self.image.split("/")[0])
        if not _image_present(self.image):
            self.report(f"pulling {self.image}")
            _docker("pull", self.image, timeout=1800)
        digest = _docker("image", "inspect", "--format", "{{.Id}}", self.image)
        return f"image {self.image} ({digest[:19]})", {}

    def _ecr_login(self, registry: str) -> None:
        import base64

        from wizard.aws import Aws, AwsSettings

        aws = Aws(
            AwsSettings(
                region=self.config.aws.region,
                profile=self.config.aws.profile,
                endpoint_url=self.config.aws.endpoint_url,
            )
        )
        token = aws.client("ecr").get_authorization_token()["authorizationData"][0]
        user, _, password = base64.b64decode(token["authorizationToken"]).decode().partition(":")
        _docker("login", "--username", user, "--password-stdin", registry, input_text=password)

    def make_container(self, plan: ContainerPlan, env: dict[str, str]) -> Runnable:
        """`docker run` arguments: the definition's env, mounts, ports, and the alias."""
        run_args = [
            "--network",
            self.name,
            "--add-host",
            f"host.docker.internal:{self.service_host}",
        ]
        for name, value in env.items():
            run_args += ["--env", f"{name}={value}"]
        for inside, folder in plan.mounts.items():
            run_args += ["--volume", f"{folder}:{inside}:ro"]
        for host_path, inside in self.shared.items():
            run_args += ["--volume", f"{host_path}:{inside}:ro"]
        if plan.container_port is not None and plan.local_port is not None:
            run_args += ["--publish", f"127.0.0.1:{plan.local_port}:{plan.container_port}"]
        if plan.component == "webserver":
            url = self.config.execution_api_url
            run_args += ["--network-alias", urlsplit(url).hostname or API_SERVER_ALIAS]
        run_args += [self.image, *plan.command]
        log = self.folder / "logs" / f"{plan.component}.log"
        return DockerContainer(f"{self.name}-{plan.component}", run_args, plan.component, log)

    def shared_path(self, path: Path) -> str:
        """A file of this machine, mounted read-only into every container."""
        inside = f"/opt/airflow-ecs-wizard-rehearsal/{path.name}"
        self.shared[str(path)] = inside
        return inside

    def check(self, component: str, command: str, timeout: float) -> CheckResult:
        """The health check inside the container."""
        container = self.containers[component]
        assert isinstance(container, DockerContainer)
        return container.check(command, timeout)

    def stop(self, *, keep_logs: bool = False) -> None:
        """Remove the containers, the services and the network."""
        super().stop(keep_logs=keep_logs)
        if self.network:
            subprocess.run(["docker", "network", "rm", self.name], capture_output=True, check=False)
            self.network = ""


def _image_present(image: str) -> bool:
    return (
        subprocess.run(
            ["docker", "image", "inspect", image], capture_output=True, check=False
        ).returncode
        == 0
    )
