"""The rehearsals start on different pytest-xdist workers at once: the order conftest gives
the collection, fed to xdist's own `load` scheduler with stand-in workers."""

from __future__ import annotations

from typing import Any

import pytest
from xdist.scheduler.load import LoadScheduling

from tests.xdist_order import deal_long_tests


class _Worker:
    """What LoadScheduling calls on a worker: it records the tests it was sent."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.gateway = type("Gateway", (), {"id": name})()
        self.sent: list[int] = []
        self.shutting_down = False

    def send_runtest_some(self, indices: list[int]) -> None:
        self.sent += indices

    def shutdown(self) -> None:
        self.shutting_down = True


class _Config:
    def __init__(self, workers: int) -> None:
        self.workers = workers

    def getvalue(self, name: str) -> Any:
        assert name == "tx"
        return [f"{self.workers}*popen"]

    def getoption(self, name: str) -> Any:
        assert name == "maxschedchunk"
        return None


def _first_tests(collection: list[str], workers: int) -> list[list[str]]:
    """The tests each worker runs first, as xdist's `load` scheduler hands them out."""
    scheduler = LoadScheduling(_Config(workers))  # type: ignore[arg-type]
    nodes = [_Worker(f"gw{n}") for n in range(workers)]
    for node in nodes:
        scheduler.add_node(node)  # type: ignore[arg-type]
        scheduler.add_node_collection(node, collection)  # type: ignore[arg-type]
    scheduler.schedule()
    return [[collection[index] for index in node.sent] for node in nodes]


@pytest.mark.parametrize(("total", "long", "workers"), [(950, 6, 2), (950, 6, 4), (40, 3, 2)])
def test_each_worker_starts_with_a_rehearsal(total: int, long: int, workers: int) -> None:
    names = [f"test_{n}" for n in range(total - long)] + [f"rehearse_{n}" for n in range(long)]
    ordered = deal_long_tests(names, lambda name: name.startswith("rehearse_"), workers)
    assert sorted(ordered) == sorted(names)  # nothing lost, nothing twice
    first = _first_tests(ordered, workers)
    assert [tests[0] for tests in first] == [f"rehearse_{n}" for n in range(workers)]
    # every rehearsal is in some worker's first chunk, never two more on one than another
    counts = [sum(name.startswith("rehearse_") for name in tests) for tests in first]
    assert sum(counts) == long and max(counts) - min(counts) <= 1
    # the short tests keep their order
    short = [name for name in ordered if name.startswith("test_")]
    assert short == [f"test_{n}" for n in range(total - long)]


def test_sorting_to_the_front_would_put_every_rehearsal_on_one_worker() -> None:
    """Why: the order the suite had (rehearsals first) gave them all to the first worker."""
    names = [f"rehearse_{n}" for n in range(6)] + [f"test_{n}" for n in range(944)]
    first = _first_tests(names, 2)
    assert sum(name.startswith("rehearse_") for name in first[0]) == 6
    assert not any(name.startswith("rehearse_") for name in first[1])


def test_one_worker_or_few_tests_put_them_first() -> None:
    names = ["a", "rehearse_x", "b"]
    assert deal_long_tests(names, lambda n: n.startswith("rehearse_"), 1) == [
        "rehearse_x",
        "a",
        "b",
    ]
    assert deal_long_tests(names, lambda n: n.startswith("rehearse_"), 4) == [
        "rehearse_x",
        "a",
        "b",
    ]
