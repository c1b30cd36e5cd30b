"""Ending a child process this program started: SIGTERM, then SIGKILL if it outlives `grace`."""

from __future__ import annotations

import subprocess
from typing import Any


def end(process: subprocess.Popen[Any], grace: float) -> None:
    """Ask `process` to exit (SIGTERM), kill it after `grace` seconds, and reap it."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
