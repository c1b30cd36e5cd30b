"""Flower's health check, run for real in a shell against a local server that answers as each
Flower line does.

Airflow 1.10's `celery` extra allows `flower>=0.7.3, <1.0`, and `/healthcheck` arrived only in
Flower 0.9.7 (mher/flower commit e64ceb0, "Add healthcheck endpoint (#1012)", first tagged in
v0.9.7 of 2020-12-21): an older Flower answers 404 there. So the 1.10 check accepts any HTTP
answer; 2.x and 3.x (whose celery provider needs Flower 1.x) keep `/healthcheck`.
"""

from __future__ import annotations

import http.server
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from tests.services import free_port
from wizard.airflow_containers import health_command
from wizard.config import LaunchConfig

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")


@contextmanager
def flower_like(paths: dict[str, int]) -> Iterator[int]:
    """An HTTP server on a free loopback port answering each path with its status (404 else)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status = paths.get(self.path, 404)
            self.send_response(status)
            self.end_headers()
            self.wfile.write(b"OK" if status == 200 else b"no")

        def log_message(self, *args: object) -> None:
            pass

    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _check(make_config: Callable[..., LaunchConfig], version: str, port: int) -> int:
    changes = {"airflow__version": version, "components__flower__container_port": port}
    if version == "1.10":
        changes |= {"components__triggerer": None, "components__dag_processor": None}
    config = make_config(**changes)
    command = health_command(config, config.airflow.parsed_version, "flower")
    assert command is not None
    return subprocess.run(["bash", "-c", command], capture_output=True, timeout=60).returncode


def test_a_flower_before_0_9_7_is_healthy_on_1_10(
    make_config: Callable[..., LaunchConfig],
) -> None:
    # Flower 0.9.5: the dashboard answers, /healthcheck does not exist
    with flower_like({"/": 200}) as port:
        assert _check(make_config, "1.10", port) == 0
    # with basic auth on, everything answers 401: still serving
    with flower_like({"/": 401, "/healthcheck": 401}) as port:
        assert _check(make_config, "1.10", port) == 0


def test_a_flower_that_does_not_serve_is_unhealthy_on_every_version(
    make_config: Callable[..., LaunchConfig],
) -> None:
    port = free_port()  # nothing listens there
    for version in ("1.10", "2.11", "3.3"):
        assert _check(make_config, version, port) != 0, version


def test_flower_1_x_is_checked_at_healthcheck(make_config: Callable[..., LaunchConfig]) -> None:
    with flower_like({"/healthcheck": 200}) as port:
        assert _check(make_config, "3.3", port) == 0
    with flower_like({"/": 200}) as port:  # a server that is not Flower 1.x
        assert _check(make_config, "3.3", port) != 0
