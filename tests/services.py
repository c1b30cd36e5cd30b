"""Real PostgreSQL and Redis servers for the tests, started on free loopback ports.

`.ci/run` installs them from Debian packages; locally a missing server skips its tests, unless
AIRFLOW_ECS_WIZARD_REQUIRE_SERVICES=1 (set by CI), where it fails them. Each server is stopped
by its own data dir or pid file, never by name.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest


def missing(what: str, packages: str = "postgresql redis-server") -> None:
    """Skip, or fail where CI requires every service."""
    message = f"{what} is not installed (apt-get install -y {packages})"
    if os.environ.get("AIRFLOW_ECS_WIZARD_REQUIRE_SERVICES") == "1":
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Postgres:
    """A running server: connect as `user` (trust auth) on 127.0.0.1:`port`; with `ca_file`,
    it has `ssl=on` with a self-signed certificate for 127.0.0.1 and localhost, and every other
    role must connect over TLS."""

    port: int
    user: str
    bin_dir: Path
    ca_file: Path | None = None

    def dsn(self, dbname: str = "postgres", user: str | None = None, password: str = "") -> str:
        """A libpq connection string."""
        auth = f" password={password}" if password else ""
        return f"host=127.0.0.1 port={self.port} dbname={dbname} user={user or self.user}{auth}"


def _as_postgres(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@contextmanager
def postgres_server(*, ssl: bool = False) -> Iterator[Postgres]:
    """Start PostgreSQL in a temp dir with password auth for everyone but the admin (`ssl`:
    with TLS on, required of everyone but the admin)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found:
        missing("PostgreSQL")
    bin_dir = Path(found[-1]).parent
    root = Path(tempfile.mkdtemp(prefix="aew-pg-"))
    data = root / "data"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    admin = "postgres" if os.geteuid() == 0 else os.environ.get("USER", "postgres")
    subprocess.run(
        _as_postgres(
            [str(bin_dir / "initdb"), "-A", "trust", "--no-sync", "-U", admin, "-D", str(data)]
        ),
        check=True,
        capture_output=True,
    )
    # the admin connects by trust; every other role must give its password
    others = "hostssl" if ssl else "host"
    (data / "pg_hba.conf").write_text(
        f"host all {admin} 127.0.0.1/32 trust\n{others} all all 127.0.0.1/32 scram-sha-256\n"
        f"local all {admin} trust\n"
    )
    port = free_port()
    options = f"-p {port} -k {root} -c fsync=off -c listen_addresses=127.0.0.1"
    ca_file = None
    if ssl:  # the notes' openssl line, with names a client checks (verify-full)
        ca_file, key = self_signed_certificate(data)
        if os.geteuid() == 0:
            shutil.chown(ca_file, "postgres", "postgres")
            shutil.chown(key, "postgres", "postgres")
        options += f" -c ssl=on -c ssl_cert_file={ca_file} -c ssl_key_file={key}"
    # the server's output goes to a log file: a pipe held open by it would block run()
    subprocess.run(
        _as_postgres(
            [
                str(bin_dir / "pg_ctl"),
                "-w",
                "-D",
                str(data),
                "-l",
                str(root / "server.log"),
                "-o",
                options,
                "start",
            ]
        ),
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield Postgres(port=port, user=admin, bin_dir=bin_dir, ca_file=ca_file)
    finally:
        subprocess.run(
            _as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            check=False,
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


@dataclass(frozen=True)
class Redis:
    """A running redis-server on 127.0.0.1:`port`; with `password`, it wants AUTH; with
    `ca_file`, it speaks TLS only, with a self-signed certificate for 127.0.0.1 and localhost
    (that file: the CA a client must trust)."""

    port: int
    password: str = ""
    ca_file: Path | None = None


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for localhost and 127.0.0.1, and its key (0600), made with openssl."""
    if shutil.which("openssl") is None:
        missing("openssl")
    certificate, key = folder / "server.crt", folder / "server.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-nodes",
            "-newkey",
            "rsa:2048",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(certificate),
        ],
        check=True,
        capture_output=True,
    )
    key.chmod(0o600)
    return certificate, key


@contextmanager
def redis_server(*, password: str = "", tls: bool = False) -> Iterator[Redis]:
    """Start redis-server without persistence in a temp dir (`password`: its `requirepass`;
    `tls`: TLS only, on a self-signed certificate)."""
    executable = shutil.which("redis-server")
    if executable is None:
        missing("redis-server")
    root = Path(tempfile.mkdtemp(prefix="aew-redis-"))
    pidfile = root / "redis.pid"
    port = free_port()
    listen = ["--port", str(port)]
    ca_file = None
    if tls:
        ca_file, key = self_signed_certificate(root)
        listen = ["--port", "0", "--tls-port", str(port), "--tls-cert-file", str(ca_file)]
        listen += ["--tls-key-file", str(key), "--tls-ca-cert-file", str(ca_file)]
        listen += ["--tls-auth-clients", "no"]
    auth = ["--requirepass", password] if password else []
    started = subprocess.run(
        [
            executable,
            *listen,
            *auth,
            "--bind",
            "127.0.0.1",
            "--daemonize",
            "yes",
            "--pidfile",
            str(pidfile),
            "--save",
            "",
            "--dir",
            str(root),
            "--logfile",
            str(root / "redis.log"),
        ],
        check=False,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    if started.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        if tls:  # a build without TLS refuses --tls-port
            missing("redis-server with TLS (Debian's redis 7 has it)")
        raise RuntimeError(f"redis-server exited with {started.returncode}")
    deadline = time.monotonic() + 10
    while not pidfile.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield Redis(port=port, password=password, ca_file=ca_file)
    finally:
        if pidfile.exists():
            os.kill(int(pidfile.read_text().strip()), 15)
        shutil.rmtree(root, ignore_errors=True)
