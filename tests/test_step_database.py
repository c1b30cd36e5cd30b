"""The database step against the emulator server (RDS, SSM) and a real PostgreSQL server.

moto's RDS endpoints are not servers, so every test points `database.host`/`port` at the real
PostgreSQL fixture (the tunnel case) and keeps an RDS instance in moto for the metadata.
"""

from __future__ import annotations

import base64
import os
import shlex
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
import pytest
from pydantic import ValidationError

from tests.conftest import launch_state
from tests.services import free_port
from wizard.aws import Aws, AwsSettings
from wizard.config import LaunchConfig
from wizard.errors import WizardError
from wizard.state import StateFile, contains_secret
from wizard.steps.base import StepContext
from wizard.steps.database import DatabaseStep, tls_query
from wizard.steps.postgres import ADMIN_PASSWORD_ENV

ACCOUNT = "123456789012"
STEP = DatabaseStep()


def _aws(config: LaunchConfig, *, read_only: bool = False) -> Aws:
    settings = AwsSettings(region=config.aws.region, endpoint_url=config.aws.endpoint_url)
    return Aws(settings, read_only=read_only)


def _context(
    config: LaunchConfig, state: StateFile | None, *, read_only: bool = False, yes: bool = False
) -> tuple[StepContext, list[str]]:
    messages: list[str] = []
    ctx = StepContext(
        config=config,
        aws=_aws(config, read_only=read_only),
        account_id=ACCOUNT,
        state=state,
        progress=messages.append,
        yes=yes,
    )
    return ctx, messages


def _network(endpoint: str) -> dict[str, Any]:
    """A VPC with two private subnets and the cluster's instance group, as the network step
    leaves them."""
    aws = Aws(AwsSettings(region="us-east-1", endpoint_url=endpoint))
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"us-east-1{z}")[
            "Subnet"
        ]["SubnetId"]
        for i, z in ((1, "a"), (2, "b"))
    ]
    group = ec2.create_security_group(GroupName="instances", Description="x", VpcId=vpc)
    return {"vpc_id": vpc, "subnet_ids": subnets, "instance_group": group["GroupId"]}


def _state(tmp_path: Path, config: LaunchConfig, network: dict[str, Any]) -> StateFile:
    state: StateFile = launch_state(
        tmp_path,
        config,
        vpc_id=network["vpc_id"],
        instance_security_group_id=network["instance_group"],
    )
    return state


@pytest.fixture
def network(aws_endpoint: str) -> dict[str, Any]:
    return _network(aws_endpoint)


