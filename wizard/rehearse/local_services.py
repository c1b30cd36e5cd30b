"""The services a rehearsal starts for its launch (the database its engine asks for: PostgreSQL,
or MariaDB standing in for MySQL; Redis; the S3 emulator), and the table's "relaxed:" lines:
what the rehearsal could not match."""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

from wizard.config import LaunchConfig
from wizard.rehearse.mariadb import MariaDB, mysql_relaxations, password_fetch
from wizard.rehearse.services import Postgres, Redis, S3Emulator
from wizard.rehearse.values import database_tls

if TYPE_CHECKING:
    from wizard.rehearse.run import Rehearsal


def database_key(config: LaunchConfig) -> str:
    """The local database server's name in the result's `services`."""
    return "postgres" if config.database.engine == "postgres" else "mariadb"


def start_services(
    rehearsal: Rehearsal, redis_token: str
) -> tuple[Postgres | MariaDB, Redis, S3Emulator]:
    """Start the database, Redis and the S3 emulator (each in `rehearsal.services` before it
    starts, so `stop()` stops whatever started), and the remote log folder's bucket."""
    config, host = rehearsal.config, rehearsal.service_host
    tls = database_tls(config)
    database: Postgres | MariaDB = (
        Postgres(require_tls=tls, host=host)
        if config.database.engine == "postgres"
        else MariaDB(fetch=password_fetch(config), require_tls=tls, host=host)
    )
    redis_tls = config.redis.broker_url("127.0.0.1").startswith("rediss://")
    redis = Redis(rehearsal.folder / "redis", tls=redis_tls, host=host, password=redis_token)
    s3 = S3Emulator(rehearsal.folder / "s3", host=host)
    for service in (database, redis, s3):
        rehearsal.services.append(service)
        service.start()
    if isinstance(database, MariaDB):
        rehearsal.database_version = database.version
    s3.create_bucket(config.remote_log_folder)
    rehearsal.report(
        f"{database.label} on 127.0.0.1:{database.port} ({database.root}), Redis on "
        f"127.0.0.1:{redis.port}, S3 emulator at {s3.endpoint}; logs in "
        f"{rehearsal.folder}/logs"
    )
    return database, redis, s3


def copy_database_ca(rehearsal: Rehearsal, database: Postgres | MariaDB) -> str:
    """With `database.ca_bundle` (verify-full): the local server's certificate, as the
    containers see it, to verify against instead of the RDS bundle in the image."""
    if not rehearsal.config.database.ca_bundle:
        return ""
    copy = rehearsal.folder / "database-ca.pem"
    shutil.copy(database.certificate, copy)
    return rehearsal.shared_path(copy)


def relaxations(rehearsal: Rehearsal) -> list[str]:
    """What this rehearsal could not match, one line each."""
    from wizard.rehearse.run import TIMEOUT_SCALE_VARIABLE

    config, notes = rehearsal.config, []
    if rehearsal.timeout_scale != 1:
        notes.append(
            f"health checks: timeouts x{rehearsal.timeout_scale:g} ({TIMEOUT_SCALE_VARIABLE})"
        )
    if not database_tls(config):
        option = "sslmode" if config.database.engine == "postgres" else "ssl_mode"
        notes.append(
            f"database: the launch's URL does not require TLS ({option}); the local server "
            "offers it and asks for the password"
        )
    if config.database.engine == "mysql":
        notes += mysql_relaxations(rehearsal.database_version)
    return notes
