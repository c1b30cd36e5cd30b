"""Benchmark: `airflow-ecs-wizard render` of the example config as a whole process, against
`python -c "import jinja2, pydantic"` in the same run. Prints both medians and the ratio.

Target: at most 1.5x. Run: python bench/render.py [--runs N] [--config FILE]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT.parent / "shared" / "spec" / "launch.example.toml"
TARGET = 1.5
BASELINE = "import jinja2, pydantic"
# `import pydantic` is lazy: BaseModel pulls in pydantic.fields, types and their dependencies.
FLOOR = "import jinja2; from pydantic import BaseModel"


# An installed wheel has its bytecode compiled by pip; an editable checkout gets it on first
# import, unless PYTHONDONTWRITEBYTECODE is set (as on these machines). Let it be written, so
# the benchmark measures what an installed wizard does, not Python compiling our sources.
ENV = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}


def _time(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(
        command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV
    )
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--config", type=Path, default=EXAMPLE)
    args = parser.parse_args()
    executable = shutil.which("airflow-ecs-wizard", path=str(Path(sys.executable).parent))
    if executable is None:
        print("airflow-ecs-wizard is not installed next to this python", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as out:
        render = [executable, "render", "--config", str(args.config), "--out", out]
        commands = {
            "render (whole process)": render,
            "python -c 'import jinja2, pydantic'": [sys.executable, "-c", BASELINE],
            "floor: jinja2 + pydantic.BaseModel": [sys.executable, "-c", FLOOR],
        }
        for command in commands.values():  # warm the OS cache and Jinja's bytecode cache
            _time(command)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):  # interleaved, so every command sees the same machine load
            for name, command in commands.items():
                times[name].append(_time(command))
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, median in medians.items():
        print(f"{name:38} {median * 1000:7.1f} ms (median of {args.runs})")
    render_ms, baseline_ms, floor_ms = medians.values()
    ratio = render_ms / baseline_ms
    verdict = "OK" if ratio <= TARGET else "OVER TARGET"
    print(f"ratio render / baseline: {ratio:.2f}x (target <= {TARGET}x) {verdict}")
    print(
        f"ratio floor / baseline:  {floor_ms / baseline_ms:.2f}x "
        "(what any pydantic-model config costs before a single model exists)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
