"""The `venv` runtime's Airflow: the pip-installed release of the config's version, cached per
version in the user's cache folder, run with the official image's entrypoint rule.

Airflow's constraints files are not reachable everywhere, so the pins that pip's own choice
breaks are listed here (celery 5.6+ cannot be imported by the celery provider 3.26).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from wizard.config import LaunchConfig
from wizard.errors import BadInput, WizardError

CACHE_VARIABLE = "AIRFLOW_ECS_WIZARD_VENV_CACHE"
"""Where the Airflow venvs are kept (CI points it at a folder it caches between runs)."""

PINNED_RELEASES = {
    "3.3": "3.3.2",
    "3.2": "3.2.2",
    "3.1": "3.1.8",
    "3.0": "3.0.6",
    "2.11": "2.11.2",
    "2.10": "2.10.5",
    "2.9": "2.9.3",
    "2.8": "2.8.4",
    "2.7": "2.7.3",
}
"""MAJOR.MINOR -> the patch release a rehearsal installs."""

TESTED_RELEASES = ("3.3.2", "2.11.2")
"""The releases the test suite rehearses on every run; the others are believed to work."""

EXTRA_PINS = ("celery[redis]>=5.5,<5.6",)
"""Pins where pip's choice breaks: celery 5.6+ fails the celery provider 3.26's import
(`cannot import name 'retry'`)."""

MARKER = "airflow-ecs-wizard-requirements.txt"


def cache_dir() -> Path:
    """The folder holding one venv per Airflow release."""
    configured = os.environ.get(CACHE_VARIABLE)
    if configured:
        return Path(configured)
    import platformdirs

    return Path(platformdirs.user_cache_dir("airflow-ecs-wizard")) / "venvs"


def release(config: LaunchConfig) -> str:
    """The pinned patch release of the config's version.

    Raises:
        BadInput: 1.10 (it needs a container), or a line without a pinned release.
    """
    version = config.airflow.version
    if config.airflow.parsed_version.major == 1:
        raise BadInput(
            "airflow.version = 1.10 cannot be installed on Python 3.9 or newer, so the venv "
            "runtime cannot rehearse it",
            title="Airflow 1.10 needs docker",
            hint="Rehearse it with --runtime docker (and --image if the launch's image is not "
            "pullable from here), on a machine with a Docker engine.",
        )
    if version not in PINNED_RELEASES:
        raise BadInput(
            f"airflow.version = {version} has no pinned release for the venv runtime "
            f"(pinned: {', '.join(PINNED_RELEASES)})",
            title="No pinned Airflow release",
            hint="Rehearse it with --runtime docker, or choose a pinned version.",
        )
    return PINNED_RELEASES[version]


def extras(config: LaunchConfig) -> list[str]:
    """The extras this launch needs: celery, its database's driver, redis, fab, amazon."""
    database = "postgres" if config.database.engine == "postgres" else "mysql"
    return sorted(["amazon", "celery", database, "fab", "redis"])


def requirements(config: LaunchConfig) -> list[str]:
    """What pip installs for this launch."""
    return [f"apache-airflow[{','.join(extras(config))}]=={release(config)}", *EXTRA_PINS]


def venv_path(config: LaunchConfig) -> Path:
    """The cached venv of the config's release (for this Python), one per database driver: a
    MySQL launch's venv (mysqlclient, built from source) never touches a PostgreSQL one's."""
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    driver = "" if config.database.engine == "postgres" else f"-{config.database.engine}"
    return cache_dir() / f"airflow-{release(config)}{driver}-py{python}"


def ensure_venv(config: LaunchConfig, report: Callable[[str], None] = print) -> Path:
    """The venv for this launch, installed once (under a lock: parallel rehearsals share it).

    Raises:
        WizardError: pip failed (its output is in the venv's install.log).
    """
    from filelock import FileLock

    wanted = requirements(config)
    folder = venv_path(config)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder) + ".lock"):
        marker = folder / MARKER
        have = set(marker.read_text().split("\n")) if marker.exists() else set()
        if set(wanted) <= have and (folder / "bin" / "airflow").exists():
            return folder
        report(f"installing {' '.join(wanted)} into {folder} (once per version)")
        if not (folder / "bin" / "python").exists():
            subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
        log = folder / "install.log"
        with log.open("a") as output:
            result = subprocess.run(
                [str(folder / "bin" / "python"), "-m", "pip", "install", "--quiet", *wanted],
                stdout=output,
                stderr=subprocess.STDOUT,
                check=False,
            )
        if result.returncode != 0:
            raise WizardError(
                f"pip could not install {' '.join(wanted)} (see {log})",
                title="Airflow install failed",
                hint="Check that PyPI is reachable, or rehearse with --runtime docker.",
            )
        marker.write_text("\n".join(sorted(have | set(wanted))) + "\n")
    return folder


def entrypoint(command: list[str], venv: Path) -> list[str]:
    """The official image's entrypoint rule: `airflow ARGS` unless ARGS start with bash or
    python, which run as they are."""
    if command and command[0] == "bash":
        return ["/bin/bash", *command[1:]]
    if command and command[0] == "python":
        return [str(venv / "bin" / "python"), *command[1:]]
    return [str(venv / "bin" / "airflow"), *command]


def image_environment(venv: Path, home: Path) -> dict[str, str]:
    """What the image itself sets: its PATH (airflow, celery, python) and AIRFLOW_HOME."""
    path = f"{venv / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}"
    return {"PATH": path, "AIRFLOW_HOME": str(home), "PYTHONUNBUFFERED": "1", "LANG": "C.UTF-8"}
