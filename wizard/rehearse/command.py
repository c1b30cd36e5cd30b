"""`airflow-ecs-wizard rehearse`: choose the runtime, run the rehearsal, print the table (or
JSON), and stop everything it started on exit, on Ctrl+C and on SIGTERM."""

from __future__ import annotations

import argparse
import contextlib
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
from wizard.rehearse.report import Result, Row, bad_input_json, rewrites_text, table

EXIT_OK, EXIT_FAILED = 0, 1


def _say(message: str) -> None:
    """Progress goes to stderr, so stdout holds only the table (or the JSON)."""
    print(message, file=sys.stderr, flush=True)


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
    return new_rehearsal(
        config,
        _account(args, config),
        runtime=args.runtime,
        image=args.image,
        dag=args.dag,
        report=_say,
    )


def new_rehearsal(
    config: LaunchConfig,
    account_id: str,
    *,
    runtime: str | None = None,
    image: str | None = None,
    dag: Path | None = None,
    report: Callable[[str], None] = _say,
    on_row: Callable[[Row], None] | None = None,
) -> Any:
    """A rehearsal of the launch's task definitions, as rendered for `account_id`, on the
    runtime asked for (None: docker where an engine answers, else venv); nothing starts yet.

    Raises:
        BadInput: the runtime cannot rehearse this launch, or the arguments disagree.
    """
    from wizard.rehearse.run import Rehearsal

    chosen = choose_runtime(config, runtime)
    if image and chosen != "docker":
        raise BadInput(
            "--image is for the docker runtime; the venv runtime installs Airflow from PyPI",
            title="Bad arguments",
            hint="Drop --image, or add --runtime docker.",
        )
    if chosen == "docker":
        from wizard.rehearse.docker import DockerRehearsal

        rehearsal: Any = DockerRehearsal(
            config, account_id=account_id, image=image, dag=dag, report=report
        )
        rehearsal.on_row = on_row
        return rehearsal
    from wizard.render import render_artifacts

    artifacts = render_artifacts(config, account_id)
    return Rehearsal(config, artifacts=artifacts, dag=dag, report=report, on_row=on_row)


def execute(rehearsal: Any) -> Result:
    """Run a made rehearsal to its result: a failure before any component ran (an install,
    a service, database.sql) is a result too, with one failed row naming that stage.

    Raises:
        BadInput: refused input (nothing was started).
        KeyboardInterrupt: Ctrl+C, or `cancel()` from another thread.
    """
    try:
        return rehearsal.run()  # type: ignore[no-any-return]
    except BadInput:
        raise
    except Exception as failure:  # a service or install that failed: still a table
        error = as_wizard_error(failure)
        rehearsal.report(f"error: {error.title}" + (f" ({error.hint})" if error.hint else ""))
        return rehearsal.failed_early(error)  # type: ignore[no-any-return]


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
        result = execute(rehearsal)
        kept = keep_running and result.ok
        if kept:  # before the result: a script that reads it may log in at once
            write_password_file(result, rehearsal)
        write(result.to_json() if as_json else f"{rewrites_text(result)}\n{table(result)}")
        if kept:
            with contextlib.suppress(KeyboardInterrupt):  # the way to end a kept rehearsal
                _keep_running(result)
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


def _stdout(text: str) -> None:
    print(text, flush=True)


def write_password_file(result: Result, rehearsal: Any) -> Path:
    """The Admin password of a kept rehearsal, in a file only the user reads."""
    password_file = Path(result.folder) / "admin-password"
    password_file.touch(mode=0o600)
    password_file.write_text(rehearsal.admin_password + "\n")
    return password_file


def _keep_running(result: Result) -> None:
    """Leave the stack up until Ctrl+C."""
    print(
        f"Airflow UI at {result.ui}: log in as {result.admin_username} with the password in "
        f"{Path(result.folder) / 'admin-password'}. Ctrl+C stops everything.",
        file=sys.stderr,
        flush=True,
    )
    while True:
        time.sleep(3600)
