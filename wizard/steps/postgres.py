"""The database step's SQL run directly against PostgreSQL with psycopg (`run_sql = "direct"`).

The session logs in as the RDS admin, whose password comes from the instance's RDS-managed
secret or AIRFLOW_ECS_WIZARD_DB_ADMIN_PASSWORD, never from the config file. A plan inspects
what exists of the Airflow role, its database and their grants in a read-only session; apply
then creates only what is missing, in autocommit, with a second connection (to the new
database) for the grant on schema public. The role gets its password as a SCRAM verifier
computed here, so the plain password never crosses the wire.
"""

from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from wizard.steps.base import Action, StepContext, StepPlan, Verb
from wizard.steps.provisioning import registered_secret

if TYPE_CHECKING:
    import psycopg

ADMIN_PASSWORD_ENV = "AIRFLOW_ECS_WIZARD_DB_ADMIN_PASSWORD"
"""The variable the admin password is read from when RDS keeps none this wizard can read."""


@dataclass
class Found:
    """What the admin's connection shows of the role, the database and the grants."""

    role: bool = False
    password_ok: bool = False
    database: bool = False
    database_grant: bool = False
    schema_grant: bool = False


def address(ctx: StepContext, instance: dict[str, Any]) -> tuple[str, int]:
    """Where this machine connects: a tunnel's `database.host`/`port`, else the instance's.

    Args:
        ctx: The step's context.
        instance: The RDS instance as RDS describes it (`{}` while it does not exist).

    Returns:
        The host and the port (also where the printed script connects).
    """
    endpoint, database = instance.get("Endpoint") or {}, ctx.config.database
    return (
        database.host or str(endpoint.get("Address", "")),
        database.port or int(endpoint.get("Port") or database.default_port),
    )


def admin_password(ctx: StepContext, instance: dict[str, Any] | None) -> str | None:
    """The admin user's password, registered with the state as a secret.

    Args:
        ctx: The step's context.
        instance: The RDS instance as RDS describes it, if it exists.

    Returns:
        The password in the instance's RDS-managed secret, else (no such secret, or no right to
        read it) the value of `ADMIN_PASSWORD_ENV`; None when neither gives one.
    """
    arn = ((instance or {}).get("MasterUserSecret") or {}).get("SecretArn")
    if not arn:
        return registered_secret(ctx, os.environ.get(ADMIN_PASSWORD_ENV))
    try:
        secret = ctx.aws.client("secretsmanager").get_secret_value(SecretId=arn)
    except ClientError:  # no secretsmanager:GetSecretValue or kms:Decrypt: try the variable
        return registered_secret(ctx, os.environ.get(ADMIN_PASSWORD_ENV))
    return registered_secret(ctx, str(json.loads(secret["SecretString"])["password"]))


def plan_sql(
    ctx: StepContext, plan: StepPlan, instance: dict[str, Any] | None, password: str | None
) -> None:
    """Add to `plan` what `run_sql` would do, as a read-only session of the admin finds it, or
    the problem that keeps the SQL from running directly.

    Args:
        ctx: The step's context.
        plan: The database step's plan.
        instance: The RDS instance as RDS describes it, if it exists.
        password: The Airflow user's password (None while it is not generated yet).
    """
    database = ctx.config.database
    if database.engine == "mysql":
        plan.problems.append(
            'database.run_sql = "direct" runs the SQL for PostgreSQL only: MySQL would need '
            "pymysql or mysqlclient, which airflow-ecs-wizard does not install. Set "
            'database.run_sql = "print" and run the printed script with the mysql client'
        )
        return
    if importlib.util.find_spec("psycopg") is None:
        plan.problems.append(
            'database.run_sql = "direct" needs psycopg (pip install "psycopg[binary]"), '
            'or set database.run_sql = "print" to run the SQL elsewhere'
        )
        return
    if instance is None:
        plan.actions += sql_actions(ctx, Found(), "once the instance is available")
        return
    admin = admin_password(ctx, instance)
    if admin is None:
        plan.problems.append(
            f"no admin password for RDS instance {ctx.config.rds_instance_id}: it has no "
            f"RDS-managed secret this wizard can read, and {ADMIN_PASSWORD_ENV} is not set. "
            "Export that variable in the "
            'environment (never in the config file), or set database.run_sql = "print"'
        )
        return
    import psycopg

    try:
        with connect(ctx, instance, "postgres", admin, read_only=True) as connection:
            found = _inspect(ctx, instance, connection, admin, password)
    except psycopg.Error as error:
        host, port = address(ctx, instance)
        plan.problems.append(
            f"cannot connect to PostgreSQL at {host}:{port} as "
            f"{database.admin_username}: {str(error).strip()}. From outside the VPC open a "
            "tunnel and set database.host and database.port, or set "
            'database.run_sql = "print"'
        )
        return
    plan.actions += sql_actions(ctx, found, "")


