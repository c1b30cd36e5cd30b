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
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wizard.config import LaunchConfig
from wizard.errors import BadInput, as_wizard_error
from wizard.rehearse.report import Result, bad_input_json, rewrites_text, table

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
    """Run one rehearsal; 0 only when every row holds. The same table (or, with `--json`,
    the same JSON document) whether the rehearsal ran, failed, or stopped early; refused
    input is exit 2, and with `--json` stdout still holds a document saying why."""
    try:
        rehearsal = _make_rehearsal(args, config)
    except BadInput as error:
        if args.json:
            print(bad_input_json(error.title, error.message, error.hint or ""), flush=True)
        raise
    return run_rehearsal(rehearsal, as_json=args.json, keep_running=args.keep_running)


def _make_rehearsal(args: argparse.Namespace, config: LaunchConfig) -> Any:
    from wizard.rehearse.run import Rehearsal

    runtime = choose_runtime(config, args.runtime)
    if args.image and runtime != "docker":
        raise BadInput(
            "--image is for the docker runtime; the venv runtime installs Airflow from PyPI",
            title="Bad arguments",
            hint="Drop --image, or add --runtime docker.",
        )
    account = _account(args, config)
    if runtime == "docker":
        from wizard.rehearse.docker import DockerRehearsal

        return DockerRehearsal(
            config, account_id=account, image=args.image, dag=args.dag, report=_say, args=args
        )
    from wizard.render import render_artifacts

    artifacts = render_artifacts(config, account)
    return Rehearsal(config, artifacts=artifacts, dag=args.dag, report=_say)


def run_rehearsal(
    rehearsal: Any,
    *,
    as_json: bool = False,
    keep_running: bool = False,
    out: Callable[[str], None] | None = None,
) -> int:
    """Run a made rehearsal, print its result (table or JSON) with `out`, stop everything.

    Returns:
        0 when every row holds, else 1 (also when it stopped before any component ran: the
        result's one row names the stage, e.g. `airflow install`, `services`,
        `database.sql`).
    """
    write = out or _stdout
    signals = threading.current_thread() is threading.main_thread()  # a CLI, not a worker
    if signals:
        signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop everything on TERM too
    result: Result | None = None
    try:
        try:
            result = rehearsal.run()
        except BadInput:
            raise
        except Exception as failure:  # a service or install that failed: still a table
            error = as_wizard_error(failure)
            result = rehearsal.failed_early(error)
            rehearsal.report(f"error: {error.title}" + (f" ({error.hint})" if error.hint else ""))
        write(result.to_json() if as_json else f"{rewrites_text(result)}\n{table(result)}")
        if keep_running and result.ok:
            with contextlib.suppress(KeyboardInterrupt):  # the way to end a kept rehearsal
                _keep_running(result, rehearsal)
        return EXIT_OK if result.ok else EXIT_FAILED
    finally:
        # a second Ctrl+C must not cut the clean-up short: it would leave servers running
        if signals:
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            rehearsal.report("stopping everything the rehearsal started")
            failed = result is not None and not result.ok
            rehearsal.stop(keep_logs=failed)
            if failed and (rehearsal.folder / "logs").is_dir():
                rehearsal.report(f"the components' logs are kept in {rehearsal.folder / 'logs'}")
        finally:
            if signals:
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


def _stdout(text: str) -> None:
    print(text, flush=True)


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
