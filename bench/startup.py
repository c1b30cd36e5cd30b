"""Benchmark: time to the first interactive frame of `airflow-ecs-wizard --sandbox`, against a
bare Textual app showing one Static, in the same run; then the wizard's memory at the summary.

Each program is spawned in a pseudo-terminal (160x48); the clock stops when its output holds the
first screen's text ("New launch" for the wizard, the Static's text for the bare app). Runs are
interleaved, so both see the same machine load; prints both medians and the ratio. Target: at
most 1.3x. Every run is quit with ctrl+q and its process group ended, emulator included.

Then one sandbox launch is driven to "Airflow is up." in tmux (the end-to-end test's helpers)
and the resident memory (VmRSS) of the wizard, of the wizard with every child but the emulator
(the figure bounded at 150 MiB), and of its emulator child is printed, then every process of
the wizard's tree at the summary with its own RSS (a lint process, if one were left, shows).

The wizard measured is this checkout's (its root is put first on PYTHONPATH).

Run: python bench/startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import select
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.terminal import (  # noqa: E402 (the repo root must be on the path first)
    children,
    command_line,
    drive_sandbox_launch,
    emulator_pid,
    resident_mib,
    terminal,
    tmux_path,
    wizard_command,
)

TARGET = 1.3
MEMORY_TARGET = 150.0
"""MiB: the wizard and its children but the emulator, at the summary."""
BOUNDED = "wizard and its children but the emulator, at the summary"
COLUMNS, LINES = 160, 48
WIZARD_MARKER = b"New launch"
BARE_MARKER = b"A bare Textual app"
BARE_APP = f"""
from textual.app import App
from textual.widgets import Static


class Bare(App):
    def compose(self):
        yield Static({BARE_MARKER.decode()!r})


Bare().run()
"""
QUIT = b"\x11"  # ctrl+q

# An installed wheel has its bytecode compiled by pip; an editable checkout gets it on first
# import, unless PYTHONDONTWRITEBYTECODE is set (as on these machines). Let it be written, so
# the benchmark measures what an installed wizard does, not Python compiling our sources.
ENV = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
ENV["TERM"] = "xterm-256color"
# The wizard this checkout holds, wherever the console script was installed from (a worktree
# run with another checkout's venv would measure that checkout's code).
ENV["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)


def _drain(master: int, seconds: float) -> bytes:
    """Read what the program writes for up to `seconds` (b"" once the terminal is closed)."""
    ready, _, _ = select.select([master], [], [], seconds)
    if not ready:
        return b""
    try:
        return os.read(master, 65536)
    except OSError:  # EIO: every process holding the terminal has closed it
        return b""


def _group_alive(group: int) -> bool:
    """Whether any process of the process group still runs (zombies do not count)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            return True
    return False


