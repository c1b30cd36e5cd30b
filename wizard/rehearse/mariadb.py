"""The rehearsal's database for a MySQL launch: a private MariaDB server (Debian's packages;
MariaDB stands in for RDS MySQL, a relaxation the table lists) on a free loopback port, with a
certificate made for the rehearsal and, where the launch's URL asks for TLS,
`require_secure_transport`. The server never reads the system's option files, keeps its data,
socket and logs in a folder of its own, and is stopped by its own process, never by name.

The admin is the server's `root`, reaching it over its private socket without a password (as the
PostgreSQL admin connects by trust). The Airflow user is created only by the launch's own
`database.sql`, with the password the launch keeps in SSM: no grant tables are skipped.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from wizard.child_process import end
from wizard.config import LaunchConfig
from wizard.errors import WizardError
from wizard.rehearse.services import (
    check_script_ran,
    free_port,
    missing_server,
    self_signed_certificate,
)

SERVER = "/usr/sbin/mariadbd"
START_TIMEOUT = 60.0

MYSQL_8_SQL_MODE = (
    "ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,"
    "ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION"
)
"""MySQL 8's default sql_mode (MariaDB's own differs): what RDS MySQL runs with unless its
parameter group changes it."""


def password_fetch(config: LaunchConfig) -> str:
    """The command database.sql's header runs to read the Airflow user's password from SSM."""
    region, name = config.aws.region, config.secret_name("db_password")
    return (
        f"aws ssm get-parameter --with-decryption --region {shlex.quote(region)} "
        f"--name {shlex.quote(name)} --query Parameter.Value --output text"
    )


_SERVER_ERROR = re.compile(r'^\S*MySQLdb\.\w+: \((\d+), "(.+?)"\)$', re.MULTILINE)
"""A MySQL server error as mysqlclient raises it, in a component's output."""


def mariadb_refusal(output: str) -> str:
    """MariaDB's refusal of Airflow's own SQL in a component's output, said plainly; "" when
    the output shows none.

    Airflow 3.3's scheduler, for one, deletes orphaned assets with `WITH … DELETE`, which
    MySQL 8 accepts and MariaDB 10.11 refuses with error 1064: a failure of the stand-in, not
    of the launch.
    """
    found = _SERVER_ERROR.findall(output)
    if not found:
        return ""
    code, message = found[-1]
    message = message if len(message) <= 300 else message[:300] + "…"
    return (
        f"MariaDB refused Airflow's SQL (error {code}: {message}). MariaDB stands in for RDS "
        "MySQL here and Airflow does not support it: the launch's MySQL may accept this."
    )


def mysql_relaxations(version: str) -> list[str]:
    """What a MySQL launch's rehearsal cannot match: its table's "relaxed:" lines."""
    server = f"MariaDB {version}" if version else "MariaDB"
    return [
        f"database: {server} (Debian's package) stands in for RDS MySQL; Airflow does not "
        "support MariaDB, so a failure here may be MariaDB's, not the launch's",
        "database: the Airflow user logs in with mysql_native_password (MariaDB has no "
        "caching_sha2_password, MySQL 8.4's default)",
    ]


def _as_mysql(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, "mysql", "mysql")


