"""`database.run_sql = "print"`: the SQL printed for the operator, and the login that proves it ran.

The operator runs `database-run.sh` (it runs `database.sql` as the admin) on a machine that
reaches the database. Apply first creates the Airflow user's password in SSM (the script reads
it there), then logs in as the Airflow user with that password, to its database, and checks that
the user may create tables in schema public. Until that works, apply stops and says what to run.

Where this machine cannot reach the database at all (a private RDS instance and no tunnel: the
name does not resolve here, or the address does not answer), the login cannot be checked here.
Apply says so and goes on; the services step's migrate task logs in from inside the VPC, and
fails there with the database's own error if the SQL has not run.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any

from wizard.errors import WizardError
from wizard.render import plain_word, render_artifacts, shell_quote
from wizard.steps.base import Action, StepContext, StepPlan
from wizard.steps.postgres import address, connect
from wizard.steps.probe import reach

LOGIN_KIND = "postgres:login"
MIGRATE_PROVES_IT = (
    "The services step's migrate task logs in from inside the VPC: if database.sql has not "
    "run by then, it fails there with the database's own error."
)


@dataclass(frozen=True)
class Login:
    """What a login as the Airflow user found (all empty: it worked)."""

    failure: str = ""
    """The database's answer (or its address's): a real failure."""
    unchecked: str = ""
    """Why the login cannot be checked from this machine."""
    listening: bool = True
    """False when nothing listens at the address (a tunnel that is not open)."""


def try_login(ctx: StepContext, instance: dict[str, Any], password: str) -> Login:
    """Log in as the Airflow user to its database, and check the grant on schema public.

    Args:
        ctx: The step's context.
        instance: The RDS instance as RDS describes it.
        password: The Airflow user's password, as stored in SSM.

    Returns:
        What the login found.
    """
    database = ctx.config.database
    cannot = _cannot_check(ctx)
    if cannot:
        return Login(unchecked=cannot)
    host, port = address(ctx, instance)
    if not host:
        return Login(unchecked=f"RDS instance {ctx.config.rds_instance_id} has no endpoint yet")
    found = reach(host, port)
    if found.unreachable:
        return Login(unchecked=found.unreachable)
    if found.refused:
        return Login(failure=found.refused, listening=False)
    import psycopg

    user, name = database.username, database.database_name
    try:
        with connect(ctx, instance, name, password, user=user) as connection:
            row = connection.execute("SELECT has_schema_privilege('public', 'CREATE')").fetchone()
    except psycopg.Error as error:
        return Login(failure=" ".join(str(error).split()))
    if not (row and row[0]):
        return Login(failure=f"{user} may not create tables in schema public of {name}")
    return Login()


def plan_printed(
    ctx: StepContext, plan: StepPlan, instance: dict[str, Any] | None, password: str | None
) -> None:
    """Add the printed files to `plan`, and what apply will do about them.

    The login's action reads the same whatever the login finds, so a preview confirmed before
    the SQL ran is still the plan once it has. What the login found is a problem (the SQL has
    not run, and only the operator can run it) or a warning (it cannot be checked from here).

    Args:
        ctx: The step's context.
        plan: The database step's plan.
        instance: The RDS instance as RDS describes it, if it exists.
        password: The Airflow user's password (None while it is not generated yet).
    """
    database = ctx.config.database
    user, admin = database.username, database.admin_username
    run = f"database-run.sh (it runs database.sql as {admin})"
    plan.artifacts.update(printed_artifacts(ctx, instance))
    cannot = _cannot_check(ctx)
    if cannot:
        plan.warnings.append(
            f'database.run_sql = "print": run {run} before the services step. Apply cannot '
            f"check that it ran: {cannot}. {MIGRATE_PROVES_IT}"
        )
        return
    detail = "with the password in SSM; apply stops until database.sql has run"
    plan.actions.append(Action("check", LOGIN_KIND, f"{user} to {database.database_name}", detail))
    if instance is not None and password:
        login = try_login(ctx, instance, password)
        if login.failure:
            plan.problems.append(
                f"{_not_run(ctx, instance, login)} {_what_to_do(ctx, instance, login)}"
            )
        elif login.unchecked:
            plan.warnings.append(
                f"the login as {user} cannot be checked from here: {login.unchecked}. Apply "
                f"goes on without it. {MIGRATE_PROVES_IT}"
            )
        return
    host, port = address(ctx, instance or {})
    far = reach(host, port).unreachable if host else ""
    if far:
        plan.warnings.append(
            f'database.run_sql = "print": apply creates the password parameter (database.sql '
            f"reads it). It cannot log in as {user} from here ({far}), so it goes on without "
            f"that check: run {run} before the services step. {MIGRATE_PROVES_IT}"
        )
        return
    plan.warnings.append(
        f'database.run_sql = "print": apply creates the password parameter (database.sql '
        f"reads it), then logs in as {user}, and stops there until {run} has run; then apply "
        "again."
    )


def check_printed(ctx: StepContext, instance: dict[str, Any], password: str) -> None:
    """Apply's check that the printed SQL has run.

    Raises:
        WizardError: the database answered, and the Airflow user cannot log in and create
            tables: the SQL has not run (or nothing listens where the config says).
    """
    user, name = ctx.config.database.username, ctx.config.database.database_name
    login = try_login(ctx, instance, password)
    if login.unchecked:
        ctx.progress(
            f"login as {user} not checked from here: {login.unchecked}. {MIGRATE_PROVES_IT}"
        )
        return
    if login.failure:
        raise WizardError(
            _not_run(ctx, instance, login),
            title="Run the database SQL" if login.listening else "The database does not answer",
            hint=_what_to_do(ctx, instance, login),
        )
    ctx.progress(f"logged in to {name} as {user} with the password in SSM: database.sql has run")


def _cannot_check(ctx: StepContext) -> str:
    """Why this wizard cannot log in to the database at all ("" when it can)."""
    if ctx.config.database.engine != "postgres":
        return "the wizard logs in to PostgreSQL only; it has no MySQL client"
    if importlib.util.find_spec("psycopg") is None:
        return 'psycopg is not installed (pip install "psycopg[binary]")'
    return ""


def _not_run(ctx: StepContext, instance: dict[str, Any], login: Login) -> str:
    host, port = address(ctx, instance)
    user = ctx.config.database.username
    if not login.listening:
        return f"Cannot log in as {user}: {login.failure}."
    return (
        f"PostgreSQL at {host}:{port} did not let the Airflow user {user} in ({login.failure}): "
        "database.sql has not run, or not to the end."
    )


def _what_to_do(ctx: StepContext, instance: dict[str, Any] | None, login: Login) -> str:
    if not login.listening:
        return (
            "Open the tunnel that database.host and database.port point at (or leave them "
            "empty to use the instance's endpoint), then retry: Retry in the wizard, or "
            "`airflow-ecs-wizard apply --yes` again."
        )
    return (
        "Run database-run.sh (the preview shows it and database.sql; `airflow-ecs-wizard "
        "render --out DIR` writes database.sql) on a machine that reaches the database: "
        f"{_psql(ctx, instance)} -f database.sql; then retry: Retry in the wizard, or "
        "`airflow-ecs-wizard apply --yes` again."
    )


def _psql(ctx: StepContext, instance: dict[str, Any] | None) -> str:
    """database-run.sh's psql, connected as the admin (its values are plain words, no secret)."""
    host, port = _script_address(ctx, instance)
    admin = plain_word(ctx.config.database.admin_username)
    return f'psql "host={host} port={port} dbname=postgres user={admin} sslmode=require"'


