"""The Celery broker as the redis step sees it: the replication group behind an endpoint, the
URL Celery needs for it (TLS, AUTH token), and a PING from here with the same settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from wizard.config import RedisSection
from wizard.steps.base import Action, StepContext
from wizard.steps.provisioning import MASK

REDIS_PORT = 6379
PING_TIMEOUT = 3.0
"""Seconds to wait for the cache to answer a PING from here."""
AUTH_REFUSED = "AUTH refused"


@dataclass(frozen=True)
class Broker:
    """How Celery reaches the cache."""

    endpoint: str
    tls: bool
    token: str
    """The AUTH token ("" without one): a secret, registered with the state."""
    token_parameter: str

    def url(self, redis: RedisSection, *, masked: bool = False) -> str:
        """The broker URL (`masked`: with the token replaced, for the state and the plan)."""
        url = redis.broker_url(self.endpoint, tls=self.tls, password=self.token)
        return url.replace(f":{quote(self.token, safe='')}@", f":{MASK}@") if masked else url

    def ping(self) -> str | None:
        """PING the cache from here, with TLS and AUTH as Celery will (see `ping`)."""
        return ping(self.endpoint, tls=self.tls, password=self.token)


def group_at(ctx: StepContext, endpoint: str) -> dict[str, Any] | None:
    """The replication group one of whose endpoints (primary, reader, configuration, or a
    node's) is `endpoint`'s host, None when ElastiCache here has none (a cache elsewhere)."""
    host = endpoint.partition(":")[0].lower()
    paginator = ctx.aws.client("elasticache").get_paginator("describe_replication_groups")
    for page in paginator.paginate():
        for group in page["ReplicationGroups"]:
            addresses = {(group.get("ConfigurationEndpoint") or {}).get("Address")}
            for node_group in group.get("NodeGroups", []):
                addresses.add((node_group.get("PrimaryEndpoint") or {}).get("Address"))
                addresses.add((node_group.get("ReaderEndpoint") or {}).get("Address"))
                for member in node_group.get("NodeGroupMembers", []):
                    addresses.add((member.get("ReadEndpoint") or {}).get("Address"))
            if host in {str(a).lower() for a in addresses if a}:
                return dict(group)
    return None


def group_check(group: dict[str, Any]) -> Action:
    """The plan's check of a described group, with the settings the broker URL follows."""
    settings = [
        "cluster mode " + ("on" if group.get("ClusterEnabled") else "off"),
        "in-transit encryption " + ("on" if group.get("TransitEncryptionEnabled") else "off"),
        "AUTH " + ("on" if group.get("AuthTokenEnabled") else "off"),
    ]
    detail = f"{group.get('Status', '?')}, {', '.join(settings)}"
    return Action("check", "elasticache:replication-group", group["ReplicationGroupId"], detail)


def primary_endpoint(group: dict[str, Any]) -> str:
    """`ADDRESS:PORT` of a replication group's primary ("" while it has none)."""
    endpoint = (group.get("NodeGroups") or [{}])[0].get("PrimaryEndpoint") or {}
    address = endpoint.get("Address")
    return f"{address}:{endpoint.get('Port') or REDIS_PORT}" if address else ""


def ping(endpoint: str, *, tls: bool, password: str = "") -> str | None:
    """PING a Redis or Valkey endpoint from here, trying once.

    Args:
        endpoint: `HOST[:PORT]` (the port defaults to 6379).
        tls: Connect with TLS, verifying the server's certificate (and its name).
        password: The AUTH token, if the cache wants one.

    Returns:
        None on PONG, else why not (also when the redis package is not installed); when the
        cache wants another AUTH token, or one where none was given, that starts with
        `AUTH_REFUSED`.
    """
    try:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry
    except ImportError:
        return "the redis package is not installed, so it was not checked"
    host, _, port = endpoint.partition(":")
    client = redis.Redis(
        host=host,
        port=int(port or REDIS_PORT),
        password=password or None,
        ssl=tls,
        ssl_cert_reqs="required",
        ssl_check_hostname=True,
        socket_timeout=PING_TIMEOUT,
        socket_connect_timeout=PING_TIMEOUT,
        retry=Retry(NoBackoff(), 0),  # one try: the default retries with backoff for seconds
    )
    try:
        return None if client.ping() else "no PONG"
    except redis.AuthenticationError as error:
        return f"{AUTH_REFUSED}: {error}"
    except redis.ResponseError as error:
        refused = "NOAUTH" in str(error) or "authenticated" in str(error)
        return f"{AUTH_REFUSED}: {error}" if refused else str(error)
    except (redis.RedisError, OSError) as error:
        return str(error) or type(error).__name__
    finally:
        client.close()
