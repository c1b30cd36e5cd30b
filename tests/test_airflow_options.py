"""The checked-in Airflow option lists, and what wizard.airflow_options makes of them."""

from __future__ import annotations

import re
from importlib import resources

import pytest

from wizard.airflow_options import (
    LIST_NAMES,
    env_option,
    known_options,
    option_files,
    sensitive_options,
    unknown_env_options,
)

DATA = resources.files("wizard") / "data" / "airflow_options"
OPTION = re.compile(r"^[a-z0-9_]+\.[a-z0-9_-]+$")
HEADER_FIELDS = ("package", "version", "wheel", "wheel-sha256", "options-from", "regenerate")
PROVIDERS = "apache-airflow-providers-"

V1 = ("1.10",)
V2 = ("2.7", "2.9", "2.11")
V3 = ("3.0", "3.3", "3.7")
ALL = V1 + V2 + V3


def _data_files() -> dict[str, str]:
    return {
        entry.name.removesuffix(".txt"): entry.read_text(encoding="utf-8")
        for entry in DATA.iterdir()
        if entry.name.endswith(".txt")
    }


def test_the_module_uses_exactly_the_checked_in_lists() -> None:
    assert set(_data_files()) == set(option_files()) == LIST_NAMES


@pytest.mark.parametrize("name", sorted(LIST_NAMES))
def test_each_list_has_its_header_and_sorted_unique_lowercase_options(name: str) -> None:
    text = _data_files()[name]
    header = [line for line in text.splitlines() if line.startswith("#")]
    body = [line for line in text.splitlines() if not line.startswith("#")]
    assert text.splitlines()[: len(header)] == header, "the header comes first"
    fields = dict(line[2:].split(": ", 1) for line in header if ": " in line)
    for field in HEADER_FIELDS:
        assert fields.get(field), f"{name}: no '# {field}:' header line"
    assert name == f"{fields['package']}-{fields['version']}"
    assert re.fullmatch(r"[0-9a-f]{64}", fields["wheel-sha256"])
    assert fields["wheel"].endswith(".whl")
    assert f"--only {fields['package']}=={fields['version']}" in fields["regenerate"]
    assert body == sorted(set(body)), "sorted and unique"
    assert all(OPTION.match(option) for option in body), "lowercase section.key"
    assert int(fields["options"]) == len(body) == len(option_files()[name])
    # The core lists have hundreds of options; the providers own a few sections only.
    assert len(body) >= (20 if name.startswith(PROVIDERS) else 100)


def test_core_lists_come_from_config_yml_and_providers_from_get_provider_info() -> None:
    for name, text in _data_files().items():
        if name.startswith(PROVIDERS):
            assert "# options-from: airflow/providers/" in text
            assert "/get_provider_info.py" in text
        else:
            assert "# options-from: airflow/config_templates/config.yml\n" in text


FACTS = {
    # option: the config versions it is known on (it is unknown on all the others)
    "core.fernet_key": ALL,
    "core.dags_folder": ALL,
    "core.executor": ALL,
    "core.parallelism": ALL,
    "core.load_examples": ALL,
    "celery.broker_url": ALL,
    "celery.result_backend": ALL,
    "celery.worker_concurrency": ALL,
    "database.sql_alchemy_conn": V2 + V3,
    "core.sql_alchemy_conn": V1,
    "webserver.secret_key": V1 + V2,
    "webserver.web_server_port": V1 + V2,
    "webserver.rbac": V1,
    "api.secret_key": V3,
    "api.port": V3,
    "api.base_url": V3,
    "api_auth.jwt_secret": V3,
    "core.execution_api_server_url": V3,
    "core.auth_manager": V2 + V3,
    "core.internal_api_url": V2,
    "logging.remote_base_log_folder": V2 + V3,
    "logging.remote_logging": V2 + V3,
    "logging.remote_log_conn_id": V2 + V3,
    "logging.logging_level": V2 + V3,
    "core.remote_base_log_folder": V1,
    "core.remote_logging": V1,
    "core.remote_log_conn_id": V1,
    "core.logging_level": V1,
    "scheduler.standalone_dag_processor": V2,
    "dag_processor.refresh_interval": V3,
    "fab.auth_backends": V3,
    "core.made_up_option": (),
    "made_up_section.fernet_key": (),
}


@pytest.mark.parametrize(("option", "known_on"), FACTS.items())
def test_option_is_known_on_exactly_these_versions(option: str, known_on: tuple[str, ...]) -> None:
    assert [v for v in ALL if option in known_options(v)] == list(known_on)


def test_celery_options_moved_from_core_to_the_provider_in_2_7() -> None:
    files = option_files()
    assert "celery.broker_url" in files["apache-airflow-1.10.15"]
    for name, options in files.items():
        if name != "apache-airflow-1.10.15" and not name.startswith(PROVIDERS):
            assert not any(option.startswith("celery.") for option in options), name
    assert "celery.broker_url" in files["apache-airflow-providers-celery-3.3.0"]
    assert "celery.broker_url" in files["apache-airflow-providers-celery-3.26.0"]


