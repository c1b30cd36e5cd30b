"""Packaging and layering: the core imports no UI; the wheel carries the templates and runs
`render` from a fresh virtual environment outside the repository."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

import wizard
from tests.conftest import ROOT, run_python


def test_core_imports_no_ui_in_a_fresh_interpreter() -> None:
    modules = sorted(
        info.name
        for info in pkgutil.walk_packages(wizard.__path__, "wizard.")
        if not info.name.endswith("__main__")
    )
    for expected in ("wizard.config", "wizard.session", "wizard.prompts", "wizard.steps.cluster"):
        assert expected in modules
    probe = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'textual', 'questionary', 'screens', 'prompt_toolkit'}))\n"
    )
    assert run_python(probe).strip() == "[]"


@pytest.mark.slow
def test_wheel_ships_templates_and_renders_from_a_fresh_venv(
    tmp_path: Path, example_path: Path
) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(dist),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = dist.glob("airflow_ecs_wizard-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    templates = {p.name for p in (ROOT / "templates").iterdir()}
    assert {f"wizard/templates/{name}" for name in templates} <= names
    assert "wizard/data/airflow_options/apache-airflow-core-3.3.2.txt" in names
    assert "screens/__init__.py" in names and "wizard/cli.py" in names
    assert not any(name.startswith(("tests/", "templates/")) for name in names)

    # A venv that sees the test environment's packages through a .pth, so nothing downloads;
    # our wheel installed into it takes precedence over the editable source tree.
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    ours = [p for p in sys.path if p.endswith("site-packages")]
    Path(site, "test-environment.pth").write_text("\n".join(ours) + "\n")
    subprocess.run(
        [str(python), "-m", "pip", "install", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = subprocess.run(
        [
            str(env_dir / "bin" / "airflow-ecs-wizard"),
            "render",
            "--config",
            str(example_path),
            "--out",
            "out",
        ],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (elsewhere / "out" / "taskdef-webserver.json").exists()
    where = subprocess.run(
        [str(python), "-c", "import wizard.render as r; print(r.templates_dir())"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert where.startswith(site) and where.endswith("wizard/templates")
