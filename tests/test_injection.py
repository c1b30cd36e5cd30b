"""No config value reaches a script unquoted: the issue's repros, run for real.

A `database.host` holding a newline and `\\!` once turned a comment of `database.sql` into a psql
shell escape; one holding `" -c "..." ;` made the printed `database-run.sh` run a command. Config
validation refuses both (exit 2), and the scripts' filters refuse them again for a config that
skipped validation; the scripts are run with psql and sh to show the marker is never made.
"""

from __future__ import annotations

import contextlib
import io
import os
import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EXAMPLE, with_changes
from tests.test_config import _toml
from tests.test_step_database import (  # the fixtures are used by name
    ACCOUNT,
    STEP,
    _context,
    _existing_instance,
    _state,
)
from tests.test_step_database import config as config
from tests.test_step_database import network as network
from wizard import render
from wizard.cli import main
from wizard.config import LaunchConfig
from wizard.errors import BadInput


def _skipping_validation(launch: LaunchConfig, **database: Any) -> LaunchConfig:
    """The config with database fields set as given, past every validator: what the scripts'
    own filters must stand up to."""
    return launch.model_copy(update={"database": launch.database.model_copy(update=database)})


def _validate(tmp_path: Path, changes: dict[str, Any]) -> tuple[int, str]:
    import tomllib

    path = tmp_path / "launch.toml"
    path.write_text(_toml(with_changes(tomllib.loads(EXAMPLE.read_text()), changes)))
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        code = main(["validate", "--config", str(path)])
    return code, stderr.getvalue()


def _psql(postgres: Any, sql: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "database.sql"
    script.write_text(sql)
    return subprocess.run(
        [
            *(str(postgres.bin_dir / "psql"), postgres.dsn(), "-X", "-q"),
            *("-v", "airflow_password=pw-not-secret", "-f", str(script)),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_psql_escape_in_database_host_never_runs(
    config: Callable[..., LaunchConfig],
    postgres: Any,
    tmp_path: Path,
) -> None:
    marker = tmp_path / "psql-escape-ran"
    hostile = f"127.0.0.1\n\\! touch {marker} #"

    code, stderr = _validate(tmp_path, {"database.host": hostile})
    assert code == 2 and "database.host: " in stderr

    # the harness runs database.sql for real: a valid config's file creates the database
    launch = config()
    valid = _psql(postgres, render.render_artifacts(launch, ACCOUNT)["database.sql"], tmp_path)
    assert valid.returncode == 0, valid.stderr
    # past validation, the template's filters refuse the host; nothing reaches psql
    try:
        sql = render.render_artifacts(_skipping_validation(launch, host=hostile), ACCOUNT)
    except BadInput as refused:
        assert refused.exit_code == 2 and "cannot be written safely" in refused.message
    else:
        _psql(postgres, sql["database.sql"], tmp_path)
    assert not marker.exists()


def test_the_printed_database_run_sh_cannot_be_made_to_run_a_command(
    config: Callable[..., LaunchConfig],
    network: dict[str, Any],
    postgres: Any,
    tmp_path: Path,
) -> None:
    marker = tmp_path / "run-sh-injection-ran"
    hostile = f'127.0.0.1" -c "select 1" ; /usr/bin/touch {marker} #'

    code, stderr = _validate(tmp_path, {"database.host": hostile, "database.run_sql": "print"})
    assert code == 2 and "database.host: " in stderr

    launch = config(database__run_sql="print")
    _existing_instance(launch)
    ctx, _ = _context(_skipping_validation(launch, host=hostile), _state(tmp_path, launch, network))
    try:
        script = STEP.plan(ctx).artifacts["database-run.sh"]
    except BadInput as refused:
        assert "cannot be written safely" in refused.message
    else:
        (tmp_path / "database.sql").write_text("select 1;\n")
        (tmp_path / "database-run.sh").write_text(script)
        subprocess.run(
            ["/bin/sh", "database-run.sh"],
            cwd=tmp_path,
            env={"PATH": str(postgres.bin_dir), "HOME": str(tmp_path)},  # no aws CLI: no AWS call
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=120,
            check=False,
        )
    assert not marker.exists()


HOSTILE = [
    "x\n\\! touch /tmp/m #",
    "x\r\\! touch /tmp/m",
    "x\x00y",
    "x' ; touch /tmp/m ; '",
    'x" ; touch /tmp/m ; "',
    "$(touch /tmp/m)",
    "x\\",
    "x\u2028y",
]
SCRIPTS: list[tuple[str, Callable[[LaunchConfig], dict[str, Any]]]] = [
    ("bootstrap.sh.j2", render._bootstrap_context),
    ("user-data.sh.j2", render._user_data_context),
    ("database-postgres.sql.j2", render._database_context),
    ("database-mysql.sql.j2", render._database_context),
]


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize(("template", "context_of"), SCRIPTS, ids=[s[0] for s in SCRIPTS])
def test_every_value_reaches_a_script_through_a_filter(
    make_config: Callable[..., LaunchConfig],
    template: str,
    context_of: Callable[[LaunchConfig], dict[str, Any]],
    value: str,
) -> None:
    """Each value of a script's context in turn is replaced by a hostile one: the template must
    refuse it, or write it so that it starts no line and adds no shell word or SQL token (in
    shell, `touch` never becomes a word of its own; in SQL, the value is only ever a literal)."""
    for s3fs in (False, True):
        changes = {"bootstrap__os": "amazon-linux-2", "bootstrap__mount_tool": "s3fs"}
        context = context_of(make_config(**(changes if s3fs else {})))
        for key, original in context.items():
            if not isinstance(original, str):
                continue
            try:
                text = render.render_template(template, **{**context, key: value})
            except BadInput:
                continue
            where = (template, key)
            assert "\x00" not in text and "\u2028" not in text, where
            lines = text.splitlines()
            if "\n" in value or "\r" in value:
                tail = value.splitlines()[-1]
                assert not any(line.startswith(tail) for line in lines), where
            for line in (line for line in lines if value in line):
                if template.endswith(".sql.j2"):
                    assert render._sql_literal(value) in line, (*where, line)
                else:
                    assert "touch" not in _shell_words(line), (*where, line)


def _shell_words(line: str) -> list[str]:
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = False
    return list(lexer)


def test_a_value_quoted_in_a_comment_keeps_the_rendered_bootstrap_valid(
    make_config: Callable[..., LaunchConfig],
) -> None:
    text = render.render_artifacts(make_config(**{"s3__prefix": "air(flow)"}), ACCOUNT)
    assert "# Bootstrap for the ECS instances of airflow-staging: mount " in text["bootstrap.sh"]
    assert "'s3://acme-dataplatform-airflow/air(flow)/staging/'" in text["bootstrap.sh"]
    assert os.linesep == "\n"
