"""The services a rehearsal starts for itself: PostgreSQL and Redis on free loopback ports (with
TLS and a password where the launch's URLs ask for them) and the AWS emulator as S3.

Each is started in a folder of its own and stopped by its data dir, pid file or process, never
by name. As root, PostgreSQL runs as the `postgres` user (`pg_ctl` refuses root).
"""

from __future__ import annotations

import contextlib
import datetime
import glob
import ipaddress
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from wizard.child_process import end
from wizard.errors import WizardError


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def missing_server(what: str, package: str) -> WizardError:
    """The error for a server the rehearsal needs and this machine lacks."""
    return WizardError(
        f"{what} is not installed, and the rehearsal runs its own",
        title="Rehearsal needs " + what,
        hint=f"Install it (Debian: apt-get install -y {package}).",
    )


def self_signed_certificate(folder: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A certificate for localhost, 127.0.0.1 and `host` made for this rehearsal: (cert, key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    *{x509.IPAddress(ipaddress.ip_address(ip)) for ip in ("127.0.0.1", host)},
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "server.crt", folder / "server.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


RUNUSER = ("/usr/sbin/runuser", "/sbin/runuser")
"""Where util-linux puts `runuser`: a user's PATH often lacks the sbin folders."""


def check_script_ran(
    result: subprocess.CompletedProcess[str], refused: list[str], server: str
) -> None:
    """Raise if the launch's database.sql failed against the local `server`: the client's
    exit status, or a parameter the `aws` stand-in refused (named first: the likelier cause).

    Raises:
        WizardError: the script failed.
    """
    if result.returncode != 0 or refused:
        said = "; ".join(refused) or result.stderr.strip()
        raise WizardError(
            f"the launch's database.sql failed against the local {server}: {said}",
            title="database.sql failed",
            hint="Render it (airflow-ecs-wizard render) and read the statement named above.",
        )


def _as_postgres(command: list[str]) -> list[str]:
    """`command` as the postgres user when run as root (PostgreSQL refuses to run as root)."""
    if os.geteuid() != 0:
        return command
    runuser = shutil.which("runuser") or next((p for p in RUNUSER if os.access(p, os.X_OK)), None)
    if runuser is None:
        raise WizardError(
            "PostgreSQL cannot run as root, and runuser (to run it as the postgres user) "
            "was not found",
            title="No runuser",
            hint="Install util-linux (apt-get install -y util-linux), or rehearse as a user "
            "other than root.",
        )
    return [runuser, "-u", "postgres", "--", *command]


@dataclass
class Postgres:
    """A PostgreSQL server on 127.0.0.1 (and `host`):`port`; the admin connects by trust from
    127.0.0.1, everyone else with a password (over TLS only, when `require_tls`)."""

    port: int = 0
    admin: str = "postgres"
    require_tls: bool = False
    host: str = "127.0.0.1"
    bin_dir: Path | None = None
    root: Path = field(
        default_factory=lambda: Path(tempfile.mkdtemp(prefix="airflow-ecs-wizard-pg-"))
    )
    """A folder of its own (the `postgres` user must reach it: never inside a private one)."""

    label = "PostgreSQL"

    @property
    def certificate(self) -> Path:
        """The self-signed certificate it serves (the containers' CA when they verify)."""
        return self.root / "data" / "server.crt"

    def start(self) -> None:
        """initdb, certificate, pg_hba, pg_ctl start."""
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        if not found:
            raise missing_server("PostgreSQL", "postgresql")
        self.bin_dir = Path(found[-1]).parent
        self.root.mkdir(parents=True, exist_ok=True)
        data = self.root / "data"
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        else:
            self.admin = os.environ.get("USER", "postgres")
        initdb = [str(self.bin_dir / "initdb"), "-A", "trust", "--no-sync", "-U", self.admin]
        subprocess.run(_as_postgres([*initdb, "-D", str(data)]), check=True, capture_output=True)
        cert, key = self_signed_certificate(data, self.host)
        if os.geteuid() == 0:
            for path in (cert, key):
                shutil.chown(path, "postgres", "postgres")
        others = "hostssl" if self.require_tls else "host"
        (data / "pg_hba.conf").write_text(
            f"local all {self.admin} trust\nhost all {self.admin} 127.0.0.1/32 trust\n"
            f"{others} all all 127.0.0.1/32 scram-sha-256\n"
            + (f"{others} all all samenet scram-sha-256\n" if self.host != "127.0.0.1" else "")
        )
        listen = ",".join(dict.fromkeys(["127.0.0.1", self.host]))
        self.port = free_port()
        options = (
            f"-p {self.port} -k {self.root} -c fsync=off -c listen_addresses={listen} "
            "-c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key"
        )
        subprocess.run(
            _as_postgres(
                [
                    *(str(self.bin_dir / "pg_ctl"), "-w", "-D", str(data)),
                    *("-l", str(self.root / "server.log"), "-o", options, "start"),
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def run_script(self, script: str, parameters: dict[str, str]) -> None:
        """Run the launch's psql script as the admin, as it is: the `aws ssm get-parameter`
        it reads the Airflow user's password with is answered by the rehearsal's stand-in
        (`aws_standin`) from `parameters` (SSM name -> value), passed in psql's environment.

        Raises:
            WizardError: psql failed, or the script asked the stand-in for something else.
        """
        import json

        from wizard.rehearse import aws_standin

        assert self.bin_dir is not None
        standin = aws_standin.install(self.root / "aws-standin")
        env = {
            **os.environ,
            "PATH": f"{standin}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            aws_standin.VALUES_VARIABLE: json.dumps(parameters),
        }
        result = subprocess.run(
            [
                str(self.bin_dir / "psql"),
                *("-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", "-"),
                f"host=127.0.0.1 port={self.port} dbname=postgres user={self.admin}",
            ],
            input=script,
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        check_script_ran(result, aws_standin.refused(standin), "PostgreSQL")

    def stop(self) -> None:
        """Stop the server and remove its folder."""
        if self.bin_dir is not None and (self.root / "data" / "postmaster.pid").exists():
            subprocess.run(
                _as_postgres(
                    [
                        str(self.bin_dir / "pg_ctl"),
                        "-D",
                        str(self.root / "data"),
                        "-m",
                        "fast",
                        "stop",
                    ]
                ),
                check=False,
                capture_output=True,
            )
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class Redis:
    """A redis-server on 127.0.0.1 (and `host`):`port` without persistence, TLS-only when
    `tls`, asking for `password` (ElastiCache's AUTH token) when one is given."""

    root: Path
    tls: bool = False
    host: str = "127.0.0.1"
    port: int = 0
    ca_file: Path | None = None
    password: str = ""

    def start(self) -> None:
        """Start it daemonized, and wait for its pid file."""
        executable = shutil.which("redis-server")
        if executable is None:
            raise missing_server("Redis", "redis-server")
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        listen = ["--port", str(self.port)]
        if self.tls:
            cert, key = self_signed_certificate(self.root, self.host)
            self.ca_file = cert
            listen = ["--port", "0", "--tls-port", str(self.port)]
            listen += ["--tls-cert-file", str(cert), "--tls-key-file", str(key)]
            listen += ["--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no"]
        pidfile = self.root / "redis.pid"
        if self.password:  # in the config file it reads, not on its command line
            config = self.root / "redis.conf"
            config.touch(mode=0o600)
            config.write_text(f'requirepass "{self.password}"\n')
        subprocess.run(
            [
                executable,
                *([str(self.root / "redis.conf")] if self.password else []),
                *listen,
                *("--bind", " ".join(dict.fromkeys(["127.0.0.1", self.host]))),
                *("--daemonize", "yes", "--pidfile", str(pidfile)),
                *("--save", "", "--dir", str(self.root)),
                *("--logfile", str(self.root / "redis.log")),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not pidfile.exists() and time.monotonic() < deadline:
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop it by its pid file, and remove its folder."""
        pidfile = self.root / "redis.pid"
        if pidfile.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pidfile.read_text().strip()), 15)
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class S3Emulator:
    """The embedded AWS emulator (moto) in a child process on a free loopback port."""

    root: Path
    host: str = "127.0.0.1"
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        """Its URL from this machine."""
        return self.endpoint_for(self.host)

    def endpoint_for(self, host: str) -> str:
        """Its URL as seen from `host`'s side (the containers')."""
        return f"http://{host}:{self.port}"

    def task_role_environment(self, host: str) -> dict[str, str]:
        """What ECS gives a task for S3 (the task role's credentials), pointed at this."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_for(host),
            "AWS_ACCESS_KEY_ID": "rehearsal",
            "AWS_SECRET_ACCESS_KEY": "rehearsal",
        }

    def create_bucket(self, folder: str) -> None:
        """The bucket of an s3:// folder."""
        import boto3

        s3 = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="rehearsal",
            aws_secret_access_key="rehearsal",
        )
        s3.create_bucket(Bucket=folder.removeprefix("s3://").split("/")[0])

    def start(self, *, timeout: float = 60.0) -> None:
        """Start it and wait until it answers."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        log = (self.root / "emulator.log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", self.host, "-p", str(self.port)],
            cwd=self.root,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=2):
                    return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise WizardError(
                        f"the AWS emulator did not start (see {self.root / 'emulator.log'})",
                        title="Rehearsal needs the emulator",
                        hint="Install the extra: pip install 'airflow-ecs-wizard[sandbox]'.",
                    ) from None
                time.sleep(0.1)

    def stop(self) -> None:
        """Stop it (its contents go with it)."""
        if self.process is not None:
            end(self.process, grace=10)
        self.process = None
