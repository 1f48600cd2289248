"""Writes spread over the table's keyspace: the order files start in, and workers that write several at once.

An export holds one data file (or more) per partition's slice of the hashed keyspace, and its manifest
lists them in keyspace order; a table takes at most 1,000 write units a second per partition. Files
started in manifest order, a few at a time, drive the few partitions next to each other and leave the
rest of the table idle (bench/partitions.py: 0.29 of the capacity).

- `spread_order` puts the files in bit-reversed order of their place in the manifest (0, 8, 4, 12, 2, ...
  of 16): any run of consecutive files in it, whatever its length or where it starts, is spread evenly
  over the manifest, so whatever number runs at once — the runner's workers, the Distributed Map's
  MaxConcurrency — they lie far apart in the keyspace. A manifest in no order stays in no order.
- `interleave` is the body of one runner worker: it keeps several files open and writes a step of each in
  turn, so one worker's calls go to several partitions. Each file keeps its own reader, writer and cursor;
  only the order of their steps is shared, so cursors and resume are as exact as with one file per worker.
  A file whose partition just refused a write waits for room (write/rate.py) while the worker steps the
  others: a worker asleep for one file's large item left its other partitions, and the budget, idle.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import TypeVar

from ..clock import Clock

__all__ = ["FILES_PER_WORKER", "spread_order", "interleave", "SharedQueue"]

T = TypeVar("T")

# Files one runner worker writes at once. With the default 4 to 8 workers, 16 to 32 files are open: enough
# to reach every partition of a table of that many, few enough to keep memory (a gzip stream and at most
# one batch of up to 16 MB pending per file) small.
FILES_PER_WORKER = 4


def spread_order(items: Sequence[T]) -> list[T]:
    """`items` in bit-reversed order of their index: consecutive items of the result lie far apart."""
    bits = max(1, (len(items) - 1).bit_length())
    ranked = sorted(range(len(items)), key=lambda i: int(format(i, f"0{bits}b")[::-1], 2))
    return [items[i] for i in ranked]


class SharedQueue(Iterator[T]):
    """An iterator several threads may take from, each item handed out once."""

    def __init__(self, items: Iterable[T]) -> None:
        self._items = iter(items)
        self._lock = threading.Lock()

    def __next__(self) -> T:
        with self._lock:
            return next(self._items)


def interleave(jobs: Iterator[Iterator[float]], *, clock: Clock, width: int = FILES_PER_WORKER) -> None:
    """Run up to `width` jobs one step each in turn, taking the next job from `jobs` whenever one ends, until
    all have ended. Each step yields the clock's time before which the job's next one would only wait (its
    writer's room for writes the table refused; 0: none): the turn passes over a job not ready yet to the
    next one that is, and when none is, goes to the one ready first."""
    active: list[tuple[Iterator[float], float]] = []  # (job, ready at), in turn order
    exhausted = False
    while True:
        while not exhausted and len(active) < width:
            try:
                active.append((next(jobs), 0.0))
            except StopIteration:
                exhausted = True
        if not active:
            return
        now = clock.monotonic()
        turn = next((i for i, (_, ready) in enumerate(active) if ready <= now), None)
        if turn is None:
            turn = min(range(len(active)), key=lambda i: active[i][1])
        job, _ = active.pop(turn)
        try:
            ready = next(job)
        except StopIteration:
            continue
        active.append((job, ready))
