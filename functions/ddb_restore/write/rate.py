"""A writer's own rate, in write units per second, adapted to what the table takes.

Why not botocore's adaptive mode: it takes one token per call whatever its size, and sees only whole-call
throttles; a BatchWriteItem answered 200 with `UnprocessedItems` counts there as a success, and its rate rises
into a table that has just said no. This limiter is fed what the table answered, counted in write units:

- every call it held back (its rate, not the writer, was the bound) that the table took whole lets the rate
  grow, by `growth` per second of time since the last change: fast (`start_growth`) until the first back-off,
  a slow start to find the table, then gently, probing for more;
- a call handed back in part lowers the rate to the share of its units the table took, by at least `cut`
  and at most by half; a call throttled whole halves it;
- the units of refused writes are not given back: their retry pays for them again at the lowered rate, so it
  waits for the table to refill instead of going at once (botocore's CUBIC cuts to 0.7 × and climbs back; we
  cut by what the table said it took, which needs no model of the table).

Each sending thread has its own (a Lambda has one; the local runner one per worker), sharing nothing: the
fleet stays within the table's bound because every member backs off on what it sees. `rate` is carried in
the child state machine's state from chunk to chunk, so the next chunk starts where this one stood.
"""

from __future__ import annotations

import math

from ..clock import Clock
from .budget import WriteBudget

__all__ = ["AdaptiveRate", "COLD_START_WCU"]

# A first chunk starts here: a fifth of one partition's 1,000 WCU/s; the slow start finds more in about a second.
COLD_START_WCU = 200.0


class AdaptiveRate:
    """A token bucket of write units whose rate follows the table's answers (see the module docstring).

    `rate` is where to start (None: `COLD_START_WCU`, slow start on); `ceiling` caps it (a budget's share);
    `floor` keeps one batch of small items a second going, so a rate cut to nothing still probes."""

    def __init__(
        self,
        *,
        clock: Clock,
        rate: float | None = None,
        ceiling: float | None = None,
        floor: float = 25.0,
        growth: float = 0.4,
        start_growth: float = 2.0,
        cut: float = 0.85,
        burst_seconds: float = 0.5,
    ) -> None:
        self.floor = floor
        self.ceiling = ceiling
        self.growth = growth
        self.start_growth = start_growth
        self.cut = cut
        self.slow_start = rate is None
        self._clock = clock
        self._bucket = WriteBudget(
            self._bounded(rate or COLD_START_WCU), clock=clock, burst_seconds=burst_seconds, start_full=False
        )
        self._changed = clock.monotonic()
        self._held = False

    @property
    def rate(self) -> float:
        return self._bucket.rate

    def _bounded(self, rate: float) -> float:
        return max(self.floor, min(rate, self.ceiling) if self.ceiling else rate)

    def _set(self, rate: float) -> None:
        self._bucket.set_rate(self._bounded(rate))
        self._changed = self._clock.monotonic()

    def acquire(self, units: int) -> float:
        """Wait until `units` are paid for at the current rate (a debt is paid before the call goes)."""
        waited = self._bucket.acquire(units)
        self._held = waited > 0
        return waited

    def taken(self) -> None:
        """The table took the whole call: grow, if this limiter was what held the writer back."""
        if self._held:
            seconds = self._clock.monotonic() - self._changed
            self._set(self.rate * math.exp((self.start_growth if self.slow_start else self.growth) * seconds))

    def unprocessed(self, sent_units: int, left_units: int) -> None:
        """The table took `sent_units - left_units` of the call's units and handed the rest back."""
        self.slow_start = False
        self._set(self.rate * min(self.cut, max(0.5, (sent_units - left_units) / sent_units)))

    def throttled(self) -> None:
        """The table refused the whole call."""
        self.slow_start = False
        self._set(self.rate * 0.5)
