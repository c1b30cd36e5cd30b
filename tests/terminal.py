"""The wizard in a real terminal: a detached tmux session on a private server, read back as text.

Shared by the end-to-end test and `bench/startup.py`. Each `Terminal` runs its own tmux server
(`tmux -L NAME`, no config file), so it never touches the user's sessions, and `close()` stops
that server only. The pane stays on screen after its program exits (`remain-on-exit`), so its
exit status can be read.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

STEP_TITLES = (
    "AWS account",
    "VPC, subnets and security groups",
    "Task execution and task roles",
    "S3 bucket and folder layout",
    "Instance bootstrap (S3 mount)",
    "Airflow database in RDS",
    "ElastiCache broker",
    "ECR image",
    "Fernet key and shared secrets",
    "ECS cluster",
    "Task definitions",
    "Services and load balancer",
)
"""Every step, as its screen titles it ("Step N of 12: TITLE")."""

PREVIEW_READY = (
    "change(s) to apply. Confirm to apply them",  # then "." or ", with your consent to N below."
    "Nothing to change: confirm to go on.",
)
"""The preview's status line once a step is planned and can be confirmed (its lint done)."""

PLANNING = "Planning against the account"
REVIEW_AGAIN = "Review the new preview"
"""The wizard's answer to a confirmation that came before the step's preview."""
SUMMARY = "Airflow is up."
FAILURES = ("Quit (state saved)", "Blocked: fix the problems below")
"""The error modal's button (a step or a worker failed) and a blocked preview's status."""

UNSEEN_PLANNING_SECONDS = 1.0
"""How long a step's preview must stay on screen before it is confirmed, when its planning was
too quick to be seen. The wizard draws a step's title before it resets the preview pane (for up
to a few hundred ms), so the new title can show beside the previous step's status."""


def wizard_command() -> list[str]:
    """How a user starts the wizard: the console script beside this Python, if installed."""
    script = shutil.which("airflow-ecs-wizard", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "wizard.cli"]


def tmux_path() -> str | None:
    """The tmux executable, if installed."""
    return shutil.which("tmux")


class TerminalTimeout(AssertionError):
    """The screen never showed what was awaited; the message ends with the last screen."""


