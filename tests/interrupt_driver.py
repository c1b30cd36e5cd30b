"""Runs `airflow-ecs-wizard ARGS` in its own process with a long emulated wait, for the Ctrl-C
test.

    python -m tests.interrupt_driver ARGS...

The emulator makes a replication group available at once; here every describe of it says
`creating` (a botocore `after-call` handler on each session the CLI makes), so the redis step
polls at AWS's pace until it is stopped. `WAITING` is printed at the first such poll, so the
test knows when to send SIGINT.
"""

from __future__ import annotations

import sys
from typing import Any

from wizard import aws as aws_module
from wizard.cli import main

_original = aws_module.Aws.__init__


def _with_a_long_wait(self: aws_module.Aws, *args: Any, **kwargs: Any) -> None:
    _original(self, *args, **kwargs)

    def creating(parsed: dict[str, Any], **_: Any) -> None:
        groups = parsed.get("ReplicationGroups") or []
        for group in groups:
            group["Status"] = "creating"
        if groups:
            print("WAITING", flush=True)

    self.register("after-call.elasticache.DescribeReplicationGroups", creating)


if __name__ == "__main__":
    aws_module.Aws.__init__ = _with_a_long_wait  # type: ignore[method-assign]
    sys.exit(main(sys.argv[1:]))
