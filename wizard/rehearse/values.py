"""The secret values of a rehearsal, made locally: the launch's SSM parameters are never read
(unless the user asks for that explicitly, which this module does not do)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from wizard.config import LaunchConfig
from wizard.fernet import generate_key

SECRET_KEYS = (
    "fernet_key",
    "sql_alchemy_conn",
    "result_backend",
    "secret_key",
    "jwt_secret",
    "admin_password",
    "db_password",
    "broker_url",
    "redis_auth_token",
    "google_client_id",
    "google_client_secret",
)
"""Every secret a launch's task definitions may reference, by config key."""

TLS_MODES = ("require", "verify-ca", "verify-full")


@dataclass(frozen=True)
class LocalValues:
    """Values by SSM parameter name, and the ones the rehearsal itself needs."""

    by_parameter: dict[str, str]
    admin_password: str
    db_password: str


def local_values(
    config: LaunchConfig,
    db_host: str,
    db_port: int,
    broker_endpoint: str,
    *,
    redis_token: str = "",
    database_ca: str = "",
) -> LocalValues:
    """A fresh value for each of the launch's secrets, pointing at the local services; the
    URLs are made by the same code the database and redis steps store them with.

    Args:
        config: The launch.
        db_host: The local PostgreSQL's address (as the containers see it), and its port.
        db_port: See db_host.
        broker_endpoint: The local Redis's `HOST:PORT` (as the containers see it).
        redis_token: The local Redis's password, standing for the cache's AUTH token.
        database_ca: With `database.ca_bundle` set, the local server's certificate as the
            containers see it: the URLs verify against it instead of the RDS bundle.
    """
    from wizard.steps.database import database_urls

    db_password = secrets.token_urlsafe(18)
    admin_password = secrets.token_urlsafe(18)
    if config.database.ca_bundle and database_ca:
        database = config.database.model_copy(update={"ca_bundle": database_ca})
        config = config.model_copy(update={"database": database})
    urls = database_urls(config, db_host, db_port, db_password)
    made = {
        "fernet_key": generate_key(),
        "sql_alchemy_conn": urls["sql_alchemy_conn"],
        "result_backend": urls["result_backend"],
        "secret_key": secrets.token_urlsafe(32),
        "jwt_secret": secrets.token_urlsafe(48),
        "admin_password": admin_password,
        "db_password": db_password,
        "broker_url": config.redis.broker_url(broker_endpoint, password=redis_token),
        "redis_auth_token": redis_token,
        "google_client_id": "rehearsal-client-id",
        "google_client_secret": secrets.token_urlsafe(18),
    }
    by_parameter = {config.secret_name(key): value for key, value in made.items()}
    return LocalValues(by_parameter, admin_password=admin_password, db_password=db_password)


MYSQL_TLS_MODES = ("REQUIRED", "VERIFY_CA", "VERIFY_IDENTITY")


def wants_tls(database_url: str) -> bool:
    """Whether a database URL requires TLS: libpq's sslmode, or mysqlclient's ssl_mode (or its
    ssl_ca alone, which turns TLS on where the driver has no ssl_mode: Airflow 1.10's)."""
    query = parse_qs(urlsplit(database_url).query)
    if database_url.startswith("mysql"):
        modes = query.get("ssl_mode", [])
        return any(mode in MYSQL_TLS_MODES for mode in modes) or (not modes and "ssl_ca" in query)
    return any(mode in TLS_MODES for mode in query.get("sslmode", []))


def database_tls(config: LaunchConfig) -> bool:
    """Whether the launch's database URLs require TLS."""
    from wizard.steps.database import database_urls

    return wants_tls(database_urls(config, "h", 1, "p")["sql_alchemy_conn"])
