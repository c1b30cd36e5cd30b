"""`rehearse` from the command line without booting Airflow: the same table (or, with
`--json`, the same document) when a rehearsal stops before any component ran, and refused
input as exit 2 with a document saying why."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.conftest import run_cli
from wizard.rehearse.run import TIMEOUT_SCALE_VARIABLE


def _no_index(timeout_scale: str | None = None) -> dict[str, str]:
    """The environment `no_pypi` made (the install fails at once), with the timeout scale
    given here, never inherited."""
    env = dict(os.environ)
    if timeout_scale is not None:
        env[TIMEOUT_SCALE_VARIABLE] = timeout_scale
    return env


def test_json_names_the_stage_a_rehearsal_stopped_at(example_path: Path, no_pypi: Path) -> None:
    """Airflow cannot be installed: exit 1, one failed row `airflow install` with pip's log,
    the error for scripts, and nothing was started (no services, no folder left)."""
    result = run_cli(
        *("rehearse", "--config", str(example_path), "--runtime", "venv", "--json"),
        env=_no_index(),
    )
    assert result.returncode == 1, result.stderr
    data = json.loads(result.stdout)  # stdout holds the document and nothing else
    assert data["ok"] is False
    assert data["failed"] == ["airflow install"]
    [row] = data["rows"]
    assert (row["started"], row["health"], row["ok"]) == (False, "failed", False)
    assert "pip could not install apache-airflow[" in row["detail"]
    assert data["error"]["title"] == "Airflow install failed"
    assert data["error"]["hint"].startswith("Check that PyPI is reachable")
    assert data["services"] == {}
    assert not Path(data["folder"]).exists()  # nothing ran: nothing kept
    assert "error: Airflow install failed" in result.stderr


def test_plain_output_is_the_same_table(example_path: Path, no_pypi: Path) -> None:
    """Without --json: the rewrites (none yet) and the table, with the failed row's detail and
    the verdict naming it; progress stays on stderr."""
    result = run_cli(
        *("rehearse", "--config", str(example_path), "--runtime", "venv"),
        env=_no_index(),
    )
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "rewrites (what ECS and AWS would provide):"
    assert lines[1].split() == ["component", "started", "health", "secs"]
    assert lines[2].split()[:4] == ["airflow", "install", "no", "failed"]
    assert "pip could not install" in result.stdout
    assert lines[-1] == "verdict: FAILED: airflow install (venv)"
    assert "installing apache-airflow" in result.stderr and "installing" not in result.stdout


def test_a_relaxed_timeout_is_listed_before_the_table(example_path: Path, no_pypi: Path) -> None:
    """With the timeout scale set (as on a slow machine, or in scripts/test), the output says
    the health checks were given longer: a relaxation is listed, never silent."""
    result = run_cli(
        *("rehearse", "--config", str(example_path), "--runtime", "venv"),
        env=_no_index(timeout_scale="3"),
    )
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1] == f"relaxed: health checks: timeouts x3 ({TIMEOUT_SCALE_VARIABLE})"
    assert lines[2].split() == ["component", "started", "health", "secs"]


def test_refused_input_with_json_is_exit_2_and_a_document(example_path: Path) -> None:
    result = run_cli(
        *("rehearse", "--config", str(example_path), "--runtime", "venv", "--json"),
        *("--image", "apache/airflow:3.3.2"),
    )
    assert result.returncode == 2, result.stderr
    data = json.loads(result.stdout)
    assert data == {
        "ok": False,
        "rows": [],
        "failed": [],
        "error": {
            "title": "Bad arguments",
            "message": "--image is for the docker runtime; the venv runtime installs Airflow "
            "from PyPI",
            "hint": "Drop --image, or add --runtime docker.",
        },
    }
    assert "--image is for the docker runtime" in result.stderr  # people read stderr


def test_bad_timeout_scale_with_json_is_exit_2(
    example_path: Path, no_pypi: Path, tmp_path: Path
) -> None:
    result = run_cli(
        *("rehearse", "--config", str(example_path), "--runtime", "venv", "--json"),
        env={
            **_no_index(timeout_scale="fast"),
            "AIRFLOW_ECS_WIZARD_VENV_CACHE": str(tmp_path / "cache"),  # its own, empty
        },
    )
    assert result.returncode == 2, result.stderr
    assert json.loads(result.stdout)["error"]["title"] == "Bad timeout scale"
    assert not (tmp_path / "cache").exists()  # refused before anything was installed
