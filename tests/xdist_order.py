"""Where the long tests (the rehearsals, minutes each) go in the collection, so pytest-xdist's
`load` scheduler starts them at once and on different workers.

`load` hands each worker a first chunk of consecutive tests, `len(items) // workers // 4` of
them (at least 2), and the rest as workers finish (xdist's `LoadScheduling.schedule`). Sorted
simply to the front, every rehearsal lands in the first worker's chunk and runs there one after
another while the other workers finish the short tests and wait: the suite then lasts as long as
all the rehearsals together. Dealt to the start of each worker's first chunk instead, each worker
begins with one (the longest first), and the short tests fill in around them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


def first_chunk(total: int, workers: int) -> int:
    """How many tests xdist's `load` scheduler gives each worker first."""
    return max(total // workers // 4, 2)


def deal_long_tests(items: Sequence[T], is_long: Callable[[T], bool], workers: int) -> list[T]:
    """`items` reordered so that the long ones start each worker's first chunk, dealt in
    turn (the order among the long ones, and among the others, is kept).

    With one worker (or too few tests to chunk), the long ones simply come first.
    """
    long = [item for item in items if is_long(item)]
    short = [item for item in items if not is_long(item)]
    chunk = first_chunk(len(items), workers)
    if workers < 2 or len(items) < 2 * workers or len(long) > chunk * workers:
        return [*long, *short]
    slots: dict[int, T] = {}
    for index, item in enumerate(long):
        slots[(index % workers) * chunk + index // workers] = item
    rest = iter(short)
    return [slots[position] if position in slots else next(rest) for position in range(len(items))]
