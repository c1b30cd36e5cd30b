"""Whether this machine can reach an address at all, before a check that logs in there.

The database and the cache usually live in private subnets, and the wizard often runs outside
their VPC: there a name that does not resolve, or an address that does not answer, is expected
and only means the check cannot be made from here. Everything else (a refused connection, a
refused login, a certificate this machine does not trust) is an answer, and a real failure.
"""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass

CONNECT_TIMEOUT = 3.0
"""Seconds to wait for a TCP connection before deciding that the address does not answer here."""

_NO_ROUTE = {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN, errno.EHOSTDOWN}


@dataclass(frozen=True)
class Reach:
    """What a TCP connection from this machine found (both empty: it opened)."""

    unreachable: str = ""
    """Why a check cannot be made from here, in neutral words (expected outside the VPC)."""
    refused: str = ""
    """Something at the address answered, refusing the connection: a real failure."""


def reach(host: str, port: int, *, timeout: float = CONNECT_TIMEOUT) -> Reach:
    """Open (and close) a TCP connection to `host:port` from this machine.

    Args:
        host: A DNS name or an IP address.
        port: The TCP port.
        timeout: Seconds to wait for the connection.

    Returns:
        Empty when the connection opened. Otherwise `unreachable` says why a check cannot be
        made from here (the name does not resolve, the address does not answer or has no route
        from here), or `refused` that something at the address refused the connection.
    """
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return Reach()
    except socket.gaierror:
        return Reach(
            unreachable=f"{host} does not resolve on this machine (a private name resolves "
            "only inside its VPC)"
        )
    except TimeoutError:
        return Reach(
            unreachable=f"{host}:{port} did not answer this machine within {timeout:g} s (a "
            "private address answers only inside its VPC, or through a tunnel)"
        )
    except ConnectionRefusedError:
        return Reach(refused=f"nothing listens at {host}:{port} (connection refused)")
    except OSError as error:
        if error.errno in _NO_ROUTE:
            return Reach(unreachable=f"this machine has no route to {host}:{port}")
        return Reach(refused=f"{host}:{port}: {error.strerror or error}")
