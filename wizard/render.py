"""The one Jinja2 environment of the project, over `templates/`, and the artifacts it renders."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shlex
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from wizard.airflow_containers import HOST_DIR, HOST_MODULE
from wizard.config import LaunchConfig
from wizard.errors import BadInput, Problem, ProblemsError, WizardError, quoted
from wizard.taskdefs import resource_tags, taskdef_context

AMI_PARAMETERS = {
    (
        "amazon-linux-2023",
        False,
    ): "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id",
    (
        "amazon-linux-2023",
        True,
    ): "/aws/service/ecs/optimized-ami/amazon-linux-2023/arm64/recommended/image_id",
    ("amazon-linux-2", False): "/aws/service/ecs/optimized-ami/amazon-linux-2/recommended/image_id",
    (
        "amazon-linux-2",
        True,
    ): "/aws/service/ecs/optimized-ami/amazon-linux-2/arm64/recommended/image_id",
}
"""The public SSM parameters that name the current ECS-optimized AMI, by (OS, arm64)."""


def templates_dir() -> Path:
    """Where the templates are: inside the installed package, else the source tree."""
    packaged = Path(str(resources.files("wizard"))) / "templates"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "templates"


def _tojson(value: Any, indent: int | None = None) -> str:
    return json.dumps(value, indent=indent, ensure_ascii=False)


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    """Compiled templates kept between runs (keyed by source checksum): render starts faster."""
    # platformdirs would cost more start-up than the cache saves: XDG on Linux, ~/.cache else
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = Path(base) / "airflow-ecs-wizard" / f"jinja-{jinja2.__version__}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return jinja2.FileSystemBytecodeCache(str(folder))


@functools.cache
def jinja_env() -> jinja2.Environment:
    """The environment every artifact is rendered with: strict, no autoescape, shell-aware."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir()),
        bytecode_cache=_bytecode_cache(),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["shquote"] = shell_quote
    env.filters["word"] = plain_word
    env.filters["tojson"] = _tojson
    env.filters["sqlliteral"] = _sql_literal
    env.filters["sqlident"] = _sql_identifier
    env.policies["json.dumps_kwargs"] = {"ensure_ascii": False}
    return env


def render_template(name: str, **context: Any) -> str:
    """Render one template, turning Jinja's errors into the project's own.

    Raises:
        WizardError: the template is missing or refers to a value that was not given.
    """
    try:
        return jinja_env().get_template(name).render(**context)
    except jinja2.TemplateError as error:
        raise _template_bug(f"Template {name} could not be rendered: {error}") from error


def _template_bug(message: str) -> WizardError:
    return WizardError(
        message,
        title="Template error",
        hint="This is a bug in airflow-ecs-wizard; please report it with the config used.",
    )


# The filters through which every value reaches a script (shell or SQL). Each either writes the
# value so that it cannot end a line, a word or a quoted string, or refuses it: a value that config
# validation let through but a script cannot carry is an error, never an escape.

_PLAIN_WORD = re.compile(r"[A-Za-z0-9._:/@+=,-]{1,1024}", re.ASCII)
_SQL_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}", re.ASCII)
_LINE_BREAKING = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _unsafe(value: str, where: str) -> BadInput:
    return BadInput(
        f"The value {quoted(value)} cannot be written safely into {where}.",
        title="Unsafe value",
        hint="Config validation should have refused it: fix the field that holds it, and "
        "report this as a bug in airflow-ecs-wizard.",
    )


def plain_word(value: object) -> str:
    """A value that needs no quoting anywhere in a script: in a comment, bare or inside double
    quotes in shell, in a psql conninfo. Only letters, digits and `. _ : / @ + = , -`."""
    text = str(value)
    if not _PLAIN_WORD.fullmatch(text):
        raise _unsafe(text, "a script as a plain word")
    return text


def shell_quote(value: object) -> str:
    """One shell word, single-quoted where needed; a control character (which could end the
    line, in a comment or a here-document) is refused."""
    text = str(value)
    if _LINE_BREAKING.search(text):
        raise _unsafe(text, "a shell script")
    return shlex.quote(text)


def _sql_literal(value: object) -> str:
    """A SQL string literal. Backslashes are refused as well as control characters: with
    standard_conforming_strings off (or in MySQL) a backslash would escape the closing quote."""
    text = str(value)
    if _LINE_BREAKING.search(text) or "\\" in text:
        raise _unsafe(text, "a SQL string literal")
    return "'" + text.replace("'", "''") + "'"


def _sql_identifier(value: object) -> str:
    """A database or role name written bare (psql's \\connect, MySQL's backquotes): only plain
    lowercase identifiers, as config validation allows."""
    text = str(value)
    if not _SQL_IDENTIFIER.fullmatch(text):
        raise _unsafe(text, "SQL as a plain identifier")
    return text


