"""Step database: the Airflow metadata database and its role, in an existing RDS instance (the
runbook's case) or a new one, and the SSM SecureStrings that hold the connection.

The SQL runs directly against PostgreSQL, as the RDS admin (`wizard.steps.postgres`), or is
printed for a bastion. The Airflow user's password is generated once into its own SecureString.
No password reaches the state file.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import quote

from wizard.checklist import CHECKLIST
from wizard.config import LaunchConfig
from wizard.errors import WizardError
from wizard.render import plain_word, render_artifacts, shell_quote
from wizard.steps.base import Action, Choice, Step, StepContext, StepPlan, Verb
from wizard.steps.postgres import ADMIN_PASSWORD_ENV, address, admin_password, plan_sql, run_sql
from wizard.steps.provisioning import (
    MASK,
    describe_one,
    ensure,
    ensure_security_group,
    parameter_action,
    read_parameter,
    record_found,
    registered_secret,
    security_group_actions,
    store_parameter,
    vpc_of,
    wait_until_available,
)

DERIVED = ("sql_alchemy_conn", "result_backend")
"""The SecureStrings that derive from the endpoint and the Airflow user's password."""


class DatabaseStep(Step):
    """The RDS instance (checked, or created), the database and role, and the parameters."""

    name = "database"
    title = CHECKLIST["database"]
    depends_on = ("network",)
    poll_seconds = 30.0
    """Seconds between status checks while a new instance is created."""
    timeout_seconds = 90 * 60.0

    def discover(self, ctx: StepContext) -> dict[str, list[Choice]]:
        paginator = ctx.aws.client("rds").get_paginator("describe_db_instances")
        found = [i for page in paginator.paginate() for i in page["DBInstances"]]
        return {
            "database.rds_instance_id": [
                Choice(i["DBInstanceIdentifier"], _label(i)) for i in found
            ]
        }

    def plan(self, ctx: StepContext) -> StepPlan:
        plan = StepPlan(self.name)
        config, database = ctx.config, ctx.config.database
        instance = self._instance(ctx)
        if instance is not None:
            self._check_instance(ctx, plan, instance)
        elif database.mode == "existing":
            choices = ", ".join(c.value for c in self.discover(ctx)["database.rds_instance_id"])
            plan.problems.append(
                f"RDS instance {config.rds_instance_id} does not exist in {ctx.aws.region}: "
                f"choose one of: {choices or 'none found'} (database.rds_instance_id), or set "
                'database.mode = "new"'
            )
        else:
            self._plan_new(ctx, plan)
        password_name = config.secret_name("db_password")
        password = registered_secret(ctx, read_parameter(ctx, password_name))
        verb: Verb = "no-op" if password else "create"
        plan.actions.append(Action(verb, "ssm:parameter", password_name, f"db_password {MASK}"))
        if database.run_sql == "print":
            plan.artifacts.update(self._printed(ctx, instance))
            plan.warnings.append(
                'database.run_sql = "print": apply creates the password parameter, then stops '
                "until the printed database.sql has been run (see database-run.sh); then run "
                "apply --yes"
            )
        else:
            plan_sql(ctx, plan, instance, password)
        urls = _urls(ctx, instance, password) if instance and password else {}
        for key in DERIVED:
            plan.actions.append(parameter_action(ctx, config.secret_name(key), urls.get(key), key))
        return plan

    def apply(self, ctx: StepContext) -> None:
        plan = self.plan(ctx)
        self.blocked(plan)
        config, database = ctx.config, ctx.config.database
        if database.mode == "new":
            instance = self._ensure_instance(ctx)
        else:
            instance = self._instance(ctx) or {}
            self.adopted(ctx, "rds:instance", config.rds_instance_id)
        password = self._ensure_password(ctx)
        if database.run_sql == "direct":
            admin = admin_password(ctx, instance)
            if admin is None:
                raise WizardError(
                    f"No admin password for RDS instance {config.rds_instance_id}.",
                    title=f"{self.title}: cannot run the SQL",
                    hint=f'Export {ADMIN_PASSWORD_ENV}, or set database.run_sql = "print".',
                )
            run_sql(ctx, instance, admin, password)
        elif not ctx.yes:
            raise WizardError(
                f"The SQL that creates database {database.database_name} is printed for you to "
                "run; the wizard did not run it.",
                title="Run the database SQL",
                hint="Run database.sql as the admin user with the commands of database-run.sh "
                "(from `plan`, or `render`), then run `airflow-ecs-wizard apply --yes`.",
            )
        for key, url in _urls(ctx, instance, password).items():
            store_parameter(self, ctx, config.secret_name(key), url, key)
        endpoint = instance["Endpoint"]
        self.set_outputs(
            ctx,
            rds_instance_id=config.rds_instance_id,
            host=endpoint["Address"],
            port=int(endpoint["Port"]),
            database=database.database_name,
            username=database.username,
            security_group_ids=[g["VpcSecurityGroupId"] for g in instance["VpcSecurityGroups"]],
            password_parameter=config.secret_name("db_password"),
            sql_alchemy_conn_parameter=config.secret_name("sql_alchemy_conn"),
            result_backend_parameter=config.secret_name("result_backend"),
        )

    # The instance.

    def _instance(self, ctx: StepContext) -> dict[str, Any] | None:
        return describe_one(
            ctx.aws.client("rds").describe_db_instances,
            "DBInstances",
            "DBInstanceNotFound",
            DBInstanceIdentifier=ctx.config.rds_instance_id,
        )

    def _check_instance(self, ctx: StepContext, plan: StepPlan, instance: dict[str, Any]) -> None:
        plan.actions.append(
            Action("check", "rds:instance", instance["DBInstanceIdentifier"], _label(instance))
        )
        engine = "postgres" if "postgres" in instance["Engine"] else "mysql"
        if engine != ctx.config.database.engine:
            plan.problems.append(
                f"RDS instance {instance['DBInstanceIdentifier']} runs {instance['Engine']}, "
                f"but database.engine is {ctx.config.database.engine}: make them agree"
            )
        status = instance["DBInstanceStatus"]
        if status != "available":
            plan.warnings.append(f"RDS instance {ctx.config.rds_instance_id} is {status}")
        if not instance.get("Endpoint") and ctx.config.database.mode == "existing":
            plan.problems.append(f"RDS instance {ctx.config.rds_instance_id} has no endpoint")

    def _plan_new(self, ctx: StepContext, plan: StepPlan) -> None:
        database, name = ctx.config.database, f"{ctx.config.name}-db"
        if not ctx.config.network.subnet_ids:
            plan.problems.append("network.subnet_ids is empty: a new instance needs them")
        if not vpc_of(ctx):
            plan.problems.append("network.vpc_id is empty: the instance's security group needs it")
        verb: Verb = "no-op" if self._subnet_group(ctx, name) else "create"
        plan.actions.append(Action(verb, "rds:subnet-group", name))
        port = database.default_port
        plan.actions += security_group_actions(ctx, plan, vpc_of(ctx), name, port)
        version = database.engine_version or "the default version"
        detail = (
            f"{database.engine} {version}, {database.instance_class}, "
            f"{database.allocated_storage} GiB encrypted, private, admin password kept by RDS"
        )
        plan.actions.append(Action("create", "rds:instance", ctx.config.rds_instance_id, detail))

    def _ensure_instance(self, ctx: StepContext) -> dict[str, Any]:
        database, name, rds = ctx.config.database, f"{ctx.config.name}-db", ctx.aws.client("rds")
        identifier = ctx.config.rds_instance_id
        found = self._instance(ctx)
        if found is not None:  # made by an interrupted run (tagged), or there before: adopted
            tags = rds.list_tags_for_resource(ResourceName=found["DBInstanceArn"])["TagList"]
            record_found(self, ctx, "rds:instance", identifier, tags)
        else:
            group = ensure_security_group(self, ctx, name, database.default_port, "Airflow DB")
            ensure(
                self,
                ctx,
                "rds:subnet-group",
                name,
                find=lambda: self._subnet_group(ctx, name),
                create=lambda: rds.create_db_subnet_group(
                    DBSubnetGroupName=name,
                    DBSubnetGroupDescription=f"airflow-ecs-wizard {ctx.config.name}: database",
                    SubnetIds=ctx.config.network.subnet_ids,
                    Tags=ctx.launch_tags,
                ),
                duplicate="DBSubnetGroupAlreadyExists",
                tags=lambda f: rds.list_tags_for_resource(ResourceName=f["DBSubnetGroupArn"]),
            )
            version = {"EngineVersion": database.engine_version} if database.engine_version else {}
            rds.create_db_instance(
                DBInstanceIdentifier=identifier,
                Engine=database.engine,
                DBInstanceClass=database.instance_class,
                AllocatedStorage=database.allocated_storage,
                StorageType="gp3",
                StorageEncrypted=True,
                PubliclyAccessible=False,
                MasterUsername=database.admin_username,
                ManageMasterUserPassword=True,
                DBSubnetGroupName=name,
                VpcSecurityGroupIds=[group],
                BackupRetentionPeriod=7,
                CopyTagsToSnapshot=True,
                Tags=ctx.launch_tags,
                **version,
            )
            self.created(ctx, "rds:instance", identifier)
        wait_until_available(
            ctx,
            rds.get_waiter("db_instance_available"),
            f"RDS instance {identifier}",
            lambda response: str(response["DBInstances"][0]["DBInstanceStatus"]),
            poll_seconds=self.poll_seconds,
            timeout_seconds=self.timeout_seconds,
            DBInstanceIdentifier=identifier,
        )
        return self._instance(ctx) or {}

    @staticmethod
    def _subnet_group(ctx: StepContext, name: str) -> dict[str, Any] | None:
        return describe_one(
            ctx.aws.client("rds").describe_db_subnet_groups,
            "DBSubnetGroups",
            "DBSubnetGroupNotFoundFault",
            DBSubnetGroupName=name,
        )

    # The Airflow user's password: registered with the state before anything could save it.

    def _ensure_password(self, ctx: StepContext) -> str:
        """The Airflow user's password: generated once, never replaced."""
        generated = registered_secret(ctx, secrets.token_urlsafe(24)) or ""
        name = ctx.config.secret_name("db_password")
        stored = store_parameter(self, ctx, name, generated, "db_password", replace=False)
        return registered_secret(ctx, stored) or ""

    # The printed SQL.

    def _printed(self, ctx: StepContext, instance: dict[str, Any] | None) -> dict[str, str]:
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
        if instance is None and not database.host:
            host = (
                f"$(aws rds describe-db-instances --region {region} --db-instance-identifier "
                f"{plain_word(config.rds_instance_id)} --query 'DBInstances[0].Endpoint.Address' "
                "--output text)"
            )
            port = plain_word(database.port or database.default_port)
        else:
            found_host, found_port = address(ctx, instance or {})
            host, port = plain_word(found_host), plain_word(found_port)
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
            lines += [
                f'psql "host={host} port={port} dbname=postgres user={admin} sslmode=require" \\',
                "  -f database.sql",
            ]
        else:
            lines += [
                "set -e",
                f"password=$({fetch})",
                "{ printf \"SET @airflow_password = FROM_BASE64('%s');\\n\" \\",
                "    \"$(printf '%s' \"$password\" | base64 | tr -d '\\n')\";"
                " cat database.sql; } |",
                f"  mysql --host={host} --port={port} --user={admin} -p --ssl-mode=REQUIRED",
            ]
        sql_text = render_artifacts(config, ctx.account_id)["database.sql"]
        return {"database.sql": sql_text, "database-run.sh": "\n".join(lines) + "\n"}


