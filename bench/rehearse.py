"""Benchmark: the wall time of `airflow-ecs-wizard rehearse` on the example config with a warm
venv cache (the venv is installed first, outside the clock, if it is missing), and the peak
resident memory of all its processes together (the CLI, every Airflow component with its
children, PostgreSQL, Redis and the S3 emulator), sampled every 0.5 s from /proc: RSS, and PSS,
which counts the pages they share once.

Goal: at most 3 minutes on 2 cores. Run: python bench/rehearse.py [--config C] [--version V]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wizard.config_file import load_config, save_config  # noqa: E402 (repo root on the path first)
from wizard.rehearse.venv import ensure_venv  # noqa: E402


def _memory_kib(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of one process: RSS counts shared pages in every process that maps them (a
    forked Celery pool or API workers share most), PSS splits them among the sharers."""
    try:
        fields = dict(
            line.split(":", 1)
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]
        )
        return int(fields["Rss"].split()[0]), int(fields["Pss"].split()[0])
    except (OSError, ValueError, KeyError):
        return 0, 0


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        tree.setdefault(parent, []).append(int(entry.name))
    return tree


def _family(root: int, prefix: str) -> set[int]:
    """The CLI's descendants, plus the daemons it started that re-parented themselves
    (PostgreSQL and Redis daemonize): found by their working folder, which is inside the
    rehearsal's folders (so run nothing else that rehearses meanwhile)."""
    tree, found, todo = _children(), set(), [root]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.readlink(entry / "cwd").startswith(prefix):
                    todo.append(int(entry.name))
            except OSError:
                continue
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo += tree.get(pid, [])
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", type=Path, default=ROOT / "examples" / "launch.example.toml")
    parser.add_argument("--version", help="rehearse this Airflow MAJOR.MINOR instead")
    args = parser.parse_args()
    config = load_config(args.config)
    path = args.config
    if args.version:
        config = config.model_validate(
            {
                **config.model_dump(),
                "airflow": {**config.airflow.model_dump(), "version": args.version},
            }
        )
        path = Path(tempfile.mkdtemp()) / "launch.toml"
        save_config(config, path)
    ensure_venv(config)  # warm the cache outside the clock
    started = time.monotonic()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "wizard.cli",
            "rehearse",
            "--config",
            str(path),
            "--runtime",
            "venv",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    peak = {"kib": 0, "pss": 0, "processes": 0}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            family = _family(
                process.pid, os.path.join(tempfile.gettempdir(), "airflow-ecs-wizard-")
            )
            sizes = [_memory_kib(pid) for pid in family]
            rss, pss = sum(size[0] for size in sizes), sum(size[1] for size in sizes)
            if rss > peak["kib"]:
                peak.update(kib=rss, processes=len(family))
            peak["pss"] = max(peak["pss"], pss)
            done.wait(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output, _ = process.communicate()
    wall = time.monotonic() - started
    done.set()
    sampler.join()
    print(output.rstrip())
    print(f"cpus: {os.cpu_count()}, load average at the end: {os.getloadavg()[0]:.1f}")
    print(f"rehearse wall time (warm venv cache): {wall:.0f} s (goal <= 180 s)")
    mib, count = peak["kib"] / 1024, peak["processes"]
    print(f"peak RSS of all its processes: {mib:.0f} MiB ({count} processes)")
    print(f"peak PSS (shared pages counted once): {peak['pss'] / 1024:.0f} MiB")
    return process.returncode


if __name__ == "__main__":
    sys.exit(main())
