"""The venv runtime's containers: one process group per component, its output in a log file,
and its task-definition health check run as ECS runs it (CMD-SHELL with the container's
environment)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass
class CheckResult:
    """One run of a health check."""

    passed: bool
    output: str


class Runnable(Protocol):
    """What the rehearsal needs of a component's container, whatever runs it."""

    component: str
    started_at: float

    @property
    def pid(self) -> int | None: ...
    def start(self, cwd: Path) -> None: ...
    def exit_code(self) -> int | None: ...
    def wait(self, timeout: float) -> int | None: ...
    def tail(self, lines: int = 5) -> str: ...
    def stop(self, grace: float = 20.0) -> None: ...


def _kill_group(process: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def run_shell(
    command: str,
    env: dict[str, str],
    timeout: float,
    cwd: Path,
    live: set[subprocess.Popen[bytes]] | None = None,
) -> CheckResult:
    """`/bin/sh -c COMMAND` with `env`; a check that outlasts `timeout` fails (and is killed
    with everything it started). While it runs it is in `live`, for `kill_all` to end."""
    process = subprocess.Popen(
        ["/bin/sh", "-c", command],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    if live is not None:
        live.add(process)
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process, signal.SIGKILL)
        output, _ = process.communicate()
        return CheckResult(False, f"timed out after {timeout:g} s")
    finally:
        if live is not None:
            live.discard(process)
    text = output.decode(errors="replace").strip()
    return CheckResult(process.returncode == 0, text[-400:])


def kill_all(live: set[subprocess.Popen[bytes]]) -> None:
    """Kill every check still running, with all it started (an `airflow` command would go on
    writing into AIRFLOW_HOME after the rehearsal's folder is removed)."""
    for process in list(live):
        _kill_group(process, signal.SIGKILL)


class Container:
    """A component's process group, started from its argv with its environment."""

    def __init__(self, component: str, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.component = component
        self.argv = argv
        self.env = env
        self.log = log
        self.started_at = 0.0
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, cwd: Path) -> None:
        """Start it in a session of its own (so it and its children stop together)."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=cwd,
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.started_at = time.monotonic()

    @property
    def pid(self) -> int | None:
        """Its process id (also its process group's)."""
        return self.process.pid if self.process else None

    def exit_code(self) -> int | None:
        """None while it runs."""
        return None if self.process is None else self.process.poll()

    def wait(self, timeout: float) -> int | None:
        """Wait for it to exit; None if it still runs after `timeout`."""
        assert self.process is not None
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def tail(self, lines: int = 5) -> str:
        """The last lines of its output."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])

    def stop(self, grace: float = 20.0) -> None:
        """SIGTERM to its group (as `docker stop` does), SIGKILL after `grace` seconds."""
        if self.process is None:
            return
        _kill_group(self.process, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=grace)
        _kill_group(self.process, signal.SIGKILL)  # children that outlived their parent
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
