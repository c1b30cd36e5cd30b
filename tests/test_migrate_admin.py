"""The migrate task's Admin user, created without the password on any command line.

The task's script runs for real in bash, in a session of its own without a terminal (as in an
ECS container), against a stand-in `airflow` that asks for the password the way Airflow's
`users create` and 1.10's `create_user` do when neither `--password` nor
`--use-random-password` is given: `getpass.getpass("Password:")`, then
`getpass.getpass("Repeat for confirmation:")`, both before the check for an existing user
(apache/airflow providers/fab/.../cli_commands/user_command.py `_create_password`, and 1.10's
airflow/bin/cli.py). getpass falls back to stdin when there is no terminal.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from wizard.airflow_containers import ADMIN_PASSWORD_ENV, command
from wizard.config import LaunchConfig

STAND_IN = """#!PYTHON
import getpass, json, os, sys
args = sys.argv[1:]
with open(os.environ["CALLS"], "a") as calls:
    calls.write(json.dumps(args) + "\\n")
if args[:2] in (["users", "create"], ["create_user"]) or args[:1] == ["create_user"]:
    if any(a in ("-p", "--use-random-password") or a.startswith("--password") for a in args):
        sys.exit("stand-in: a password on the command line")
    password = getpass.getpass("Password:")
    if password != getpass.getpass("Repeat for confirmation:"):
        sys.exit("Passwords did not match")
    username = args[args.index("--username") + 1]
    store = os.environ["USERS"]
    users = json.load(open(store)) if os.path.exists(store) else {}
    if username in users:
        print(f"{username} already exist in the db")
        sys.exit(0)
    users[username] = password
    json.dump(users, open(store, "w"))
    print(f"User {username!r} created with role 'Admin'")
"""


def _run(script: str, tmp_path: Path, password: str) -> subprocess.CompletedProcess[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    airflow = bin_dir / "airflow"
    airflow.write_text(STAND_IN.replace("PYTHON", sys.executable))
    airflow.chmod(0o755)
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        ADMIN_PASSWORD_ENV: password,
        "CALLS": str(tmp_path / "calls.jsonl"),
        "USERS": str(tmp_path / "users.json"),
    }
    return subprocess.run(
        ["bash", "-c", script],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        start_new_session=True,  # no controlling terminal: getpass cannot open /dev/tty
        check=False,
    )


@pytest.mark.parametrize("version", ["1.10", "2.11", "3.3"])
def test_the_admin_is_created_from_stdin_and_a_rerun_passes(
    make_config: Callable[..., LaunchConfig], tmp_path: Path, version: str
) -> None:
    changes = {"airflow__version": version}
    if version == "1.10":
        changes |= {"components__triggerer": None, "components__dag_processor": None}
    config = make_config(**changes)
    shell, flag, script = command(config, config.airflow.parsed_version, "initdb")
    assert (shell, flag) == ("bash", "-c")
    password = "n0t-On-The-Command-Line_x"
    assert password not in script and "--password" not in script

    first = _run(script, tmp_path, password)
    assert first.returncode == 0, first.stderr
    assert json.loads((tmp_path / "users.json").read_text()) == {"admin": password}
    again = _run(script, tmp_path, password)  # the task runs again on every upgrade
    assert again.returncode == 0, again.stderr
    assert "admin already exist in the db" in again.stdout

    calls = [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]
    create = ["create_user"] if version == "1.10" else ["users", "create"]
    assert [call[: len(create)] for call in calls[1::2]] == [create, create]
    assert all(password not in " ".join(call) for call in calls)
