"""The Celery broker as the redis step sees it: the replication group behind an endpoint, the
URL Celery needs for it (TLS, AUTH token), and a PING from here with the same settings (skipped,
and said so in neutral words, where this machine cannot reach the cache at all)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from wizard.config import RedisSection
from wizard.steps.base import Action, StepContext
from wizard.steps.probe import reach
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

    def ping(self) -> Ping:
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


@dataclass(frozen=True)
class Ping:
    """What a PING from this machine found (both empty: PONG)."""

    failure: str = ""
    """The cache's answer, or its address's: a real failure. An AUTH refusal starts with
    `AUTH_REFUSED`."""
    unchecked: str = ""
    """Why the cache cannot be checked from this machine (expected outside the VPC)."""

    @property
    def auth_refused(self) -> bool:
        """Whether the cache refused the AUTH token (or wanted one where none was given)."""
        return self.failure.startswith(AUTH_REFUSED)

    def line(self, endpoint: str) -> str:
        """The progress line: PONG, a failure, or a check skipped and why, in neutral words."""
        if self.unchecked:
            return (
                f"broker check skipped: {self.unchecked}; the ECS instances reach the cache "
                "through the security groups the network step checks"
            )
        return (
            f"PING {endpoint} failed: {self.failure}" if self.failure else f"PING {endpoint}: PONG"
        )


def ping(endpoint: str, *, tls: bool, password: str = "") -> Ping:
    """PING a Redis or Valkey endpoint from here, trying once.

    A name that does not resolve here, or an address that does not answer, is not a failure of
    the cache: the wizard often runs outside the cache's VPC (see `wizard.steps.probe`).

    Args:
        endpoint: `HOST[:PORT]` (the port defaults to 6379).
        tls: Connect with TLS, verifying the server's certificate (and its name).
        password: The AUTH token, if the cache wants one.

    Returns:
        What the PING found.
    """
    host, _, port = endpoint.partition(":")
    found = reach(host, int(port or REDIS_PORT), timeout=PING_TIMEOUT)
    if found.unreachable or found.refused:
        # redis-py is imported only for an endpoint that answers: outside the cache's VPC (the
        # usual place of the wizard, and the sandbox) it would stay in memory for nothing
        return Ping(failure=found.refused, unchecked=found.unreachable)
    try:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry
    except ImportError:
        return Ping(unchecked="the redis package is not installed")
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
        return Ping() if client.ping() else Ping(failure="no PONG")
    except redis.AuthenticationError as error:
        return Ping(failure=f"{AUTH_REFUSED}: {error}")
    except redis.ResponseError as error:
        refused = "NOAUTH" in str(error) or "authenticated" in str(error)
        return Ping(failure=f"{AUTH_REFUSED}: {error}" if refused else str(error))
    except (redis.RedisError, OSError) as error:
        return Ping(failure=str(error) or type(error).__name__)
    finally:
        client.close()
