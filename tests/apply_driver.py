"""Runs one `apply` in its own process, for the kill-and-resume tests.

    python -m tests.apply_driver CONFIG STATE [KILL_POINT]

KILL_POINT makes the process SIGKILL itself there: a real kill, no cleanup, no state write
after it. The emulator runs in the test process, so it outlives this one.
  - `after-call:SERVICE.OPERATION`: right after AWS answered that call (e.g. a create whose
    id has not been written to the state yet);
  - `event:STEP:KIND`: when the runner reports that event (e.g. between two steps).
The emulator has no ECS agent, so when the cluster step applies this joins its instances.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from wizard.aws import WAIT_SCALE_VARIABLE
from wizard.config_file import load_config
from wizard.engine import apply_launch, connect, open_state
from wizard.runner import StepEvent
from wizard.sandbox import join_container_instances


def _die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def main(config_path: str, state_path: str, kill_point: str = "") -> int:
    os.environ[WAIT_SCALE_VARIABLE] = "0"  # the emulator is instant: poll without sleeping
    config = load_config(config_path)
    launch = connect(config, read_only=False)
    launch.yes = True
    launch.state = open_state(launch, __import__("pathlib").Path(state_path))
    if kill_point.startswith("after-call:"):
        service, operation = kill_point.removeprefix("after-call:").split(".")

        def kill_after(**_: Any) -> None:
            _die()

        launch.aws.register(f"after-call.{service}.{operation}", kill_after)

    def on_event(event: StepEvent) -> None:
        if event.step == "cluster" and event.kind == "applied":
            join_container_instances(launch.aws, config.cluster_name)
        if kill_point == f"event:{event.step}:{event.kind}":
            _die()

    with launch.state.lock("apply driver"):
        result = apply_launch(launch, on_event=on_event)
    print("ok" if result.ok else f"failed: {result.failed}")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
