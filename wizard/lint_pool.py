"""The linters of the TUI's previews, in a child process: a preview shows at once, its
findings follow.

cfn-lint costs seconds to import and ~100 MiB to hold. The wizard keeps neither: lint runs in
one child (`python -m wizard.lint_worker`), started as soon as a form is valid (`warm`), fed
each preview's artifacts, and ended when it has been idle a while or the walk reaches its
summary, so the wizard's memory there is its own. A report is cached by the digest of what was
linted, so the same artifacts are never linted twice. A child that dies is reported as a
finding (the preview stays blocked until it is linted again), never waited on forever.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from wizard.child_process import end
from wizard.errors import Problem
from wizard.lint import LintReport

IDLE_SECONDS = 30.0
"""How long the lint process is kept once it has nothing to do."""

LINT_STOPPED = (
    "the lint process stopped before it finished ({reason}), so these files are not linted: "
    "press Preview (ctrl+r) to lint them again"
)
LINT_CRASHED = "a linter failed on these files ({reason}); press Preview (ctrl+r) to try again"

WORKER = ("-m", "wizard.lint_worker")
"""The lint process's arguments to this Python."""


def artifacts_digest(artifacts: dict[str, str], region: str, airflow_version: str) -> str:
    """What a lint report depends on, as one SHA-256: the files, the region, the version."""
    document = json.dumps([sorted(artifacts.items()), region, airflow_version])
    return hashlib.sha256(document.encode()).hexdigest()


class LintPool:
    """One lint process, started when needed and ended when idle; reports cached by digest.

    Args:
        arguments: what this Python runs as the lint process (`wizard.lint_worker`'s protocol).
        idle_seconds: the process ends after this long with nothing to do.
    """

    def __init__(
        self, arguments: Sequence[str] = WORKER, *, idle_seconds: float = IDLE_SECONDS
    ) -> None:
        self._arguments = list(arguments)
        self._idle_seconds = idle_seconds
        self._process: subprocess.Popen[str] | None = None
        self._cache: dict[str, LintReport] = {}
        self._idle_timer: threading.Timer | None = None
        self._lock = threading.Lock()
        """Guards the process, the cache and the timer (never held while linting)."""
        self._request = threading.Lock()
        """Held for a whole request: the process answers one at a time."""
        self.runs = 0
        """How many lint requests went to the process (a cache hit sends none)."""

    @property
    def pid(self) -> int | None:
        """The lint process's id while it runs."""
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    def warm(self) -> None:
        """Start the lint process (it imports the linters at once), if it is not running.
        Never waits: while a lint runs, the process is up already."""
        if self._request.locked():
            return
        with self._lock:
            self._running()
            self._rearm()

    def cached(self, artifacts: dict[str, str], region: str, airflow_version: str) -> bool:
        """Whether a report for these artifacts is cached."""
        with self._lock:
            return artifacts_digest(artifacts, region, airflow_version) in self._cache

    def lint(self, artifacts: dict[str, str], region: str, airflow_version: str) -> LintReport:
        """The findings over `artifacts` (blocks: call it from a worker thread).

        A report made before for the same digest is returned at once. If the process dies
        meanwhile, the report says so (and is not cached); the next call starts a new one.
        """
        digest = artifacts_digest(artifacts, region, airflow_version)
        with self._request:  # one request at a time
            with self._lock:
                if digest in self._cache:
                    return self._cache[digest]
                process = self._running()
                self._cancel_timer()
                self.runs += 1
            request = {"artifacts": artifacts, "region": region, "airflow_version": airflow_version}
            try:
                assert process.stdin is not None and process.stdout is not None
                process.stdin.write(json.dumps(request) + "\n")
                process.stdin.flush()
                line = process.stdout.readline()
            except (OSError, ValueError):  # a broken pipe, or closed by `shutdown`
                line = ""
            if not line:  # the process is gone
                reason = _ended(process)
                with self._lock:
                    if self._process is process:
                        self._process = None
                return LintReport([Problem("lint", LINT_STOPPED.format(reason=reason))])
            with self._lock:
                self._rearm()
                answer = json.loads(line)
                if "error" in answer:
                    problem = Problem("lint", LINT_CRASHED.format(reason=answer["error"]))
                    return LintReport([problem])
                report = LintReport(
                    [Problem(path, message) for path, message in answer["problems"]],
                    list(answer["warnings"]),
                )
                self._cache[digest] = report
                return report

    def shutdown(self) -> None:
        """End the lint process now, even in the middle of a lint (whose report then says
        so); the cache stays, and a new process starts when needed."""
        with self._lock:
            self._cancel_timer()
            process, self._process = self._process, None
        if process is not None:
            _stop(process)

    # The process's life

    def _running(self) -> subprocess.Popen[str]:
        if self._process is None or self._process.poll() is not None:
            # the child imports the same code as this process, wherever it was started from
            root = str(Path(__file__).resolve().parent.parent)
            path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
            self._process = subprocess.Popen(
                [sys.executable, *self._arguments],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,  # never the user's terminal
                text=True,
                env={**os.environ, "PYTHONPATH": path},
            )
        return self._process

    def _rearm(self) -> None:
        self._cancel_timer()
        self._idle_timer = threading.Timer(self._idle_seconds, self._end_if_idle)
        self._idle_timer.daemon = True
        self._idle_timer.start()

    def _end_if_idle(self) -> None:
        if self._request.locked():
            return  # a lint is running: it arms the timer again when it ends
        with self._lock:
            process, self._process = self._process, None
            self._idle_timer = None
        if process is not None:
            _stop(process)

    def _cancel_timer(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None


def _ended(process: subprocess.Popen[str]) -> str:
    try:
        code = process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        return "it stopped answering"
    return f"killed by signal {-code}" if code < 0 else f"exit status {code}"


def _stop(process: subprocess.Popen[str]) -> None:
    """End it at once (it holds nothing worth a graceful exit), and reap it."""
    end(process, grace=5)
    for stream in (process.stdin, process.stdout):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()