def _end(process: subprocess.Popen[bytes], master: int) -> None:
    """Quit with ctrl+q, as a user would; then end whatever is left of its process group (the
    emulator child shares the wizard's group)."""
    with contextlib.suppress(OSError):
        os.write(master, QUIT)
    deadline = time.monotonic() + 10
    while process.poll() is None and time.monotonic() < deadline:
        _drain(master, 0.05)  # a full terminal buffer would block the app's last writes
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not _group_alive(process.pid):
            break
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        deadline = time.monotonic() + 5
        while _group_alive(process.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
            process.poll()
    process.wait()
    os.close(master)


def first_frame(command: list[str], marker: bytes, *, timeout: float = 30.0) -> tuple[float, float]:
    """Seconds from spawn until `marker` is on the terminal, and the program's RSS then (MiB)."""
    master, child = os.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", LINES, COLUMNS, 0, 0))
    start = time.perf_counter()
    process = subprocess.Popen(
        command,
        stdin=child,
        stdout=child,
        stderr=child,
        env=ENV,
        cwd=tempfile.gettempdir(),
        start_new_session=True,  # its own process group: ended as a whole afterwards
    )
    os.close(child)
    output = b""
    try:
        while marker not in output:
            if time.perf_counter() - start > timeout or process.poll() is not None:
                tail = output[-2000:].decode(errors="replace")
                raise RuntimeError(f"{command[0]}: no {marker!r} on screen; it wrote:\n{tail}")
            output += _drain(master, 0.5)
        elapsed = time.perf_counter() - start
        rss = resident_mib(process.pid)
    finally:
        _end(process, master)
    return elapsed, rss


def tree_mib(pid: int, *, exclude: set[int]) -> float:
    """The resident memory of a process and all its descendants (MiB), leaving out the
    processes in `exclude` and theirs: the figure issue 10 sets a bound on (150 MiB)."""
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        if current in exclude:
            continue
        try:
            total += resident_mib(current)
        except (OSError, ValueError):  # gone meanwhile, or a zombie
            continue
        pending += children(current)
    return total


def breakdown(pid: int, depth: int = 0) -> list[tuple[str, float]]:
    """Each process of the tree under `pid` (itself first), as (indented command, RSS MiB)."""
    rows: list[tuple[str, float]] = []
    try:
        command = command_line(pid)
        mark = "  (the emulator: not counted)" if "wizard.sandbox" in command else ""
        rows.append(("  " * depth + _short(command) + mark, resident_mib(pid)))
    except (OSError, ValueError):  # gone meanwhile, or a zombie
        return rows
    for child in sorted(children(pid)):
        rows += breakdown(child, depth + 1)
    return rows


def _short(command: str) -> str:
    """A process's command line without its interpreter's path and the launch's folders."""
    words = command.split()
    if words and "python" in Path(words[0]).name:
        words = words[1:]
    words = [Path(w).name if "/" in w else w for w in words if not w.startswith("--folder")]
    return " ".join(words)[:48]


def memory_at_summary(folder: Path) -> dict[str, float]:
    """One sandbox launch driven to its summary in tmux: seconds to "Sandbox ready", and the
    RSS (MiB) of the wizard at the start screen and at the summary, and of its emulator."""
    command = [*wizard_command(), "--sandbox", "--folder", str(folder)]
    with terminal(command, env=ENV, cwd=folder.parent) as term:
        start = time.monotonic()
        term.wait_for_text("Sandbox ready")
        ready = time.monotonic() - start
        wizard = term.pid
        shown = command_line(wizard)
        if "airflow-ecs-wizard" not in shown and "wizard.cli" not in shown:
            raise RuntimeError(f"the pane runs {shown!r}, not the wizard")
        at_start = resident_mib(wizard)
        drive_sandbox_launch(term)
        emulator = emulator_pid(wizard)
        figures = {
            "sandbox ready (s)": ready,
            "wizard at the start screen": at_start,
            "wizard at the summary": resident_mib(wizard),
            BOUNDED: tree_mib(wizard, exclude={emulator} if emulator else set()),
            "emulator child at the summary": resident_mib(emulator) if emulator else float("nan"),
        }
        for command, mib in breakdown(wizard):  # every process, the emulator's marked
            figures[f"process {command}"] = mib
        term.send("C-q")
        term.wait_for_exit()
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aew-bench-startup-") as scratch:
        root = Path(scratch)
        folders = (root / f"sandbox-{n}" for n in range(2 * args.runs + 2))
        commands = {
            "airflow-ecs-wizard --sandbox": lambda: (
                [*wizard_command(), "--sandbox", "--folder", str(next(folders))],
                WIZARD_MARKER,
            ),
            "bare Textual app, one Static": lambda: ([sys.executable, "-c", BARE_APP], BARE_MARKER),
        }
        for make in commands.values():  # warm the OS cache and write the bytecode
            first_frame(*make())
        times: dict[str, list[float]] = {name: [] for name in commands}
        memory: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):  # interleaved, so both see the same machine load
            for name, make in commands.items():
                elapsed, rss = first_frame(*make())
                times[name].append(elapsed)
                memory[name].append(rss)
        medians = {name: statistics.median(values) for name, values in times.items()}
        for name, median in medians.items():
            rss = statistics.median(memory[name])
            print(
                f"{name:30} first frame {median * 1000:7.1f} ms (median of {args.runs}), "
                f"RSS then {rss:6.1f} MiB"
            )
        wizard_ms, bare_ms = medians.values()
        ratio = wizard_ms / bare_ms
        verdict = "OK" if ratio <= TARGET else "OVER TARGET"
        print(f"ratio wizard / bare app: {ratio:.2f}x (target <= {TARGET}x) {verdict}")

        if tmux_path() is None:
            print("memory at the summary: skipped (tmux is not installed)")
            return 0
        figures = memory_at_summary(root / "sandbox-summary")
    print(f"one sandbox launch in tmux: sandbox ready {figures.pop('sandbox ready (s)'):.1f} s")
    for name, mib in figures.items():
        print(f"  RSS {name:58} {mib:6.1f} MiB")
    verdict = "OK" if figures[BOUNDED] <= MEMORY_TARGET else "OVER TARGET"
    print(
        f"memory at the summary: {figures[BOUNDED]:.1f} MiB (target <= {MEMORY_TARGET:g}) {verdict}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
