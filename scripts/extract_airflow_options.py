"""Extract the configuration options of Apache Airflow from its published wheels.

For each pinned source below this script downloads one wheel from PyPI (``pip download
--no-deps --only-binary=:all:``), opens it with :mod:`zipfile` (nothing is installed or
imported from it) and writes ``<package>-<version>.txt`` into ``--out``: a header of ``#``
lines saying where the list came from, then one ``section.key`` per line, lowercase, sorted,
unique. ``wizard/airflow_options.py`` reads these files.

Where the options come from:

* core (``apache-airflow`` 1.10 to 2.x, ``apache-airflow-core`` 3.x):
  ``airflow/config_templates/config.yml``. In 1.10 it is a list of sections, later a mapping.
  1.10.15 also ships ``default_airflow.cfg``, but that is generated from config.yml and leaves
  out the options that have no default (they are commented out), so config.yml is the superset.
* providers: ``airflow/providers/<name>/get_provider_info.py``, whose ``get_provider_info()``
  returns a dict literal with a ``"config"`` key shaped like config.yml. It is read with
  ``ast.literal_eval``; the code is never run.

Extra header lines, for people and for ``wizard/airflow_options.py``:

* ``# sensitive: section.key`` -- Airflow also reads ``AIRFLOW__SECTION__KEY_CMD`` and
  ``AIRFLOW__SECTION__KEY_SECRET`` for these options only. From 2.0 on these are the options
  marked ``sensitive: true`` in config.yml (or in a provider's config); 1.10 hard-codes them in
  ``AirflowConfigParser.sensitive_config_values`` in ``airflow/configuration.py``.
* ``# deprecated: section.key (since X)`` -- still listed (and read) by that version.
* ``# free-form section: name`` -- config.yml lists no keys for it; Airflow reads every key.

To move to newer releases: ``pip index versions <package>``, edit SOURCES, re-run, delete the
files of the old versions and update the file names in ``wizard/airflow_options.py``.

Usage::

    .venv/bin/python scripts/extract_airflow_options.py [--out DIR] [--only NAME==VERSION ...]
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "wizard" / "data" / "airflow_options"
CONFIG_YML = "airflow/config_templates/config.yml"
CONFIGURATION_PY = "airflow/configuration.py"
PROVIDER_PREFIX = "apache-airflow-providers-"


@dataclass(frozen=True)
class Source:
    """One wheel to read, and why this version was chosen."""

    package: str
    version: str
    why: str

    @property
    def spec(self) -> str:
        return f"{self.package}=={self.version}"

    @property
    def is_provider(self) -> bool:
        return self.package.startswith(PROVIDER_PREFIX)


# Chosen with `pip index versions <package>` (the latest ones as of this commit).
SOURCES = (
    Source("apache-airflow", "1.10.15", "the last 1.10 release"),
    Source("apache-airflow", "2.7.3", "the oldest 2.x the wizard supports"),
    Source("apache-airflow", "2.11.2", "the latest 2.11.x"),
    Source("apache-airflow-core", "3.0.6", "the latest 3.0.x"),
    Source("apache-airflow-core", "3.3.2", "the latest 3.x"),
    Source(
        "apache-airflow-providers-celery",
        "3.3.0",
        "the oldest 3.3.x, the first to own [celery] (moved out of core in Airflow 2.7)",
    ),
    Source("apache-airflow-providers-celery", "3.26.0", "the latest release"),
    Source("apache-airflow-providers-fab", "3.10.2", "the latest release ([fab] for Airflow 3)"),
)


@dataclass
class Extracted:
    """The options of one wheel, and notes on some of them."""

    path: str
    options: set[str] = field(default_factory=set)
    sensitive: set[str] = field(default_factory=set)
    sensitive_from: str = 'the options marked "sensitive: true" there'
    deprecated: dict[str, str] = field(default_factory=dict)  # name -> version deprecated
    free_form: list[str] = field(default_factory=list)


def download(source: Source, dest: Path) -> Path:
    """Download the wheel of `source` into the empty folder `dest`, and return its path."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    command += ["--disable-pip-version-check", "-q", "-d", str(dest), source.spec]
    subprocess.run(command, check=True)
    wheels = list(dest.glob("*.whl"))
    if len(wheels) != 1:
        raise SystemExit(f"{source.spec}: expected one wheel in {dest}, found {wheels}")
    return wheels[0]


def sections_of(config: Any) -> dict[str, dict[str, Any]]:
    """Turn config.yml's sections (a list in 1.10, a mapping later) into {section: {key: spec}}."""
    if isinstance(config, list):  # 1.10: [{name, options: [{name, ...}]}]
        return {
            section["name"]: {option["name"]: option for option in section["options"] or []}
            for section in config
        }
    return {name: dict(body.get("options") or {}) for name, body in config.items()}


