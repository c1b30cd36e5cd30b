"""Benchmark: `airflow-ecs-wizard render` of the example config as a whole process, against
`python -c "import jinja2, pydantic"` in the same run. Prints both medians and the ratio.

Target: at most 1.5x. Run: python bench/render.py [--runs N] [--config FILE]
"""

from __future__ import annotations

import argparse
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


def _time(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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
        baseline = [sys.executable, "-c", "import jinja2, pydantic"]
        _time(render), _time(baseline)  # warm the OS cache and Jinja's bytecode cache
        render_times, baseline_times = [], []
        for _ in range(args.runs):  # interleaved, so both see the same machine load
            render_times.append(_time(render))
            baseline_times.append(_time(baseline))
    render_median = statistics.median(render_times)
    baseline_median = statistics.median(baseline_times)
    ratio = render_median / baseline_median
    print(f"render (whole process):         {render_median * 1000:7.1f} ms (median of {args.runs})")
    print(f"python -c 'import jinja2, pydantic': {baseline_median * 1000:7.1f} ms")
    print(f"ratio: {ratio:.2f}x (target <= {TARGET}x) {'OK' if ratio <= TARGET else 'OVER TARGET'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
