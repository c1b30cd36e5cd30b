"""Which Airflow versions the wizard supports, and which components each one has."""

from __future__ import annotations

import re
from dataclasses import dataclass

from wizard.errors import quoted

_VERSION = re.compile(r"(\d+)\.(\d+)", re.ASCII)

LONG_RUNNING_COMPONENTS = (
    "webserver",
    "scheduler",
    "worker",
    "flower",
    "triggerer",
    "dag_processor",
)
"""The config keys of the components that run as services, in launch order."""

MIGRATE_COMPONENT = "initdb"
"""The key of the one-off task that migrates the metadata database (and creates the Admin)."""

ALL_COMPONENTS = (*LONG_RUNNING_COMPONENTS, MIGRATE_COMPONENT)
REQUIRED_COMPONENTS = ("webserver", "scheduler", "worker")


@dataclass(frozen=True, order=True)
class AirflowVersion:
    """An Airflow release line as the config names it: `MAJOR.MINOR`."""

    major: int
    minor: int

    @classmethod
    def parse(cls, text: str) -> AirflowVersion:
        """Parse `MAJOR.MINOR` and check that the wizard supports it.

        Raises:
            ValueError: with a message that lists what is supported.
        """
        match = _VERSION.fullmatch(text.strip())
        if not match:
            raise ValueError(f"{quoted(text)} is not MAJOR.MINOR: write it like 3.3, 2.11 or 1.10")
        version = cls(int(match.group(1)), int(match.group(2)))
        if not version.supported:
            raise ValueError(
                f"Airflow {version} is not supported: use 1.10 (the runbook's fork), "
                "2.7 to 2.11, or 3.x"
            )
        return version

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"

    @property
    def supported(self) -> bool:
        """1.10, 2.7-2.11 and every 3.x."""
        return (
            (self.major, self.minor) == (1, 10)
            or (self.major == 2 and 7 <= self.minor <= 11)
            or self.major == 3
        )

    def at_least(self, major: int, minor: int) -> bool:
        """Whether this line is `major.minor` or newer."""
        return (self.major, self.minor) >= (major, minor)


_COMPONENT_SINCE = {"triggerer": (2, 2), "dag_processor": (2, 3)}


def component_problems(version: AirflowVersion, keys: set[str]) -> list[str]:
    """What is wrong with a set of component keys for one Airflow version."""
    problems = []
    unknown = sorted(keys - set(ALL_COMPONENTS))
    if unknown:
        problems.append(
            f"unknown component(s) {', '.join(map(quoted, unknown))}: the components are "
            f"{', '.join(ALL_COMPONENTS)}"
        )
    for key in REQUIRED_COMPONENTS:
        if key not in keys:
            problems.append(f"[components.{key}] is required: every Airflow needs a {key}")
    for key, (major, minor) in _COMPONENT_SINCE.items():
        if key in keys and not version.at_least(major, minor):
            problems.append(
                f"{key} needs Airflow {major}.{minor} or newer and airflow.version is {version}: "
                f"remove [components.{key}] or choose a newer version"
            )
    if version.major >= 3 and "dag_processor" not in keys:
        problems.append(
            "[components.dag_processor] is required on Airflow 3, where the DAG processor "
            "always runs as its own service"
        )
    return problems