@dataclass
class MariaDB:
    """A MariaDB server on 127.0.0.1 (and `host`):`port`; `root` over the private socket,
    everyone else with a password (over TLS only, when `require_tls`)."""

    fetch: str = "false"
    """database.sql's command that reads the Airflow user's password (`password_fetch`)."""
    port: int = 0
    require_tls: bool = False
    host: str = "127.0.0.1"
    version: str = ""
    """The server's version, once started (e.g. 10.11.19-MariaDB-0+deb12u1)."""
    root: Path = field(
        default_factory=lambda: Path(tempfile.mkdtemp(prefix="airflow-ecs-wizard-mariadb-"))
    )
    """A folder of its own (as root, the server runs as `mysql`, which owns it)."""
    process: subprocess.Popen[bytes] | None = None

    label = "MariaDB"

    @property
    def socket(self) -> Path:
        """The server's socket, where the admin connects."""
        return self.root / "mysqld.sock"

    @property
    def certificate(self) -> Path:
        """The self-signed certificate it serves (the containers' CA when they verify)."""
        return self.root / "server.crt"

    def start(self) -> None:
        """mariadb-install-db, certificate, mariadbd; wait until it answers.

        Raises:
            WizardError: MariaDB is not installed, or it did not start (its log's last lines
                quoted).
        """
        install = shutil.which("mariadb-install-db")
        if install is None or not Path(SERVER).exists() or shutil.which("mariadb") is None:
            raise missing_server("MariaDB", "mariadb-server mariadb-client")
        self.root.mkdir(parents=True, exist_ok=True)
        _as_mysql(self.root)
        as_user = ["--user=mysql"] if os.geteuid() == 0 else []
        data = self.root / "data"
        self._run(
            [
                *(install, "--no-defaults", f"--datadir={data}", *as_user),
                *("--auth-root-authentication-method=normal", "--skip-test-db"),
                "--skip-name-resolve",
            ],
            "mariadb-install-db",
        )
        cert, key = self_signed_certificate(self.root, self.host)
        for path in (cert, key):
            _as_mysql(path)
        self.port = free_port()
        log = self.root / "error.log"
        self.process = subprocess.Popen(
            [
                *(SERVER, "--no-defaults", *as_user, f"--datadir={data}"),
                *(f"--port={self.port}", f"--socket={self.socket}"),
                f"--bind-address={','.join(dict.fromkeys(['127.0.0.1', self.host]))}",
                *(f"--pid-file={self.root / 'mysqld.pid'}", f"--log-error={log}"),
                *(f"--ssl-cert={cert}", f"--ssl-key={key}"),
                f"--require-secure-transport={'ON' if self.require_tls else 'OFF'}",
                # what RDS MySQL 8 runs with (the launch's database.sql checks the first)
                *("--explicit-defaults-for-timestamp=1", "--character-set-server=utf8mb4"),
                f"--sql-mode={MYSQL_8_SQL_MODE}",
                # a throwaway server: no durability, little memory
                *("--innodb-flush-log-at-trx-commit=0", "--innodb-doublewrite=0"),
                *("--innodb-buffer-pool-size=64M", "--skip-name-resolve"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl+C reaches the rehearsal, which stops it in order
        )
        self._wait_ready(log)

    def _wait_ready(self, log: Path) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            answer = subprocess.run(
                [*self.client(), "--batch", "--skip-column-names", "-e", "SELECT VERSION()"],
                capture_output=True,
                text=True,
                check=False,
            )
            if answer.returncode == 0:
                self.version = answer.stdout.strip()
                # mariadb-install-db's root over TCP (127.0.0.1, ::1, this host) has no
                # password: only the socket in the private folder is left to the admin
                self._run(
                    [
                        *self.client(),
                        "-e",
                        "DELETE FROM mysql.global_priv WHERE User = 'root' AND Host <> "
                        "'localhost'; FLUSH PRIVILEGES",
                    ],
                    "dropping root over TCP",
                )
                return
            assert self.process is not None
            if self.process.poll() is not None or time.monotonic() > deadline:
                said = log.read_text(errors="replace").strip().splitlines()[-5:]
                self.stop()
                raise WizardError(
                    "the local MariaDB did not start: " + " / ".join(said or [answer.stderr]),
                    title="MariaDB did not start",
                    hint="Check that mariadb-server is installed from Debian's packages.",
                )
            time.sleep(0.2)

    def client(self) -> list[str]:
        """The mariadb client, connected as the admin over the private socket."""
        return ["mariadb", "--no-defaults", f"--socket={self.socket}", "--user=root"]

    def run_script(self, script: str, parameters: dict[str, str]) -> None:
        """Run the launch's MySQL database.sql as its header says: the Airflow user's password
        read with `self.fetch` (database.sql's `aws ssm get-parameter`, answered by the rehearsal's
        stand-in from `parameters`, SSM name -> value), base64-encoded into `@airflow_password`
        by the shell's builtin printf, then the script, all on the client's stdin.

        Raises:
            WizardError: the client failed, or the script asked the stand-in for something
                else.
        """
        from wizard.rehearse import aws_standin

        standin = aws_standin.install(self.root / "aws-standin")
        env = {
            **os.environ,
            "PATH": f"{standin}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            aws_standin.VALUES_VARIABLE: json.dumps(parameters),
        }
        pipeline = (
            "set -eo pipefail\n"
            f"password=$({self.fetch})\n"
            "{ printf \"SET @airflow_password = FROM_BASE64('%s');\\n\" "
            "\"$(printf '%s' \"$password\" | base64 | tr -d '\\n')\"; cat; } | "
            f"{shlex.join(self.client())}\n"
        )
        result = subprocess.run(
            ["/bin/bash", "-c", pipeline],
            input=script,
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        check_script_ran(result, aws_standin.refused(standin), "MariaDB")
        if "WARNING" in result.stdout:  # the script's own check (explicit_defaults_for_timestamp)
            raise WizardError(
                f"the launch's database.sql warned: {result.stdout.strip()}",
                title="database.sql warned",
                hint="The rehearsal's server should match RDS's settings: report this.",
            )

    def stop(self) -> None:
        """Stop the server (SIGTERM: a clean shutdown), and remove its folder."""
        if self.process is not None:
            end(self.process, grace=30)
        self.process = None
        shutil.rmtree(self.root, ignore_errors=True)

    @staticmethod
    def _run(command: list[str], what: str) -> None:
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise WizardError(
                f"{what} failed: {(result.stdout + result.stderr).strip()[-500:]}",
                title="MariaDB did not start",
                hint="Check that mariadb-server is installed from Debian's packages.",
            )
