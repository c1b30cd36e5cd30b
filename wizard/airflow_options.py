"""The configuration options each supported Airflow version reads, from checked-in lists.

The lists in ``wizard/data/airflow_options/`` are extracted from the published wheels on PyPI by
``scripts/extract_airflow_options.py`` (see the header of each file for its wheel and SHA-256):
one ``section.key`` per line, lowercase, after a header of ``#`` lines.

A config version ``MAJOR.MINOR`` stands for a range of releases, so its options are those that
every list of the range has:

* ``1.10``: apache-airflow 1.10.15 (Celery's options are still in core there).
* ``2.7`` to ``2.11``: in both the 2.7.3 and the latest 2.11.x core lists, plus those in both the
  oldest (3.3.0) and the latest ``apache-airflow-providers-celery`` lists: ``[celery]`` and its
  sibling sections moved from core into that provider in Airflow 2.7.
* ``3.N``: in both the latest 3.0.x and the latest 3.x ``apache-airflow-core`` lists, plus the
  Celery options as for 2.x, plus the ``[fab]`` options of ``apache-airflow-providers-fab``.

Environment variables: Airflow reads ``[section] key`` from ``AIRFLOW__SECTION__KEY``, the exact
upper-case name it builds. For *sensitive* options only it also reads
``AIRFLOW__SECTION__KEY_CMD`` (the output of a command) and ``AIRFLOW__SECTION__KEY_SECRET`` (a
path in the secrets backend), and ignores those names for every other option. The sensitive
options are the ``# sensitive:`` header lines of the lists: from 2.0 on, the options marked
``sensitive: true`` in config.yml or in a provider's config; in 1.10, the hard-coded
``AirflowConfigParser.sensitive_config_values``. A suffixed name is accepted when its option is
sensitive in every list of the range. Deprecated option names that Airflow still maps to their
new ones (``AIRFLOW__CORE__SQL_ALCHEMY_CONN`` in 2.3+, for instance) are not in config.yml, so
they count as unknown: the wizard should emit the current name. So do Airflow 3.3's team-scoped
names (``AIRFLOW__TEAM___SECTION__KEY``) and the per-key secrets-backend kwargs
(``AIRFLOW__SECRETS__BACKEND_KWARG__KEY``), which the wizard does not emit.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from importlib import resources
from importlib.resources.abc import Traversable
from typing import NamedTuple

from wizard.errors import quoted

ENV_PREFIX = "AIRFLOW__"
"""What every environment variable Airflow reads an option from starts with."""

SENSITIVE_SUFFIXES = ("_CMD", "_SECRET")
"""The suffixes Airflow accepts after the name of a sensitive option."""

_SENSITIVE_HEADER = "# sensitive: "
_VERSION = re.compile(r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)", re.ASCII)

# The lists (file names without ".txt") that make up each range; a test checks that these are
# exactly the files in the data folder.
_CORE_1_10 = ("apache-airflow-1.10.15",)
_CORE_2 = ("apache-airflow-2.7.3", "apache-airflow-2.11.2")
_CORE_3 = ("apache-airflow-core-3.0.6", "apache-airflow-core-3.3.2")
_CELERY = ("apache-airflow-providers-celery-3.3.0", "apache-airflow-providers-celery-3.26.0")
_FAB = ("apache-airflow-providers-fab-3.10.2",)
LIST_NAMES = frozenset(_CORE_1_10 + _CORE_2 + _CORE_3 + _CELERY + _FAB)
"""The names of the lists this module uses."""


class _OptionList(NamedTuple):
    options: frozenset[str]
    sensitive: frozenset[str]


def _data_dir() -> Traversable:
    return resources.files("wizard") / "data" / "airflow_options"


def _parse(text: str) -> _OptionList:
    options: set[str] = set()
    sensitive: set[str] = set()
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith(_SENSITIVE_HEADER):
            sensitive.add(line.removeprefix(_SENSITIVE_HEADER).strip())
        elif line and not line.startswith("#"):
            options.add(line)
    return _OptionList(frozenset(options), frozenset(sensitive))


@functools.cache
def _lists() -> dict[str, _OptionList]:
    return {
        entry.name.removesuffix(".txt"): _parse(entry.read_text(encoding="utf-8"))
        for entry in _data_dir().iterdir()
        if entry.name.endswith(".txt")
    }


def option_files() -> dict[str, frozenset[str]]:
    """The checked-in option lists, read once and cached.

    Returns:
        The options (``section.key``) of each list, keyed by its file name without ``.txt``,
        e.g. ``"apache-airflow-2.7.3"``.
    """
    return {name: option_list.options for name, option_list in _lists().items()}


def _ranges(version: str) -> tuple[tuple[str, ...], ...]:
    """The groups of lists for `version`: options in all lists of a group, in any group."""
    match = _VERSION.fullmatch(version)
    if not match:
        raise ValueError(
            f"{quoted(version)} is not a config version MAJOR.MINOR, such as 2.11 or 3.0"
        )
    major, minor = int(match.group(1)), int(match.group(2))
    if (major, minor) == (1, 10):
        return (_CORE_1_10,)
    if major == 2 and 7 <= minor <= 11:
        return (_CORE_2, _CELERY)
    if major == 3:
        return (_CORE_3, _CELERY, _FAB)
    raise ValueError(f"Airflow {version} is not supported: the lists cover 1.10, 2.7-2.11 and 3.x")


@functools.cache
def _known(version: str) -> _OptionList:
    lists = _lists()
    options: set[str] = set()
    sensitive: set[str] = set()
    for group in _ranges(version):
        missing = [name for name in group if name not in lists]
        if missing:
            raise FileNotFoundError(f"option lists missing from {_data_dir()}: {missing}")
        options |= frozenset.intersection(*(lists[name].options for name in group))
        sensitive |= frozenset.intersection(*(lists[name].sensitive for name in group))
    return _OptionList(frozenset(options), frozenset(sensitive & options))


def known_options(version: str) -> frozenset[str]:
    """The options (``section.key``) valid across the whole release range of a config version.

    Args:
        version: ``MAJOR.MINOR`` as in the config: ``1.10``, ``2.7`` to ``2.11``, or ``3.N``.

    Returns:
        The options every list of that range has (see the module docstring).

    Raises:
        ValueError: `version` is not ``MAJOR.MINOR`` or not a supported version.
    """
    return _known(version).options


def sensitive_options(version: str) -> frozenset[str]:
    """The known options of a config version that Airflow also reads with ``_CMD``/``_SECRET``.

    Args:
        version: ``MAJOR.MINOR`` as in the config.

    Returns:
        The options sensitive in every list of that version's range.

    Raises:
        ValueError: `version` is not ``MAJOR.MINOR`` or not a supported version.
    """
    return _known(version).sensitive


def env_option(name: str) -> tuple[str, str] | None:
    """The option an environment variable name spells, whatever the Airflow version.

    ``AIRFLOW__CORE__FERNET_KEY`` gives ``("core", "fernet_key")``. The key is everything after
    the second ``__``, as Airflow splits it, and no suffix is removed:
    ``AIRFLOW__CORE__FERNET_KEY_CMD`` gives ``("core", "fernet_key_cmd")`` (see
    :func:`unknown_env_options` for those suffixes).

    Args:
        name: an environment variable name.

    Returns:
        ``(section, key)`` in lowercase, or None if `name` does not start with ``AIRFLOW__``, has
        an empty section or key, or is not all upper case (Airflow only looks up the upper-case
        name it builds, so ``AIRFLOW__core__fernet_key`` is never read).
    """
    if not name.startswith(ENV_PREFIX) or name != name.upper():
        return None
    section, separator, key = name.removeprefix(ENV_PREFIX).partition("__")
    if not separator or not section or not key:
        return None
    return section.lower(), key.lower()


def unknown_env_options(names: Iterable[str], version: str) -> list[str]:
    """The ``AIRFLOW__…`` names that do not set an option of a config version.

    A name is fine when it spells a known option, or a sensitive one followed by ``_CMD`` or
    ``_SECRET``. Names that do not start with ``AIRFLOW__`` are not Airflow options and are
    skipped; ``AIRFLOW__`` names that :func:`env_option` cannot read are unknown.

    Args:
        names: environment variable names, such as those of a task definition.
        version: ``MAJOR.MINOR`` as in the config.

    Returns:
        The unknown names, in the order given.

    Raises:
        ValueError: `version` is not ``MAJOR.MINOR`` or not a supported version.
    """
    known = _known(version)

    def is_known(name: str) -> bool:
        parsed = env_option(name)
        if parsed is None:
            return False
        option = ".".join(parsed)
        if option in known.options:
            return True
        return any(
            option.endswith(suffix.lower())
            and option.removesuffix(suffix.lower()) in known.sensitive
            for suffix in SENSITIVE_SUFFIXES
        )

    return [name for name in names if name.startswith(ENV_PREFIX) and not is_known(name)]