class Terminal:
    """One program in a `width` x `height` tmux pane on a private tmux server, started in
    `cwd` with `env` (default: this process's)."""

    def __init__(
        self,
        command: Sequence[str],
        *,
        width: int = 160,
        height: int = 48,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        tmux = tmux_path()
        if tmux is None:
            raise FileNotFoundError("tmux is not installed")
        self.socket = f"aew-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._tmux = [tmux, "-L", self.socket, "-f", os.devnull]
        self.target = "wizard"
        self.last_screen = ""
        self.screens: set[str] = set()
        """Every distinct screen captured so far (to check what was ever shown)."""
        # The server starts with this environment; the program gets it and TERM.
        environment = dict(os.environ if env is None else env)
        environment.pop("TMUX", None)
        # the pane's size is the terminal's: COLUMNS/LINES (pytest-xdist's workers set 80x24)
        # would override it for the program
        environment.pop("COLUMNS", None)
        environment.pop("LINES", None)
        self._run(
            "new-session",
            "-d",
            "-s",
            self.target,
            "-x",
            str(width),
            "-y",
            str(height),
            "-c",
            str(cwd or Path.cwd()),
            "env",
            "TERM=xterm-256color",
            *command,
            ";",
            "set-option",
            "-g",
            "remain-on-exit",
            "on",
            env=environment,
        )

    def _run(self, *args: str, env: Mapping[str, str] | None = None) -> str:
        result = subprocess.run(
            [*self._tmux, *args], capture_output=True, text=True, env=env, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"tmux {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    def capture(self) -> str:
        """The pane's visible text now."""
        screen = self._run("capture-pane", "-p", "-t", self.target)
        self.last_screen = screen
        self.screens.add(screen)
        return screen

    def send(self, *keys: str) -> None:
        """Press keys, in tmux's names (`n`, `C-y`, `Enter`)."""
        self._run("send-keys", "-t", self.target, *keys)

    def _pane(self, form: str) -> str:
        """A tmux format (`#{pane_pid}`) expanded for the pane."""
        return self._run("display-message", "-p", "-t", self.target, form).strip()

    @property
    def pid(self) -> int:
        """The program's process id (`env` execs it, so this is the program itself)."""
        return int(self._pane("#{pane_pid}"))

    def exit_status(self) -> int | None:
        """The program's exit status (-N if signal N ended it, as in `subprocess`), or None
        while it runs."""
        dead, status, signal = self._pane(
            "#{pane_dead}:#{pane_dead_status}:#{pane_dead_signal}"
        ).split(":")
        if dead != "1":
            return None
        return int(status) if status else -int(signal or 0)

    def wait_for(
        self,
        condition: Callable[[str], bool],
        what: str,
        *,
        timeout: float = 120.0,
        fail_on: Sequence[str] = (),
    ) -> str:
        """The screen once `condition(screen)` holds.

        Raises:
            TerminalTimeout: after `timeout` seconds, as soon as the program exits, or when the
                screen shows any text of `fail_on`; the message has the last screen.
        """
        deadline = time.monotonic() + timeout
        while True:
            screen = self.capture()
            now = time.monotonic()
            shown = [text for text in fail_on if text in screen]
            if shown:
                self.fail(f"waiting for {what}, the screen shows {shown[0]!r}")
            if condition(screen):
                return screen
            if self.exit_status() is not None:
                self.fail(f"waiting for {what}, the program exited ({self.exit_status()})")
            if now > deadline:
                self.fail(f"timed out after {timeout:.0f} s waiting for {what}")
            time.sleep(0.05)

    def wait_for_text(
        self, text: str, *, timeout: float = 120.0, fail_on: Sequence[str] = ()
    ) -> str:
        """The screen once it shows `text`."""
        return self.wait_for(
            lambda screen: text in screen, repr(text), timeout=timeout, fail_on=fail_on
        )

    def wait_for_exit(self, *, timeout: float = 60.0) -> int:
        """The program's exit status, once it has exited; `last_screen` is then what it left
        in the terminal (after a full-screen app, what it printed on the way out)."""
        deadline = time.monotonic() + timeout
        while (status := self.exit_status()) is None:
            if time.monotonic() > deadline:
                self.capture()
                self.fail(f"the program still runs {timeout:.0f} s after it was asked to quit")
            time.sleep(0.05)
        self.capture()
        return status

    def fail(self, message: str) -> None:
        """Raise `TerminalTimeout` with `message` and the last screen."""
        raise TerminalTimeout(f"{message}; the last screen was:\n{self.last_screen.rstrip()}")

    def close(self) -> None:
        """Stop the private tmux server (and with it the program, if it still runs)."""
        subprocess.run([*self._tmux, "kill-server"], capture_output=True, check=False)


@contextmanager
def terminal(
    command: Sequence[str],
    *,
    width: int = 160,
    height: int = 48,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Iterator[Terminal]:
    """A `Terminal` whose tmux server is stopped on the way out, whatever happens."""
    running = Terminal(command, width=width, height=height, env=env, cwd=cwd)
    try:
        yield running
    finally:
        running.close()


def preview_ready(screen: str) -> bool:
    """The step on screen has its preview and can be confirmed."""
    return PLANNING not in screen and any(status in screen for status in PREVIEW_READY)


def step_ready(number: int) -> Callable[[str], bool]:
    """Whether a screen shows step `number` (from 1) with its own preview, not the previous
    step's: planning was seen since the title showed, or the preview has stayed a while."""
    heading = f"Step {number} of {len(STEP_TITLES)}: {STEP_TITLES[number - 1]}"
    first_seen: float | None = None
    planned = False

    def ready(screen: str) -> bool:
        nonlocal first_seen, planned
        if heading not in screen:
            return False
        now = time.monotonic()
        first_seen = now if first_seen is None else first_seen
        planned = planned or PLANNING in screen
        return preview_ready(screen) and (planned or now - first_seen >= UNSEEN_PLANNING_SECONDS)

    return ready


WAIT_SECONDS = 180.0
"""The bound of each wait of a sandbox walk, on its own: a preview, a step after its
confirmation, the start screen. Generous: a loaded 2-core machine takes seconds per step."""

SUMMARY_SECONDS = 300.0
"""The bound of the wait for the summary, once every step is confirmed: the services step
applies (the migrate task, the load balancer, six services) before it shows."""


def drive_sandbox_launch(term: Terminal, *, bound: float = WAIT_SECONDS) -> str:
    """From the start screen of `--sandbox`, confirm every step's preview until the summary.

    Each wait waits on its own event (the step's preview, the next step's title, the summary)
    with its own `bound`: a slow step never shortens the next one's wait. Returns the summary
    screen. Fails at once if an error modal or a blocked preview shows.
    """
    term.wait_for_text("Sandbox ready", timeout=bound, fail_on=FAILURES)
    term.send("n")
    for number, title in enumerate(STEP_TITLES, start=1):
        after = (
            f"Step {number + 1} of {len(STEP_TITLES)}: {STEP_TITLES[number]}"
            if number < len(STEP_TITLES)
            else SUMMARY
        )
        while True:
            before = term.wait_for(
                step_ready(number),
                f"the preview of step {number} ({title})",
                timeout=bound,
                fail_on=FAILURES,
            )
            term.send("C-y")
            screen = term.wait_for(
                lambda screen, after=after, before=before: (
                    after in screen or screen.count(REVIEW_AGAIN) > before.count(REVIEW_AGAIN)
                ),
                f"{after!r} after confirming step {number}",
                timeout=bound if after != SUMMARY else max(bound, SUMMARY_SECONDS),
                fail_on=FAILURES,
            )
            if after in screen:
                break
            # Confirmed before the step's own preview showed: the wizard planned it again and
            # asks for a second look, as it would a user.
    return term.wait_for_text(SUMMARY, timeout=max(bound, SUMMARY_SECONDS), fail_on=FAILURES)


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # the command name in parentheses may hold spaces: fields start after its ")"
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def command_line(pid: int) -> str:
    """A process's command line, spaces between arguments ("" once it is gone)."""
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def running(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        stat = (Path("/proc") / str(pid) / "stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def emulator_pid(wizard_pid: int) -> int | None:
    """The sandbox's emulator: the wizard's child running `wizard.sandbox serve`."""
    return next((p for p in children(wizard_pid) if "wizard.sandbox" in command_line(p)), None)


def resident_mib(pid: int) -> float:
    """A process's resident memory (VmRSS), in MiB."""
    for line in (Path("/proc") / str(pid) / "status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise ValueError(f"no VmRSS for process {pid}")
