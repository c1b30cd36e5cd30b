"""`airflow-ecs-wizard rehearse`: choose the runtime, run the rehearsal, print the table (or
JSON), and stop everything it started on exit, on Ctrl+C and on SIGTERM."""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from wizard.config import LaunchConfig
from wizard.errors import BadInput
from wizard.rehearse.report import Result, rewrites_text, table

EXIT_OK, EXIT_FAILED = 0, 1


def docker_engine() -> str | None:
    """Why no Docker engine is usable here, or None when one answers."""
    if shutil.which("docker") is None:
        return "the docker command is not installed"
    try:
        probe = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return "the Docker engine did not answer within 20 s"
    if probe.returncode != 0 or not probe.stdout.strip():
        reason = (probe.stderr.strip().splitlines() or ["no engine"])[-1]
        return f"docker is only a client here ({reason})"
    return None


def choose_runtime(config: LaunchConfig, asked: str | None) -> str:
    """The runtime to use: the one asked for, else docker where an engine answers, else venv.

    Raises:
        BadInput: docker asked for without an engine; or 1.10 without docker.
    """
    from wizard.rehearse.venv import release

    if asked == "docker" or (asked is None and config.airflow.parsed_version.major == 1):
        reason = docker_engine()
        if reason is not None:
            version = config.airflow.version
            raise BadInput(
                f"--runtime docker needs a Docker engine, and {reason}"
                if asked
                else f"airflow.version = {version} cannot be installed on Python 3.9 or newer "
                f"and needs the docker runtime, but {reason}",
                title="No Docker engine",
                hint="Start a Docker engine (or point DOCKER_HOST at one); the venv runtime "
                "rehearses 2.7 and newer without it.",
            )
        return "docker"
    if asked == "venv":
        release(config)  # 1.10 and unpinned versions: a clear message before anything starts
        return "venv"
    return "docker" if docker_engine() is None else "venv"


def rehearse_command(args: argparse.Namespace, config: LaunchConfig) -> int:
    """Run one rehearsal; 0 only when every row holds."""
    from wizard.rehearse.run import Rehearsal

    runtime = choose_runtime(config, args.runtime)
    if args.image and runtime != "docker":
        raise BadInput(
            "--image is for the docker runtime; the venv runtime installs Airflow from PyPI",
            title="Bad arguments",
            hint="Drop --image, or add --runtime docker.",
        )
    account = _account(args, config)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop everything on TERM too
    say = _say
    rehearsal: Any
    if runtime == "docker":
        from wizard.rehearse.docker import DockerRehearsal

        rehearsal = DockerRehearsal(
            config, account_id=account, image=args.image, dag=args.dag, report=say, args=args
        )
    else:
        from wizard.render import render_artifacts

        artifacts = render_artifacts(config, account)
        rehearsal = Rehearsal(config, artifacts=artifacts, dag=args.dag, report=say)
    result: Result | None = None
    try:
        result = rehearsal.run()
        _print(result, as_json=args.json)
        if args.keep_running and result.ok:
            with contextlib.suppress(KeyboardInterrupt):  # the way to end a kept rehearsal
                _keep_running(result, rehearsal)
        return EXIT_OK if result.ok else EXIT_FAILED
    finally:
        # a second Ctrl+C must not cut the clean-up short: it would leave servers running
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            say("stopping everything the rehearsal started")
            failed = result is not None and not result.ok
            rehearsal.stop(keep_logs=failed)
            if failed:
                say(f"the components' logs are kept in {rehearsal.folder / 'logs'}")
        finally:
            signal.signal(signal.SIGINT, previous)


def _account(args: argparse.Namespace, config: LaunchConfig) -> str:
    """The account for the image URI and role ARNs: the state's, else the config's."""
    if args.state is not None and Path(args.state).exists():
        from wizard.state import StateFile

        return StateFile.open(args.state, launch=config.name).state.account_id
    return config.account_id or "123456789012"


def _say(message: str) -> None:
    """Progress goes to stderr, so stdout holds only the table (or the JSON)."""
    print(message, file=sys.stderr, flush=True)


def _print(result: Result, *, as_json: bool) -> None:
    if as_json:
        print(result.to_json(), flush=True)
        return
    print(rewrites_text(result))
    print(table(result), flush=True)


def _keep_running(result: Result, rehearsal: Any) -> None:
    """Leave the stack up until Ctrl+C; the Admin password is in a file only the user reads."""
    password_file = Path(result.folder) / "admin-password"
    password_file.write_text(rehearsal.admin_password + "\n")
    os.chmod(password_file, 0o600)
    print(
        f"Airflow UI at {result.ui}: log in as {result.admin_username} with the password in "
        f"{password_file}. Ctrl+C stops everything.",
        file=sys.stderr,
        flush=True,
    )
    while True:
        time.sleep(3600)