def test_a_range_keeps_only_the_options_of_all_its_releases() -> None:
    files = option_files()
    # Airflow 3.3 dropped [webserver] and core.internal_api_url, which 3.0.6 still has.
    assert "core.internal_api_url" in files["apache-airflow-core-3.0.6"]
    assert "core.internal_api_url" not in known_options("3.0")
    assert not any(option.startswith("webserver.") for option in known_options("3.3"))
    assert known_options("2.7") == known_options("2.11")
    assert known_options("3.0") == known_options("3.12")
    assert len(known_options("2.7")) >= 250
    assert not any(option.startswith("fab.") for option in known_options("2.11"))


def test_sensitive_options() -> None:
    assert {"core.fernet_key", "core.sql_alchemy_conn", "celery.broker_url"} <= sensitive_options(
        "1.10"
    )
    assert {"database.sql_alchemy_conn", "celery.result_backend"} <= sensitive_options("2.7")
    assert {"api.secret_key", "api_auth.jwt_secret", "core.fernet_key"} <= sensitive_options("3.0")
    assert "core.executor" not in sensitive_options("3.0")
    for version in ALL:
        assert sensitive_options(version) <= known_options(version)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("AIRFLOW__CORE__FERNET_KEY", ("core", "fernet_key")),
        ("AIRFLOW__API_AUTH__JWT_SECRET", ("api_auth", "jwt_secret")),
        ("AIRFLOW__CORE__FERNET_KEY_CMD", ("core", "fernet_key_cmd")),
        ("AIRFLOW__SECRETS__BACKEND_KWARG__ROLE_ID", ("secrets", "backend_kwarg__role_id")),
        ("AIRFLOW_HOME", None),
        ("AIRFLOW_CONN_AWS_DEFAULT", None),
        ("PATH", None),
        ("airflow__core__fernet_key", None),
        ("AIRFLOW__core__fernet_key", None),
        ("AIRFLOW__CORE", None),
        ("AIRFLOW__CORE__", None),
        ("AIRFLOW____FERNET_KEY", None),
    ],
)
def test_env_option(name: str, expected: tuple[str, str] | None) -> None:
    assert env_option(name) == expected


def test_unknown_env_options_returns_exactly_the_bad_names_in_order() -> None:
    names = [
        "AIRFLOW__CORE__FERNET_KEY",
        "AIRFLOW__CORE__MADE_UP_OPTION",  # bad: no such option
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_SECRET",  # sensitive: _SECRET is read
        "AIRFLOW__CORE__SQL_ALCHEMY_CONN",  # bad on 3.x: old name of database.sql_alchemy_conn
        "AIRFLOW__API_AUTH__JWT_SECRET",  # the option itself, not jwt + _SECRET
        "AIRFLOW__API__SECRET_KEY_CMD",  # sensitive: _CMD is read
        "AIRFLOW__CORE__EXECUTOR_CMD",  # bad: not sensitive, so Airflow ignores it
        "AIRFLOW__WEBSERVER__SECRET_KEY",  # bad on 3.x: the option is api.secret_key
        "AIRFLOW__core__load_examples",  # bad: Airflow only looks up upper-case names
        "AIRFLOW__CORE",  # bad: no key
        "AIRFLOW__CELERY__BROKER_URL",
        "AIRFLOW_HOME",  # not an option: skipped
        "AWS_REGION",
    ]
    assert unknown_env_options(names, "3.0") == [
        "AIRFLOW__CORE__MADE_UP_OPTION",
        "AIRFLOW__CORE__SQL_ALCHEMY_CONN",
        "AIRFLOW__CORE__EXECUTOR_CMD",
        "AIRFLOW__WEBSERVER__SECRET_KEY",
        "AIRFLOW__core__load_examples",
        "AIRFLOW__CORE",
    ]
    assert unknown_env_options(iter(["AIRFLOW__CORE__SQL_ALCHEMY_CONN_CMD"]), "1.10") == []
    assert unknown_env_options(["AIRFLOW__CORE__SQL_ALCHEMY_CONN_CMD"], "2.11") == [
        "AIRFLOW__CORE__SQL_ALCHEMY_CONN_CMD"
    ]
    assert unknown_env_options([], "2.7") == []


@pytest.mark.parametrize(
    "version", ["1.9", "1.11", "2.6", "2.12", "4.0", "3", "3.0.6", "v3.0", " 3.0", "3.x", ""]
)
def test_unsupported_or_malformed_versions_raise(version: str) -> None:
    with pytest.raises(ValueError):
        known_options(version)
    with pytest.raises(ValueError):
        unknown_env_options(["AIRFLOW__CORE__FERNET_KEY"], version)
