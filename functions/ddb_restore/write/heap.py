"""The cyclic garbage collector, set for a long stream of short-lived records.

Why: a restore decodes every line into ~100 dicts and lists (orjson), all freed by reference counting within
a batch. CPython's cyclic collector still runs after every 700 such allocations, and now and then a full
collection walks every object the imports and botocore's client made (its service model, endpoint rules...).
Freezing those (`gc.freeze`: moved to a generation the collector never walks) and running the first
generation after 10,000 allocations instead of 700 took ~3% off the instructions of `ddb-restore run`
(bench/writer_cost.py --instructions, bench/README.md §1). Cycles are still collected, only less often (the
writer makes no cyclic garbage in bulk), and a frozen object is still freed by reference counting when it is
no longer used: only a reference cycle among frozen objects would stay for the process's life.
"""

from __future__ import annotations

import gc
from functools import cache

__all__ = ["settle_heap"]

FIRST_GENERATION_THRESHOLD = 10_000


@cache
def settle_heap() -> None:
    """Call once the long-lived objects exist (clients made), just before the records start flowing.

    Once a process: a later call does nothing. A warm Lambda calls it on every invocation, and what is alive
    then (that invocation's event, its logger's state) must stay collectable, not be frozen for good."""
    gc.freeze()
    _, second, third = gc.get_threshold()
    gc.set_threshold(FIRST_GENERATION_THRESHOLD, second, third)
