"""The rehearsal's stand-in for the one AWS CLI call the launch's own `database.sql` makes.

The script reads the Airflow user's password with
`\\set airflow_password `aws ssm get-parameter --with-decryption ... --name N --query
Parameter.Value --output text``, so the password is on no command line and in no file. The
rehearsal runs that script as it is: psql finds this `aws` first on its PATH, and it answers
that call, and only that call, with the value made for the rehearsal. The values reach it in
psql's environment (never a command line or a file); every call it refuses is written to a log
the rehearsal reads, so a script that asks for something else fails the rehearsal by name.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

VALUES_VARIABLE = "AIRFLOW_ECS_WIZARD_REHEARSAL_SSM"
"""JSON {parameter name: value} of the parameters the stand-in serves."""
REFUSED_LOG = "refused.log"

_SCRIPT = """#!{python}
# The airflow-ecs-wizard rehearsal's stand-in for `aws ssm get-parameter` (see
# wizard/rehearse/aws_standin.py); it serves the values made for the rehearsal.
import sys
sys.path[:0] = [{root!r}]
from wizard.rehearse.aws_standin import main
sys.exit(main(sys.argv[1:], {log!r}))
"""


def install(folder: Path) -> Path:
    """Write the `aws` stand-in into `folder`; the folder to put first on PATH."""
    folder.mkdir(parents=True, exist_ok=True)
    root = str(Path(__file__).resolve().parent.parent.parent)
    script = folder / "aws"
    script.write_text(
        _SCRIPT.format(python=sys.executable, root=root, log=str(folder / REFUSED_LOG))
    )
    script.chmod(0o755)
    (folder / REFUSED_LOG).unlink(missing_ok=True)  # one run's refusals at a time
    return folder


def refused(folder: Path) -> list[str]:
    """The calls the stand-in refused, one line each."""
    log = folder / REFUSED_LOG
    return log.read_text().splitlines() if log.exists() else []


def main(argv: list[str], log: str) -> int:
    """Answer `ssm get-parameter --with-decryption --name N --query Parameter.Value --output
    text` (with any --region) from the environment; refuse anything else."""
    import os

    values = json.loads(os.environ.get(VALUES_VARIABLE, "{}"))
    options = _options(argv[2:]) if argv[:2] == ["ssm", "get-parameter"] else None
    wanted = {"--with-decryption": "", "--query": "Parameter.Value", "--output": "text"}
    if options is None or any(options.get(key) != value for key, value in wanted.items()):
        return _refuse(log, f"aws {' '.join(argv)}: not the call database.sql makes", 252)
    name = options.get("--name", "")
    if name not in values:
        return _refuse(log, f"ParameterNotFound: {name} (not one of the launch's secrets)", 254)
    print(values[name])
    return 0


def _options(words: list[str]) -> dict[str, str] | None:
    options: dict[str, str] = {}
    index = 0
    while index < len(words):
        word = words[index]
        if word == "--with-decryption":
            options[word] = ""
            index += 1
        elif word in ("--region", "--name", "--query", "--output") and index + 1 < len(words):
            options[word] = words[index + 1]
            index += 2
        else:
            return None
    return options


def _refuse(log: str, message: str, status: int) -> int:
    print(f"aws (rehearsal stand-in): {message}", file=sys.stderr)
    with open(log, "a") as handle:
        handle.write(message + "\n")
    return status
