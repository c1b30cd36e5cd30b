"""The sandbox's agent stand-in (wizard/sandbox_agent.py): it looks again at once when the
account changes, and less and less often while it does not, so an idle sandbox costs next to no
CPU; the emulator's process tells changing requests from reads (`note_request`)."""

from __future__ import annotations

import threading
from typing import Any

from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from wizard.sandbox_account import ACCOUNT_CHANGED, note_request
from wizard.sandbox_agent import AGENT_IDLE_SECONDS, AGENT_SECONDS, AgentPace, run_agent

BOUND = 60.0
"""Every wait's own bound: generous, for a loaded 2-core machine."""


def test_the_pace_doubles_while_nothing_changes_and_is_quick_again_after_a_change() -> None:
    pace = AgentPace(fastest=1.0, slowest=8.0)
    assert [pace.after(changed=False) for _ in range(5)] == [2.0, 4.0, 8.0, 8.0, 8.0]
    assert pace.after(changed=True) == 1.0
    assert pace.after(changed=False) == 2.0
    assert AGENT_SECONDS <= 1.0 < AGENT_IDLE_SECONDS  # as quick as ever after a change


def test_a_change_wakes_the_agent_at_once_however_slow_its_pace() -> None:
    changed, stop = threading.Event(), threading.Event()
    looked = threading.Semaphore(0)
    looks: list[int] = []

    def look_once() -> None:
        looks.append(len(looks))
        looked.release()

    agent = threading.Thread(
        target=run_agent,
        # its first look at once, then an hour's wait unless the account changes
        args=(look_once, changed, lambda: not stop.is_set(), AgentPace(0.01, 3600.0, 1e6)),
        daemon=True,
    )
    agent.start()
    try:
        assert looked.acquire(timeout=BOUND), "the agent never looked"
        # each change is a look
        for _ in range(2):
            changed.set()
            assert looked.acquire(timeout=BOUND), "a change did not wake the agent"
    finally:
        stop.set()
        changed.set()  # wake it to see it should stop
        agent.join(BOUND)
    assert not agent.is_alive(), "the agent went on after it was told to stop"


def test_the_agent_stops_when_its_wizard_is_gone() -> None:
    looks: list[None] = []
    alive = iter([True, True, False])
    run_agent(lambda: looks.append(None), threading.Event(), lambda: next(alive, False))
    assert looks == []  # gone before its first look was due


def _request(body: str = "", **headers: Any) -> Request:
    environ = EnvironBuilder(
        method="POST",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded", **headers},
    ).get_environ()
    return Request(environ)


def test_changing_requests_set_account_changed_and_reads_do_not() -> None:
    target = "AmazonEC2ContainerServiceV20141113"
    reads = [
        _request("Action=DescribeInstances&Version=2016-11-15"),
        _request("{}", **{"X-Amz-Target": f"{target}.ListClusters"}),
    ]
    changes = [
        _request("Action=RunInstances&Version=2016-11-15"),
        _request("{}", **{"X-Amz-Target": f"{target}.RegisterContainerInstance"}),
    ]
    for request in reads:
        ACCOUNT_CHANGED.clear()
        assert not note_request(request)
        assert not ACCOUNT_CHANGED.is_set(), request.headers
    for request in changes:
        ACCOUNT_CHANGED.clear()
        assert note_request(request)
        assert ACCOUNT_CHANGED.is_set(), request.headers
    ACCOUNT_CHANGED.clear()
    body = _request("Action=RunInstances&Version=2016-11-15")
    note_request(body)
    assert body.get_data() == b"Action=RunInstances&Version=2016-11-15"  # left for moto to read