def render_artifacts(config: LaunchConfig, account_id: str = "") -> dict[str, str]:
    """Render every artifact of a launch, in a stable order, each parsed if it is JSON.

    Args:
        config: the launch.
        account_id: the account from STS when known; else the config's (or its role ARNs').

    Raises:
        ProblemsError: the account is unknown (the image URI and role ARNs need it).
    """
    account = account_id or config.account_id
    if not account:
        raise ProblemsError(
            [
                Problem(
                    "aws.account_id",
                    "is needed for the image URI and the role ARNs: set it, or give "
                    "iam.execution_role_arn (the account is read from the ARN)",
                )
            ],
            title="Account unknown",
        )
    artifacts = {"bootstrap.sh": render_template("bootstrap.sh.j2", **_bootstrap_context(config))}
    artifacts["user-data.sh"] = render_template("user-data.sh.j2", **_user_data_context(config))
    if not config.cluster.existing_stack:
        artifacts["cluster.cfn.json"] = _json_artifact(
            "cluster.cfn.json.j2", **_cluster_context(config, artifacts["user-data.sh"])
        )
    artifacts["database.sql"] = render_template(
        f"database-{config.database.engine}.sql.j2", **_database_context(config)
    )
    for component in config.rendered_components:
        artifacts[f"taskdef-{component}.json"] = _json_artifact(
            "taskdef.json.j2", **taskdef_context(config, component, account)
        )
    return artifacts


def _json_artifact(template: str, **context: Any) -> str:
    text = render_template(template, **context)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise _template_bug(f"Template {template} rendered invalid JSON: {error}") from error
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _bootstrap_context(config: LaunchConfig) -> dict[str, Any]:
    return {
        "launch_name": config.name,
        "os": config.bootstrap.os,
        "mount_tool": config.bootstrap.mount_tool,
        "mount_point": config.bootstrap.mount_point,
        "mount_source": config.mount_source,
        "bucket": config.s3.bucket,
        "prefix": config.s3.prefix,
        "environment": config.environment,
        "host_dir": HOST_DIR,
        "host_module": HOST_MODULE,
    }


def _user_data_context(config: LaunchConfig) -> dict[str, Any]:
    return {
        "launch_name": config.name,
        "cluster_name": config.cluster_name,
        "bootstrap_uri": config.bootstrap_uri,
        "write_ecs_cluster": True,
        "write_backend_host": True,
    }


def _cluster_context(config: LaunchConfig, user_data: str) -> dict[str, Any]:
    return {
        "launch_name": config.name,
        "cluster_name": config.cluster_name,
        "ami_parameter": AMI_PARAMETERS[(config.bootstrap.os, config.cluster.arm64)],
        "instance_type": config.cluster.instance_type,
        "subnet_ids": config.network.subnet_ids,
        "security_group_ids": config.network.security_group_ids,
        "min_size": config.cluster.min_size,
        "max_size": config.cluster.max_size,
        "associate_public_ip": config.cluster.associate_public_ip,
        "bucket": config.s3.bucket,
        "folder_prefix": f"{config.s3.prefix}/{config.environment}/",
        "user_data": user_data,
        "tags": resource_tags(config),
    }


def _database_context(config: LaunchConfig) -> dict[str, Any]:
    database = config.database
    return {
        "launch_name": config.name,
        "rds_instance_id": config.rds_instance_id,
        "host": database.host,
        "port": database.port or database.default_port,
        "admin_username": database.admin_username,
        "region": config.aws.region,
        "password_parameter": config.secret_name("db_password"),
        "database_name": database.database_name,
        "username": database.username,
    }


MANIFEST = "manifest.json"
_EXECUTABLE = (".sh",)


def manifest(artifacts: dict[str, str]) -> str:
    """`manifest.json`: every artifact with its SHA-256, so a reviewer can see what changed."""
    files = [
        {
            "name": name,
            "sha256": hashlib.sha256(text.encode()).hexdigest(),
            "bytes": len(text.encode()),
        }
        for name, text in artifacts.items()
    ]
    return json.dumps({"generator": "airflow-ecs-wizard", "files": files}, indent=2) + "\n"


def write_artifacts(artifacts: dict[str, str], out: Path) -> list[Path]:
    """Write the artifacts and their manifest into `out`, removing files an earlier render
    listed that this one no longer makes (a component taken out of the config).

    Raises:
        BadInput: `out` cannot be used as a folder.
    """
    try:
        out.mkdir(parents=True, exist_ok=True)
        stale = set(_listed_in_manifest(out / MANIFEST)) - set(artifacts)
        written = []
        for name, text in {**artifacts, MANIFEST: manifest(artifacts)}.items():
            path = out / name
            path.write_text(text, encoding="utf-8")
            os.chmod(path, 0o755 if name.endswith(_EXECUTABLE) else 0o644)
            written.append(path)
        for name in sorted(stale):
            (out / name).unlink(missing_ok=True)
    except OSError as error:
        raise BadInput(
            f"Cannot write into {out}: {error.strerror or error}",
            title="Output folder unusable",
            hint="Choose a folder you can write to with --out.",
        ) from error
    return written


def _listed_in_manifest(path: Path) -> list[str]:
    try:
        listed = json.loads(path.read_text(encoding="utf-8"))["files"]
        return [entry["name"] for entry in listed if "/" not in entry["name"]]
    except (OSError, ValueError, KeyError, TypeError):
        return []
