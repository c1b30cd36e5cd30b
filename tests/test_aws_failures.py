"""Everyday AWS failures reach the user as words with what to do, never as "Unexpected error ...
report it as a bug" or a server's HTML page: no credentials, an endpoint that dies mid-plan, and
HTTP 500 answers (JSON services answer with a ClientError, query/XML ones fail to parse).

The failing endpoint is a real HTTP server in front of the emulator: it passes STS through (so
the CLI connects) and then answers everything else with an HTML error page, or goes away.
"""

from __future__ import annotations

import contextlib
import http.client
import http.server
import io
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import EXAMPLE, launch_state, no_credentials_env, run_cli, with_changes
from tests.test_config import _toml
from wizard.aws import Aws, AwsSettings
from wizard.cli import main
from wizard.config import LaunchConfig
from wizard.errors import as_wizard_error

HTML_500 = (
    b"<!doctype html>\n<html lang=en>\n<title>500 Internal Server Error</title>\n"
    b"<h1>Internal Server Error</h1>\n<p>The server encountered an internal error and was "
    b"unable to complete your request.</p>\n"
)


class FailingEndpoint:
    """Forwards STS GetCallerIdentity to the emulator; then, by `mode`, answers every other call
    with HTTP 500 and an HTML page ("html500"), or shuts itself down ("die")."""

    def __init__(self, upstream: str, mode: str) -> None:
        self.upstream, self.mode = urlsplit(upstream), mode
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.died = threading.Event()

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        endpoint = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if b"Action=GetCallerIdentity" in body:
                    self._forward(body)
                elif endpoint.mode == "die":
                    endpoint.died.set()
                    threading.Thread(target=endpoint.stop, daemon=True).start()
                    self.close_connection = True  # no answer at all: the endpoint is gone
                else:
                    self.send_response(500)
                    self.send_header("Content-Type", "text/html; charset=utf-8")
                    self.send_header("Content-Length", str(len(HTML_500)))
                    self.end_headers()
                    self.wfile.write(HTML_500)

            def _forward(self, body: bytes) -> None:
                upstream = http.client.HTTPConnection(
                    endpoint.upstream.hostname, endpoint.upstream.port, timeout=30
                )
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                upstream.request("POST", self.path, body=body, headers=headers)
                answer = upstream.getresponse()
                data = answer.read()
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in {"content-length", "transfer-encoding", "connection"}:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                upstream.close()

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    def start(self) -> None:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def failing_endpoint(aws_endpoint: str, request: pytest.FixtureRequest) -> Iterator[Any]:
    def make(mode: str) -> FailingEndpoint:
        endpoint = FailingEndpoint(aws_endpoint, mode)
        endpoint.start()
        request.addfinalizer(lambda: endpoint.mode == "die" or endpoint.stop())
        return endpoint

    yield make


def _config_file(tmp_path: Path, endpoint: str) -> Path:
    data = with_changes(tomllib.loads(EXAMPLE.read_text()), {"aws.endpoint_url": endpoint})
    path = tmp_path / "launch.toml"
    path.write_text(_toml(data))
    return path


def _main(*args: str) -> tuple[int, str]:
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        code = main(list(args))
    return code, stderr.getvalue()


def test_the_endpoint_dying_during_plan_says_what_to_do(
    failing_endpoint: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("wizard.aws.MAX_ATTEMPTS", 2)  # the retries' backoff is not the point
    endpoint = failing_endpoint("die")
    code, stderr = _main("plan", "--config", str(_config_file(tmp_path, endpoint.url)))
    assert endpoint.died.is_set()  # STS answered, then the endpoint went away mid-plan
    assert code == 1, stderr
    assert "error: AWS unreachable" in stderr
    assert "--endpoint-url" in stderr and "run the same command again" in stderr
    assert "Unexpected error" not in stderr and "Traceback" not in stderr


def test_an_html_500_during_plan_is_reported_by_status_not_as_the_page(
    failing_endpoint: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("wizard.aws.MAX_ATTEMPTS", 1)
    endpoint = failing_endpoint("html500")
    code, stderr = _main("plan", "--config", str(_config_file(tmp_path, endpoint.url)))
    assert code == 1, stderr
    assert "(500 Internal Server Error)" in stderr
    assert "<html" not in stderr and "<!doctype" not in stderr
    assert "Unexpected error" not in stderr


@pytest.mark.parametrize(
    ("service", "call", "title"),
    [
        ("ssm", lambda c: c.get_parameter(Name="x"), "AWS server error (HTTP 500)"),  # JSON
        ("ecs", lambda c: c.list_clusters(), "AWS server error (HTTP 500)"),  # JSON
        ("ec2", lambda c: c.describe_vpcs(), "Not an AWS answer"),  # query: XML expected
        ("iam", lambda c: c.list_roles(), "Not an AWS answer"),
    ],
)
def test_server_errors_of_each_protocol_are_worded(
    failing_endpoint: Any, monkeypatch: pytest.MonkeyPatch, service: str, call: Any, title: str
) -> None:
    monkeypatch.setattr("wizard.aws.MAX_ATTEMPTS", 1)
    endpoint = failing_endpoint("html500")
    client = Aws(AwsSettings(region="us-east-1", endpoint_url=endpoint.url)).client(service)
    with pytest.raises(Exception) as caught:
        call(client)
    error = as_wizard_error(caught.value)
    assert error.title == title
    assert "(500 Internal Server Error)" in error.message
    assert "<" not in error.message and "<" not in error.hint
    assert "run the same command again" in error.hint


def test_destroy_without_credentials_says_how_to_give_them(
    aws_endpoint: str, tmp_path: Path, make_config: Any
) -> None:
    config: LaunchConfig = make_config()
    state = launch_state(tmp_path, config)
    before = state.path.read_bytes()
    env = no_credentials_env(tmp_path)
    result = run_cli(
        "destroy", "--state", str(state.path), "--endpoint-url", aws_endpoint, "--yes", env=env
    )
    assert result.returncode == 1, result.stderr
    assert "error: No AWS credentials" in result.stderr
    assert "--profile" in result.stderr and "aws sts get-caller-identity" in result.stderr
    assert "Unexpected error" not in result.stderr and "Traceback" not in result.stderr
    assert state.path.read_bytes() == before


def test_a_deletion_answered_with_an_html_500_is_reported_in_words(
    failing_endpoint: Any, tmp_path: Path, make_config: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wizard.state import Resource

    monkeypatch.setattr("wizard.aws.MAX_ATTEMPTS", 1)
    endpoint = failing_endpoint("html500")
    state = launch_state(tmp_path, make_config())
    state.record_resource("services", Resource(kind="ecs:task-definition", id="x:1", created=True))
    state.record_resource("iam", Resource(kind="iam:role", id="airflow-staging-task", created=True))
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(io.StringIO()):
        code = main(
            ["destroy", "--state", str(state.path), "--endpoint-url", endpoint.url, "--yes"]
        )
    assert code == 1
    report = stdout.getvalue()
    assert "not deleted ecs:task-definition x:1: AWS server error (HTTP 500)" in report
    assert "not deleted iam:role airflow-staging-task: Not an AWS answer" in report
    assert "<html" not in report and "<!doctype" not in report