def _label(instance: dict[str, Any]) -> str:
    endpoint = instance.get("Endpoint") or {}
    where = f", {endpoint['Address']}:{endpoint['Port']}" if endpoint.get("Address") else ""
    engine = f"{instance['Engine']} {instance.get('EngineVersion', '')}".strip()
    return f"{engine}, {instance['DBInstanceStatus']}{where}"


def _urls(ctx: StepContext, instance: dict[str, Any], password: str) -> dict[str, str]:
    """The SQLAlchemy URL and Celery's result backend, at the instance's endpoint (where the
    tasks connect from inside the VPC, whatever tunnel this machine uses), asking for TLS."""
    endpoint = instance["Endpoint"]
    return database_urls(ctx.config, endpoint["Address"], endpoint["Port"], password)


def database_urls(config: LaunchConfig, host: str, port: int, password: str) -> dict[str, str]:
    """The SQLAlchemy URL and Celery's result backend of a launch for a server at host:port,
    asking for TLS (the rehearsal makes them for its local server with this too)."""
    database = config.database
    credentials = f"{quote(database.username, safe='')}:{quote(password, safe='')}"
    where = f"{credentials}@{host}:{port}/{database.database_name}"
    where += tls_query(config)
    if database.engine == "postgres":
        return {
            "sql_alchemy_conn": f"postgresql+psycopg2://{where}",
            "result_backend": f"db+postgresql://{where}",
        }
    return {"sql_alchemy_conn": f"mysql+mysqldb://{where}", "result_backend": f"db+mysql://{where}"}


def tls_query(config: LaunchConfig) -> str:
    """The URLs' query that makes the driver use TLS ("" where the driver cannot be told).

    PostgreSQL (libpq, under psycopg2): `sslmode=require`, or `verify-full` against
    `database.ca_bundle`. MySQL (mysqlclient, which SQLAlchemy's mysqldb dialect hands every
    query parameter, `ssl_ca` inside its `ssl` dict): `ssl_mode=REQUIRED`, or `VERIFY_IDENTITY`
    with `ssl_ca`. Airflow 1.10 pins `mysqlclient>=1.3.6,<1.4`, whose 1.3.x has no `ssl_mode`:
    there only `ssl_ca` (which turns TLS on and verifies) is given.
    """
    database = config.database
    bundle = quote(database.ca_bundle, safe="/")
    if database.engine == "postgres":
        return f"?sslmode=verify-full&sslrootcert={bundle}" if bundle else "?sslmode=require"
    if config.airflow.parsed_version.major == 1:
        return f"?ssl_ca={bundle}" if bundle else ""
    return f"?ssl_mode=VERIFY_IDENTITY&ssl_ca={bundle}" if bundle else "?ssl_mode=REQUIRED"