@pytest.fixture
def config(
    make_config: Callable[..., LaunchConfig],
    aws_endpoint: str,
    postgres: Any,
    network: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[..., LaunchConfig]:
    """A config whose database is reached through a "tunnel" to the PostgreSQL fixture, with
    names of its own (the server is shared by the session)."""
    monkeypatch.setenv(ADMIN_PASSWORD_ENV, "trust-auth-ignores-it")
    suffix = uuid.uuid4().hex[:8]

    def make(**changes: Any) -> LaunchConfig:
        base = {
            "aws__endpoint_url": aws_endpoint,
            "network__vpc_id": network["vpc_id"],
            "network__subnet_ids": network["subnet_ids"],
            "database__host": "127.0.0.1",
            "database__port": postgres.port,
            "database__admin_username": postgres.user,
            "database__database_name": f"airflow_{suffix}",
            "database__username": f"airflow_{suffix}",
        }
        return make_config(**{**base, **changes})

    return make


def _existing_instance(config: LaunchConfig) -> dict[str, Any]:
    """The runbook's case: an RDS instance made by someone else, without a managed secret."""
    rds = _aws(config).client("rds")
    return dict(
        rds.create_db_instance(
            DBInstanceIdentifier=config.rds_instance_id,
            Engine="postgres",
            EngineVersion="16.4",
            DBInstanceClass="db.t4g.medium",
            AllocatedStorage=20,
            MasterUsername="postgres",
            MasterUserPassword="not-used-by-the-tests",
        )["DBInstance"]
    )


def _parameter(ctx: StepContext, key: str) -> dict[str, Any]:
    ssm = ctx.aws.client("ssm")
    name = ctx.config.secret_name(key)
    return dict(ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"])


def _verifier(postgres: Any, role: str) -> str:
    with psycopg.connect(postgres.dsn()) as admin:
        row = admin.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (role,))
        return str(row.fetchone()[0])  # type: ignore[index]


def test_direct_sql_makes_a_database_the_airflow_user_can_use(
    config: Callable[..., LaunchConfig], network: dict[str, Any], postgres: Any, tmp_path: Path
) -> None:
    launch = config()
    instance = _existing_instance(launch)
    state = _state(tmp_path, launch, network)
    ctx, _ = _context(launch, state)
    password = "p/ss@word%20-" + uuid.uuid4().hex[:6]  # characters a URL must encode
    ctx.aws.client("ssm").put_parameter(
        Name=launch.secret_name("db_password"), Value=password, Type="SecureString"
    )

    STEP.apply(ctx)

    database, user = launch.database.database_name, launch.database.username
    stored = _parameter(ctx, "db_password")["Value"]
    assert stored == password  # an existing password is never replaced
    with psycopg.connect(postgres.dsn(database, user, stored), autocommit=True) as airflow:
        airflow.execute("CREATE TABLE dag_run (id serial PRIMARY KEY)")
        airflow.execute("INSERT INTO dag_run DEFAULT VALUES")
        encoding = airflow.execute("SHOW server_encoding").fetchone()
    assert encoding == ("UTF8",)
    host = instance["Endpoint"]["Address"]  # the tasks' address, not this machine's tunnel
    encoded = "p%2Fss%40word%2520-"
    where = f"{user}:{encoded}{password[-6:]}@{host}:5432/{database}?sslmode=require"
    conn = _parameter(ctx, "sql_alchemy_conn")
    assert conn["Type"] == "SecureString"
    assert conn["Value"] == f"postgresql+psycopg2://{where}"
    backend = _parameter(ctx, "result_backend")
    assert (backend["Type"], backend["Value"]) == ("SecureString", f"db+postgresql://{where}")
    outputs = state.step("database").outputs
    assert (outputs["host"], outputs["port"], outputs["database"]) == (host, 5432, database)
    assert outputs["sql_alchemy_conn_parameter"] == launch.secret_name("sql_alchemy_conn")
    assert not contains_secret(state.path.read_text(), [password])

    # a second apply changes nothing in AWS, and nothing in the database either
    verifier = _verifier(postgres, user)
    again, _ = _context(launch, StateFile.open(state.path))
    plan = STEP.plan(again)
    assert plan.changes == [] and plan.problems == []
    STEP.apply(again)
    assert again.aws.recorder.mutating() == {}
    assert _verifier(postgres, user) == verifier  # no ALTER ROLE: the password already worked
    with psycopg.connect(postgres.dsn(database, user, stored)) as airflow:
        assert airflow.execute("SELECT count(*) FROM dag_run").fetchone() == (1,)


def test_generated_password_stays_out_of_the_state_and_is_reset_when_it_drifted(
    config: Callable[..., LaunchConfig], network: dict[str, Any], postgres: Any, tmp_path: Path
) -> None:
    launch = config()
    _existing_instance(launch)
    state = _state(tmp_path, launch, network)
    ctx, messages = _context(launch, state)
    STEP.apply(ctx)
    password = _parameter(ctx, "db_password")["Value"]
    assert len(password) >= 32
    assert any(m.startswith("CREATE DATABASE") for m in messages)
    text = state.path.read_text()
    assert not contains_secret(text, [password, "trust-auth-ignores-it"])
    created = {(r.kind, r.id) for r in state.created_resources()}
    assert ("ssm:parameter", launch.secret_name("db_password")) in created

    # someone changed the role's password by hand: plan says so, apply sets SSM's value again
    user = launch.database.username
    with psycopg.connect(postgres.dsn(), autocommit=True) as admin:
        admin.execute(f"ALTER ROLE {user} PASSWORD 'changed-by-hand'")
    again, _ = _context(launch, StateFile.open(state.path))
    (role,) = [a for a in STEP.plan(again).actions if a.kind == "postgres:role"]
    assert role.verb == "update"
    STEP.apply(again)
    assert again.aws.recorder.mutating() == {}
    with psycopg.connect(postgres.dsn(launch.database.database_name, user, password)):
        pass


def test_plan_is_read_only_and_shows_the_sql_it_would_run(
    config: Callable[..., LaunchConfig], postgres: Any
) -> None:
    launch = config()
    _existing_instance(launch)
    ctx, _ = _context(launch, None, read_only=True)
    plan = STEP.plan(ctx)
    assert plan.problems == []
    assert ctx.aws.recorder.mutating() == {}
    verbs = {a.kind: a.verb for a in plan.actions}
    assert verbs == {
        "rds:instance": "check",
        "ssm:parameter": "create",
        "postgres:role": "create",
        "postgres:database": "create",
        "postgres:grant": "create",
    }
    assert all("••••" in a.detail for a in plan.actions if a.kind == "ssm:parameter")
    with psycopg.connect(postgres.dsn()) as admin:
        row = admin.execute(
            "SELECT count(*) FROM pg_roles WHERE rolname = %s", (launch.database.username,)
        ).fetchone()
    assert row == (0,)


def test_missing_admin_password_is_a_plan_problem(
    config: Callable[..., LaunchConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    launch = config()
    _existing_instance(launch)
    monkeypatch.delenv(ADMIN_PASSWORD_ENV)
    ctx, _ = _context(launch, None)
    (problem,) = STEP.plan(ctx).problems
    assert ADMIN_PASSWORD_ENV in problem and "never in the config file" in problem
    with pytest.raises(WizardError, match=ADMIN_PASSWORD_ENV):
        STEP.apply(ctx)
    assert ctx.aws.recorder.mutating() == {}


def test_unreachable_database_is_a_plan_problem_that_names_the_ways_out(
    config: Callable[..., LaunchConfig],
) -> None:
    port = free_port()  # no tunnel listens there
    launch = config(database__port=port)
    _existing_instance(launch)
    (problem,) = STEP.plan(_context(launch, None)[0]).problems
    assert f"cannot connect to PostgreSQL at 127.0.0.1:{port}" in problem
    assert "tunnel" in problem and 'run_sql = "print"' in problem


def test_missing_instance_names_the_choices(config: Callable[..., LaunchConfig]) -> None:
    launch = config()
    _existing_instance(config(database__rds_instance_id="other-rds"))
    (problem,) = STEP.plan(_context(launch, None)[0]).problems
    assert "RDS instance staging-rds does not exist" in problem
    assert "other-rds" in problem


def test_mysql_direct_mode_asks_for_print_mode(config: Callable[..., LaunchConfig]) -> None:
    launch = config(database__engine="mysql", database__admin_username="admin")
    problems = STEP.plan(_context(launch, None)[0]).problems
    assert any('run_sql = "print"' in p for p in problems)


def _recording_bin(tmp_path: Path, password: str, real: dict[str, str]) -> Path:
    """A folder for PATH with a stand-in `aws` that prints `password` for `ssm get-parameter`,
    and wrappers around the `real` clients; each records its command line in calls.txt."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = f"printf '%s\\n' \"$0 $*\" >> {tmp_path / 'calls.txt'}\n"
    (bin_dir / "aws").write_text(
        f"#!/bin/sh\n{record}"
        f'case "$1 $2" in "ssm get-parameter") printf \'%s\\n\' {shlex.quote(password)};; '
        "*) exit 3;; esac\n"
    )
    for name, target in real.items():
        (bin_dir / name).write_text(f'#!/bin/sh\n{record}exec {target} "$@"\n')
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    return bin_dir


def test_print_mode_waits_for_the_operator_and_its_script_works(
    config: Callable[..., LaunchConfig], network: dict[str, Any], ssl_postgres: Any, tmp_path: Path
) -> None:
    launch = config(
        database__run_sql="print",
        database__port=ssl_postgres.port,
        database__admin_username=ssl_postgres.user,
    )
    _existing_instance(launch)
    state = _state(tmp_path, launch, network)
    ctx, _ = _context(launch, state)
    plan = STEP.plan(ctx)
    script, sql_text = plan.artifacts["database-run.sh"], plan.artifacts["database.sql"]
    assert sql_text.startswith("-- The Airflow metadata database")
    assert f"host=127.0.0.1 port={ssl_postgres.port}" in script and "sslmode=require" in script
    # the password is read inside the psql script, never passed as an argument
    assert "airflow_password" not in script and " -v " not in script
    assert f"--name {launch.secret_name('db_password')} " in sql_text
    assert "\\set airflow_password `aws ssm get-parameter --with-decryption" in sql_text

    with pytest.raises(WizardError) as refused:
        STEP.apply(ctx)
    assert "apply --yes" in refused.value.hint
    password = _parameter(ctx, "db_password")["Value"]  # the script reads it: it exists now
    ssm = ctx.aws.client("ssm")
    assert ssm.get_parameters(Names=[launch.secret_name("sql_alchemy_conn")])["Parameters"] == []

    # the operator runs the printed script as it is (psql over TLS), then apply --yes
    (tmp_path / "database.sql").write_text(sql_text)
    (tmp_path / "database-run.sh").write_text(script)
    psql = f"{ssl_postgres.bin_dir / 'psql'} -X -q"
    bin_dir = _recording_bin(tmp_path, password, {"psql": psql})
    ran = subprocess.run(
        ["sh", "database-run.sh"],
        cwd=tmp_path,
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    calls = (tmp_path / "calls.txt").read_text()
    assert "psql host=127.0.0.1" in calls and "aws ssm get-parameter" in calls
    assert password not in calls  # no command line held it
    database, user = launch.database.database_name, launch.database.username
    tls = f" sslmode=verify-full sslrootcert={ssl_postgres.ca_file}"
    with psycopg.connect(
        ssl_postgres.dsn(database, user, password) + tls, autocommit=True
    ) as airflow:
        airflow.execute("CREATE TABLE task_instance (id int)")
    yes, _ = _context(launch, StateFile.open(state.path), yes=True)
    STEP.apply(yes)
    assert password in _parameter(yes, "sql_alchemy_conn")["Value"]
    assert _parameter(yes, "result_backend")["Type"] == "SecureString"
    assert not contains_secret(state.path.read_text(), [password])


def test_the_mysql_script_feeds_the_password_on_stdin(
    config: Callable[..., LaunchConfig], network: dict[str, Any], tmp_path: Path
) -> None:
    launch = config(
        database__engine="mysql", database__admin_username="admin", database__run_sql="print"
    )
    ctx, _ = _context(launch, _state(tmp_path, launch, network))
    plan = STEP.plan(ctx)
    script, sql_text = plan.artifacts["database-run.sh"], plan.artifacts["database.sql"]
    assert "--init-command" not in script + sql_text
    (tmp_path / "database.sql").write_text(sql_text)
    (tmp_path / "database-run.sh").write_text(script)
    password = 'it\'s a \\ "hard" one; -- DROP'  # nothing in it may break the statement
    received = tmp_path / "stdin.sql"
    bin_dir = _recording_bin(tmp_path, password, {"mysql": f"tee {received} >/dev/null; true"})
    ran = subprocess.run(
        ["sh", "database-run.sh"],
        cwd=tmp_path,
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    calls = (tmp_path / "calls.txt").read_text()
    assert "mysql --host=127.0.0.1" in calls and "--ssl-mode=REQUIRED" in calls
    assert password not in calls
    first, rest = received.read_text().split("\n", 1)
    encoded = base64.b64encode(password.encode()).decode()
    assert first == f"SET @airflow_password = FROM_BASE64('{encoded}');"
    assert rest == sql_text  # then the script itself


def test_new_instance_gets_a_subnet_group_and_a_group_that_admits_the_cluster(
    config: Callable[..., LaunchConfig], network: dict[str, Any], postgres: Any, tmp_path: Path
) -> None:
    launch = config(database__mode="new", database__engine_version="16.4")
    state = _state(tmp_path, launch, network)
    ctx, messages = _context(launch, state)
    plan = STEP.plan(ctx)
    kinds = [(a.verb, a.kind) for a in plan.actions]
    assert ("create", "rds:instance") in kinds and ("create", "ec2:ingress") in kinds
    assert plan.problems == []

    STEP.apply(ctx)

    rds = ctx.aws.client("rds")
    (instance,) = rds.describe_db_instances(DBInstanceIdentifier=launch.rds_instance_id)[
        "DBInstances"
    ]
    assert (instance["Engine"], instance["EngineVersion"]) == ("postgres", "16.4")
    assert instance["StorageEncrypted"] and not instance["PubliclyAccessible"]
    assert instance["MasterUserSecret"]["SecretArn"]  # the admin password lives in RDS's secret
    subnet_group = instance["DBSubnetGroup"]
    assert subnet_group["DBSubnetGroupName"] == f"{launch.name}-db"
    assert {s["SubnetIdentifier"] for s in subnet_group["Subnets"]} == set(network["subnet_ids"])
    (group_id,) = [g["VpcSecurityGroupId"] for g in instance["VpcSecurityGroups"]]
    (group,) = ctx.aws.client("ec2").describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
    (rule,) = group["IpPermissions"]
    assert (rule["FromPort"], rule["ToPort"]) == (5432, 5432)
    assert [p["GroupId"] for p in rule["UserIdGroupPairs"]] == [network["instance_group"]]
    assert {"Key": "airflow-ecs-wizard:launch", "Value": launch.name} in group["Tags"]
    assert any("available" in m for m in messages)
    created = {r.kind for r in state.created_resources()}
    assert {"rds:instance", "rds:subnet-group", "ec2:security-group", "ssm:parameter"} <= created
    assert state.step("database").outputs["security_group_ids"] == [group_id]
    with psycopg.connect(
        postgres.dsn(
            launch.database.database_name,
            launch.database.username,
            _parameter(ctx, "db_password")["Value"],
        )
    ):
        pass

    again, _ = _context(launch, StateFile.open(state.path))
    STEP.apply(again)
    assert again.aws.recorder.mutating() == {}


def test_an_instance_an_interrupted_run_created_is_adopted(
    config: Callable[..., LaunchConfig], network: dict[str, Any], tmp_path: Path
) -> None:
    launch = config(database__mode="new", database__engine_version="16.4")
    rds = _aws(launch).client("rds")
    rds.create_db_instance(  # made by a run that died before it wrote the state
        DBInstanceIdentifier=launch.rds_instance_id,
        Engine="postgres",
        EngineVersion="16.4",
        DBInstanceClass="db.t4g.medium",
        AllocatedStorage=20,
        MasterUsername="postgres",
        ManageMasterUserPassword=True,
        Tags=[{"Key": "airflow-ecs-wizard:launch", "Value": launch.name}],
    )
    state = _state(tmp_path, launch, network)
    ctx, _ = _context(launch, state)
    STEP.apply(ctx)
    assert "rds.CreateDBInstance" not in ctx.aws.recorder.counts
    recorded = {(r.kind, r.id): r.created for r in state.created_resources(created_only=False)}
    assert recorded[("rds:instance", launch.rds_instance_id)] is True


def test_discover_lists_the_instances(config: Callable[..., LaunchConfig]) -> None:
    launch = config()
    _existing_instance(launch)
    (choice,) = STEP.discover(_context(launch, None)[0])["database.rds_instance_id"]
    assert choice.value == "staging-rds" and "postgres 16.4" in choice.label


def _at(url: str, host: str, port: int) -> str:
    """A stored URL as libpq takes it (no SQLAlchemy driver), pointed at a local server."""
    parts = urlsplit(url.replace("postgresql+psycopg2://", "postgresql://", 1))
    credentials = parts.netloc.rpartition("@")[0]
    return urlunsplit(parts._replace(netloc=f"{credentials}@{host}:{port}"))


def test_the_urls_ask_for_tls_and_verify_with_a_ca_bundle(
    config: Callable[..., LaunchConfig],
    network: dict[str, Any],
    ssl_postgres: Any,
    postgres: Any,
    tmp_path: Path,
) -> None:
    launch = config(
        database__port=ssl_postgres.port,
        database__admin_username=ssl_postgres.user,
        database__ca_bundle=str(ssl_postgres.ca_file),  # here the image's path is this machine's
    )
    _existing_instance(launch)
    ctx, _ = _context(launch, _state(tmp_path, launch, network))
    STEP.apply(ctx)  # direct mode against a server where the Airflow user must use TLS

    url = _parameter(ctx, "sql_alchemy_conn")["Value"]
    bundle = quote(str(ssl_postgres.ca_file), safe="/")
    assert url.endswith(f"?sslmode=verify-full&sslrootcert={bundle}")
    assert _parameter(ctx, "result_backend")["Value"].endswith(url.partition("?")[2])
    with psycopg.connect(_at(url, "localhost", ssl_postgres.port)) as airflow:
        row = airflow.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        assert row.fetchone() == (True,)
    # verify-full checks the name: the certificate is not for 127.0.0.2
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(_at(url, "127.0.0.2", ssl_postgres.port), connect_timeout=10)

    # without a bundle, TLS is still required: a server without it is refused
    plain = config(database__port=ssl_postgres.port, database__admin_username=ssl_postgres.user)
    plain_ctx, _ = _context(plain, None)
    STEP.apply(plain_ctx)
    url = _parameter(plain_ctx, "sql_alchemy_conn")["Value"]
    assert url.endswith("?sslmode=require")
    with psycopg.connect(_at(url, "127.0.0.1", ssl_postgres.port)) as airflow:
        airflow.execute("SELECT 1")
    with pytest.raises(psycopg.OperationalError, match="SSL"):
        psycopg.connect(_at(url, "127.0.0.1", postgres.port), connect_timeout=10)


def test_mysql_urls_ask_for_tls(make_config: Callable[..., LaunchConfig]) -> None:
    mysql = {"database__engine": "mysql", "database__admin_username": "admin"}
    assert tls_query(make_config(**mysql)) == "?ssl_mode=REQUIRED"
    bundle = "/etc/ssl/certs/rds-global-bundle.pem"
    verified = make_config(**mysql, database__ca_bundle=bundle)
    assert tls_query(verified) == f"?ssl_mode=VERIFY_IDENTITY&ssl_ca={bundle}"
    old = {"airflow__version": "1.10", "components__triggerer": None}
    old_airflow = make_config(**mysql, **old, components__dag_processor=None)
    assert tls_query(old_airflow) == ""  # mysqlclient<1.4 has no ssl_mode
    with pytest.raises(ValidationError, match="ca_bundle"):
        make_config(database__ca_bundle="certs/rds.pem")  # a path inside the image: absolute


# Print mode: apply logs in as the Airflow user to prove the printed SQL has run (issue 10, 7).


def _print_mode(config: Callable[..., LaunchConfig], **changes: Any) -> LaunchConfig:
    return config(database__run_sql="print", **changes)


def test_print_mode_stops_until_the_sql_has_run_and_a_retry_then_passes(
    config: Callable[..., LaunchConfig], network: dict[str, Any], ssl_postgres: Any, tmp_path: Path
) -> None:
    launch = _print_mode(
        config, database__port=ssl_postgres.port, database__admin_username=ssl_postgres.user
    )
    _existing_instance(launch)
    state = _state(tmp_path, launch, network)
    ctx, _ = _context(launch, state, yes=True)  # consent given: the SQL still has to run
    first = STEP.plan(ctx)
    assert first.problems == []
    (warning,) = first.warnings
    assert "apply creates the password parameter" in warning
    assert "stops there until database-run.sh" in warning
    user, database = launch.database.username, launch.database.database_name
    assert ("check", "postgres:login", f"{user} to {database}") in [
        (a.verb, a.kind, a.name) for a in first.actions
    ]

    # the SQL has not run: apply creates the password, logs in, and stops with what to run
    with pytest.raises(WizardError) as stopped:
        STEP.apply(ctx)
    assert stopped.value.title == "Run the database SQL"
    assert f"did not let the Airflow user {user} in" in stopped.value.message
    assert "database.sql has not run" in stopped.value.message
    assert "Run database-run.sh" in stopped.value.hint and "Retry" in stopped.value.hint
    psql = f'psql "host=127.0.0.1 port={ssl_postgres.port} dbname=postgres user={ssl_postgres.user}'
    assert f'{psql} sslmode=require" -f database.sql' in stopped.value.hint  # for a terminal
    ssm = ctx.aws.client("ssm")
    assert ssm.get_parameters(Names=[launch.secret_name("sql_alchemy_conn")])["Parameters"] == []
    assert state.step("database").outputs == {}
    # the preview says so too, as something only the operator can do
    before = STEP.plan(ctx)
    (problem,) = before.problems
    assert f"did not let the Airflow user {user} in" in problem and "database-run.sh" in problem

    # the operator runs the printed script; the retry passes, on the plan confirmed before
    password = _parameter(ctx, "db_password")["Value"]
    (tmp_path / "database.sql").write_text(before.artifacts["database.sql"])
    (tmp_path / "database-run.sh").write_text(before.artifacts["database-run.sh"])
    psql = f"{ssl_postgres.bin_dir / 'psql'} -X -q"
    bin_dir = _recording_bin(tmp_path, password, {"psql": psql})
    ran = subprocess.run(
        ["sh", "database-run.sh"],
        cwd=tmp_path,
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    after = STEP.plan(ctx)
    assert after.problems == [] and after.warnings == []
    assert after.digest() == before.digest()  # Retry re-applies the same confirmed preview
    retry, messages = _context(launch, StateFile.open(state.path), yes=True)
    STEP.apply(retry)
    assert f"logged in to {database} as {user} with the password in SSM" in "\n".join(messages)
    assert password in _parameter(retry, "sql_alchemy_conn")["Value"]
    assert state.path.exists() and not contains_secret(state.path.read_text(), [password])


def test_print_mode_names_a_grant_the_sql_did_not_make(
    config: Callable[..., LaunchConfig], network: dict[str, Any], postgres: Any, tmp_path: Path
) -> None:
    launch = _print_mode(config)
    _existing_instance(launch)
    ctx, _ = _context(launch, _state(tmp_path, launch, network), yes=True)
    with pytest.raises(WizardError, match="did not let the Airflow user"):
        STEP.apply(ctx)
    password = _parameter(ctx, "db_password")["Value"]
    user, database = launch.database.username, launch.database.database_name
    # half the script ran: the role and its database, not the grant on schema public
    with psycopg.connect(postgres.dsn(), autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {user} LOGIN PASSWORD '{password}'")
        admin.execute(f"CREATE DATABASE {database}")
        admin.execute(f"GRANT ALL PRIVILEGES ON DATABASE {database} TO {user}")
    with pytest.raises(WizardError) as stopped:
        STEP.apply(ctx)
    assert f"{user} may not create tables in schema public of {database}" in stopped.value.message
    with psycopg.connect(postgres.dsn(database), autocommit=True) as admin:
        admin.execute(f"GRANT ALL ON SCHEMA public TO {user}")
    STEP.apply(ctx)
    assert _parameter(ctx, "result_backend")["Type"] == "SecureString"


def test_print_mode_leaves_a_database_out_of_reach_to_the_migrate_task(
    config: Callable[..., LaunchConfig], network: dict[str, Any], tmp_path: Path
) -> None:
    launch = _print_mode(config, database__host="airflow-db.invalid")  # never resolves
    instance = _existing_instance(launch)
    state = _state(tmp_path, launch, network)
    ctx, messages = _context(launch, state, yes=True)
    (warning,) = STEP.plan(ctx).warnings
    assert "airflow-db.invalid does not resolve on this machine" in warning
    assert "goes on without that check" in warning and "migrate task" in warning
    STEP.apply(ctx)
    said = "\n".join(messages)
    assert f"login as {launch.database.username} not checked from here" in said
    assert "migrate task logs in from inside the VPC" in said
    host = instance["Endpoint"]["Address"]  # where the tasks connect, whatever this machine
    assert f"@{host}:5432/" in _parameter(ctx, "sql_alchemy_conn")["Value"]
    (warning,) = STEP.plan(ctx).warnings  # and once the password exists
    assert "cannot be checked from here" in warning and "Apply goes on without it" in warning


def test_print_mode_with_no_tunnel_open_stops_and_says_so(
    config: Callable[..., LaunchConfig], network: dict[str, Any], tmp_path: Path
) -> None:
    port = free_port()  # the config names a tunnel, and nothing listens there
    launch = _print_mode(config, database__port=port)
    _existing_instance(launch)
    ctx, _ = _context(launch, _state(tmp_path, launch, network), yes=True)
    with pytest.raises(WizardError) as stopped:
        STEP.apply(ctx)
    assert stopped.value.title == "The database does not answer"
    assert f"nothing listens at 127.0.0.1:{port}" in stopped.value.message
    assert "Open the tunnel" in stopped.value.hint