def _script_address(ctx: StepContext, instance: dict[str, Any] | None) -> tuple[str, str]:
    """Where the script connects: the tunnel, the instance's endpoint, or (while the instance
    does not exist yet) a command that asks RDS for it."""
    database = ctx.config.database
    if instance is None and not database.host:
        host = (
            f"$(aws rds describe-db-instances --region {plain_word(ctx.aws.region)} "
            f"--db-instance-identifier {plain_word(ctx.config.rds_instance_id)} "
            "--query 'DBInstances[0].Endpoint.Address' --output text)"
        )
        return host, plain_word(database.port or database.default_port)
    found_host, found_port = address(ctx, instance or {})
    return plain_word(found_host), plain_word(found_port)


def printed_artifacts(ctx: StepContext, instance: dict[str, Any] | None) -> dict[str, str]:
    """`database.sql` and the commands that run it, for a machine that reaches the database."""
    config, database = ctx.config, ctx.config.database
    # every value goes through render's script filters: plain words, or quoted
    region, parameter = (
        plain_word(ctx.aws.region),
        plain_word(config.secret_name("db_password")),
    )
    fetch = (
        f"aws ssm get-parameter --with-decryption --region {region} "
        f"--name {parameter} --query Parameter.Value --output text"
    )
    host, port = _script_address(ctx, instance)
    lines = [
        "#!/bin/sh",
        "# Run database.sql (beside this file) from a machine that reaches the database,",
        "# e.g. a bastion in the VPC. The client asks for the admin password.",
    ]
    arn = ((instance or {}).get("MasterUserSecret") or {}).get("SecretArn")
    if arn:
        lines.append(
            "# RDS keeps the admin password: aws secretsmanager get-secret-value "
            f"--region {region} --secret-id {shell_quote(arn)} --query SecretString "
            "--output text"
        )
    admin = plain_word(database.admin_username)
    # No password on a command line (`ps` shows every argument to everyone on the host):
    # psql's script reads it from SSM itself; for mysql, the shell's builtin printf feeds
    # it on stdin, base64-encoded so that no character of it can break the statement.
    if database.engine == "postgres":
        lines += [f"{_psql(ctx, instance)} \\", "  -f database.sql"]
    else:
        lines += [
            "set -e",
            f"password=$({fetch})",
            "{ printf \"SET @airflow_password = FROM_BASE64('%s');\\n\" \\",
            "    \"$(printf '%s' \"$password\" | base64 | tr -d '\\n')\"; cat database.sql; } |",
            f"  mysql --host={host} --port={port} --user={admin} -p --ssl-mode=REQUIRED",
        ]
    sql_text = render_artifacts(config, ctx.account_id)["database.sql"]
    return {"database.sql": sql_text, "database-run.sh": "\n".join(lines) + "\n"}