def from_sections(path: str, sections: dict[str, dict[str, Any]]) -> Extracted:
    """Collect the options, and the sensitive, deprecated and free-form notes, of `sections`."""
    found = Extracted(path)
    for section, options in sections.items():
        if not options:
            found.free_form.append(section.lower())
        for key, spec in options.items():
            name = f"{section}.{key}".lower()
            found.options.add(name)
            if spec.get("sensitive") is True:
                found.sensitive.add(name)
            if spec.get("version_deprecated"):
                found.deprecated[name] = str(spec["version_deprecated"])
    return found


def sensitive_1_10(wheel: zipfile.ZipFile) -> set[str]:
    """1.10's sensitive options: the set literal `AirflowConfigParser.sensitive_config_values`."""
    tree = ast.parse(wheel.read(CONFIGURATION_PY))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id == "sensitive_config_values"
        ):
            return {f"{section}.{key}".lower() for section, key in ast.literal_eval(node.value)}
    raise SystemExit(f"no sensitive_config_values assignment in {CONFIGURATION_PY}")


def extract_core(wheel: zipfile.ZipFile) -> Extracted:
    """Read the options of a core wheel from its config.yml."""
    if CONFIG_YML not in wheel.namelist():
        raise SystemExit(f"{wheel.filename}: no {CONFIG_YML}; find where its options are defined")
    config = yaml.safe_load(wheel.read(CONFIG_YML))
    found = from_sections(CONFIG_YML, sections_of(config))
    if isinstance(config, list):  # 1.10: config.yml has no `sensitive` field
        found.sensitive = sensitive_1_10(wheel) & found.options
        found.sensitive_from = f"{CONFIGURATION_PY} (AirflowConfigParser.sensitive_config_values)"
    return found


def provider_info(source: bytes) -> dict[str, Any]:
    """The dict literal returned by `get_provider_info()`, evaluated without running the code."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef) and node.name == "get_provider_info":
            returns = [n for n in ast.walk(node) if isinstance(n, ast.Return)]
            if len(returns) == 1 and returns[0].value is not None:
                info = ast.literal_eval(returns[0].value)
                if isinstance(info, dict):
                    return info
    raise SystemExit("get_provider_info() does not just return a dict literal")


def extract_provider(source: Source, wheel: zipfile.ZipFile) -> Extracted:
    """Read the options of a provider wheel from its get_provider_info.py."""
    name = source.package.removeprefix(PROVIDER_PREFIX).replace("-", "/")
    path = f"airflow/providers/{name}/get_provider_info.py"
    if path not in wheel.namelist():
        raise SystemExit(f"{wheel.filename}: no {path}")
    config = provider_info(wheel.read(path)).get("config") or {}
    if not config:
        raise SystemExit(f"{wheel.filename}: get_provider_info() has no config")
    return from_sections(f'{path} (get_provider_info()["config"])', sections_of(config))


def render(source: Source, wheel_path: Path, found: Extracted) -> str:
    """The text of the options file: the header, then the sorted options."""
    digest = hashlib.sha256(wheel_path.read_bytes()).hexdigest()
    header = [
        f"Apache Airflow configuration options (section.key) of {source.spec}, {source.why}.",
        "Generated from the published wheel; do not edit by hand.",
        f"package: {source.package}",
        f"version: {source.version}",
        f"wheel: {wheel_path.name}",
        f"wheel-sha256: {digest}",
        f"options-from: {found.path}",
        f"sensitive-from: {found.sensitive_from}",
        f"regenerate: .venv/bin/python scripts/extract_airflow_options.py --only {source.spec}",
        f"options: {len(found.options)}",
    ]
    header += [f"sensitive: {name}" for name in sorted(found.sensitive)]
    header += [f"deprecated: {name} (since {v})" for name, v in sorted(found.deprecated.items())]
    header += [f"free-form section: {name}" for name in sorted(found.free_form)]
    lines = [f"# {line}" for line in header] + sorted(found.options)
    return "\n".join(lines) + "\n"


def extract(source: Source, out: Path) -> Path:
    """Download, read and write the options of one source; return the file written."""
    with tempfile.TemporaryDirectory(prefix="airflow-options-") as tmp:
        wheel_path = download(source, Path(tmp))
        with zipfile.ZipFile(wheel_path) as wheel:
            found = extract_provider(source, wheel) if source.is_provider else extract_core(wheel)
        target = out / f"{source.package}-{source.version}.txt"
        target.write_text(render(source, wheel_path, found), encoding="utf-8")
    return target


def main(argv: list[str] | None = None) -> int:
    """Extract every source (or those given with --only) into --out."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="default: %(default)s")
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME==VERSION",
        choices=[source.spec for source in SOURCES],
        help="extract only this source (repeatable); default: all of SOURCES",
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for source in SOURCES:
        if args.only is None or source.spec in args.only:
            print(f"{source.spec}: wrote {extract(source, args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
