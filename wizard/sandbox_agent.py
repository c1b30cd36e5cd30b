"""The sandbox's stand-in for the ECS agent of each instance (the emulator has none): it registers
the Auto Scaling groups' instances with their cluster, and each load-balanced service's instances
with its target group, as the agent and ECS would (`wizard.emulator_gaps`).

It runs in the emulator's process and looks again `AGENT_SECONDS` after the account changed, at
once when a request that may change it arrives (`sandbox_account.ACCOUNT_CHANGED`), and less
and less often while nothing changes: an idle sandbox costs next to no CPU.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from botocore.exceptions import BotoCoreError, ClientError

from wizard.aws import Aws
from wizard.emulator_gaps import join_container_instances, register_service_targets

AGENT_SECONDS = 1.0
"""The quickest pace: how soon after a change the stand-in looks (and at most how often)."""
AGENT_IDLE_SECONDS = 8.0
"""The slowest pace, reached by doubling while nothing changes."""
ALIVE_SECONDS = 1.0
"""How often, at most, it asks whether the wizard that started the sandbox is still there."""


class AgentPace:
    """How long the stand-in waits before it looks again: `fastest` after a change, then
    `growth` times as long after each look that found nothing changed, up to `slowest`."""

    def __init__(
        self,
        fastest: float = AGENT_SECONDS,
        slowest: float = AGENT_IDLE_SECONDS,
        growth: float = 2.0,
    ) -> None:
        self.fastest = fastest
        self.slowest = max(slowest, fastest)
        self.growth = growth
        self.delay = fastest

    def after(self, changed: bool) -> float:
        """The wait after a look: `changed` tells whether the account changed since the last."""
        grown = self.delay * self.growth
        self.delay = self.fastest if changed else min(grown, self.slowest)
        return self.delay


def look(aws: Aws) -> None:
    """One look over every cluster: register new instances, and new targets of services."""
    try:
        for arn in aws.client("ecs").list_clusters()["clusterArns"]:
            join_container_instances(aws, arn.rsplit("/", 1)[-1])
            register_service_targets(aws, arn.rsplit("/", 1)[-1])
    except (BotoCoreError, ClientError) as error:  # the agent tries again, as ECS's would
        logging.getLogger(__name__).warning("agent stand-in: %s", error)


def run_agent(
    look_once: Callable[[], None],
    changed: threading.Event,
    alive: Callable[[], bool],
    pace: AgentPace | None = None,
) -> None:
    """Look until `alive()` is false: after the pace's wait, or as soon as `changed` is set
    (but not sooner than `pace.fastest` after the last look). The looks' own changes set
    `changed` too, so a look that registered something is followed by another."""
    pace = pace or AgentPace()
    delay, last = pace.fastest, time.monotonic()
    while alive():
        due = last + delay
        woke = False
        while not woke and alive() and time.monotonic() < due:
            woke = changed.wait(min(due - time.monotonic(), ALIVE_SECONDS))
        if not alive():
            return
        if woke:
            time.sleep(max(0.0, last + pace.fastest - time.monotonic()))
        changed.clear()
        look_once()
        last = time.monotonic()
        delay = pace.after(woke)