def run_sql(ctx: StepContext, instance: dict[str, Any], admin: str, password: str) -> None:
    """Create what is missing of the role (or reset its password), the database and the
    grants, reporting each statement as progress (never the password).

    Args:
        ctx: The step's context.
        instance: The RDS instance as RDS describes it.
        admin: The admin user's password.
        password: The Airflow user's password, as stored in SSM.
    """
    from psycopg import sql

    database = ctx.config.database
    role, name = sql.Identifier(database.username), sql.Identifier(database.database_name)
    with connect(ctx, instance, "postgres", admin) as connection:
        found = _inspect(ctx, instance, connection, admin, password)
        verifier = connection.pgconn.encrypt_password(
            password.encode(), database.username.encode(), b"scram-sha-256"
        )
        with_password = sql.SQL("{} WITH LOGIN PASSWORD {}").format(
            role, sql.Literal(verifier.decode())
        )
        statements = [
            (not found.role, sql.SQL("CREATE ROLE {}").format(with_password)),
            (
                found.role and not found.password_ok,
                sql.SQL("ALTER ROLE {}").format(with_password),
            ),
            (
                not found.database,
                sql.SQL("CREATE DATABASE {} ENCODING 'UTF8' TEMPLATE template0").format(name),
            ),
            (
                not found.database_grant,
                sql.SQL("GRANT ALL PRIVILEGES ON DATABASE {} TO {}").format(name, role),
            ),
        ]
        for needed, statement in statements:
            if needed:
                connection.execute(statement)
                ctx.progress(statement.as_string(connection).split(" WITH ")[0])
    if not found.schema_grant:
        with connect(ctx, instance, database.database_name, admin) as connection:
            connection.execute(sql.SQL("GRANT ALL ON SCHEMA public TO {}").format(role))
        ctx.progress(f"GRANT ALL ON SCHEMA public TO {database.username}")


def sql_actions(ctx: StepContext, found: Found, note: str) -> list[Action]:
    """The plan's actions on the role, the database and the grants.

    Args:
        ctx: The step's context.
        found: What exists already.
        note: Added to each action's detail, in parentheses, when not empty.

    Returns:
        The role's, the database's and the grants' actions.
    """
    database = ctx.config.database
    user, name = database.username, database.database_name
    role_verb: Verb = "no-op" if found.password_ok else "update" if found.role else "create"
    role_detail = "password from SSM" if role_verb != "update" else "password reset to SSM's"
    granted = found.database_grant and found.schema_grant
    suffix = f" ({note})" if note else ""
    return [
        Action(role_verb, "postgres:role", user, role_detail + suffix),
        Action("no-op" if found.database else "create", "postgres:database", name, "UTF8" + suffix),
        Action(
            "no-op" if granted else "create",
            "postgres:grant",
            f"{name} to {user}",
            "ALL on the database and on schema public" + suffix,
        ),
    ]


def connect(
    ctx: StepContext,
    instance: dict[str, Any],
    dbname: str,
    password: str,
    *,
    user: str = "",
    read_only: bool = False,
) -> psycopg.Connection[Any]:
    """An autocommit connection (the admin's unless `user`); `read_only` lets the server refuse
    any change for the whole session."""
    import psycopg

    host, port = address(ctx, instance)
    loopback = host in {"localhost", "127.0.0.1", "::1"}  # a tunnel: encrypted by the tunnel
    return psycopg.connect(
        host=host,
        port=port,
        dbname=dbname,
        user=user or ctx.config.database.admin_username,
        password=password,
        sslmode="prefer" if loopback else "require",
        connect_timeout=10,
        application_name="airflow-ecs-wizard",
        options="-c default_transaction_read_only=on" if read_only else None,
        autocommit=True,
    )


def _inspect(
    ctx: StepContext,
    instance: dict[str, Any],
    connection: psycopg.Connection[Any],
    admin: str,
    password: str | None,
) -> Found:
    """What exists of the role, the database and the grants (only reads)."""
    import psycopg

    user, name = ctx.config.database.username, ctx.config.database.database_name
    row = connection.execute(
        "SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = %s),"
        " EXISTS (SELECT FROM pg_database WHERE datname = %s)",
        (user, name),
    ).fetchone()
    found = Found(role=bool(row and row[0]), database=bool(row and row[1]))
    if found.role and found.database:
        row = connection.execute(  # with several privileges in one call, any one would do
            "SELECT has_database_privilege(%(user)s, %(name)s, 'CREATE')"
            " AND has_database_privilege(%(user)s, %(name)s, 'CONNECT')"
            " AND has_database_privilege(%(user)s, %(name)s, 'TEMPORARY')",
            {"user": user, "name": name},
        ).fetchone()
        found.database_grant = bool(row and row[0])
        with connect(ctx, instance, name, admin, read_only=True) as inside:
            row = inside.execute(
                "SELECT has_schema_privilege(%(user)s, 'public', 'CREATE')"
                " AND has_schema_privilege(%(user)s, 'public', 'USAGE')",
                {"user": user},
            ).fetchone()
            found.schema_grant = bool(row and row[0])
    if found.role and password:
        try:  # the password in SSM already works: no ALTER ROLE
            with connect(
                ctx, instance, name if found.database else "postgres", password, user=user
            ):
                found.password_ok = True
        except psycopg.OperationalError:
            found.password_ok = False
    return found
