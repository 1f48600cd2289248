"""A writer's own rate, in write units per second, adapted to what the table takes.

Why not botocore's adaptive mode: it takes one token per call whatever its size, and sees only whole-call
throttles; a BatchWriteItem answered 200 with `UnprocessedItems` counts there as a success, and its rate rises
into a table that has just said no. This limiter is fed what the table answered, counted in write units:

- until the table first says no, it does not pace at all: a restore below the table's capacity pays
  nothing, and the first refusal tells it where the table stands. It then paces at the rate it was
  sending (units of the last second), cut as below;
- every call it held back (its rate, not the writer, was the bound) that the table took whole lets the rate
  grow, by `growth` per second of time since the last change, probing for more;
- a call handed back in part lowers the rate to the share of its units the table took, but by no less than
  `cut` (0.9 ×) and no more than `deepest_cut` (0.7 ×, as botocore's CUBIC and on a whole-call throttle):
  a refused 350 KB item is most of a call's units, and cutting by all of them would leave the writer idle
  for seconds (bench/partitions.py saw whole seconds of nothing);
- the units of refused writes are not given back: their retry pays for them again at the lowered rate, so it
  waits for the table to refill instead of going at once (botocore's CUBIC cuts to 0.7 × and climbs back; we
  cut by what the table said it took, which needs no model of the table).

Each sending thread has its own (a Lambda has one; the local runner one per worker), sharing nothing: the
fleet stays within the table's bound because every member backs off on what it sees. `rate` is carried in
the child state machine's state from chunk to chunk, so the next chunk starts where this one stood.
"""

from __future__ import annotations

import math
from collections import deque

from ..clock import Clock
from .budget import WriteBudget

__all__ = ["AdaptiveRate"]

# How far back the send rate is measured when the table first says no.
_WINDOW_SECONDS = 1.0


class AdaptiveRate:
    """A token bucket of write units whose rate follows the table's answers (see the module docstring).

    `rate` is where to start (None: unpaced until the first refusal); `ceiling` caps it (a budget's share);
    `floor` keeps one batch of small items a second going, so a rate cut to nothing still probes."""

    def __init__(
        self,
        *,
        clock: Clock,
        rate: float | None = None,
        ceiling: float | None = None,
        floor: float = 25.0,
        growth: float = 0.4,
        cut: float = 0.9,
        deepest_cut: float = 0.7,
        burst_seconds: float = 0.5,
    ) -> None:
        self.floor = floor
        self.ceiling = ceiling
        self.growth = growth
        self.cut = cut
        self.deepest_cut = deepest_cut
        self.burst_seconds = burst_seconds
        self._clock = clock
        self._bucket: WriteBudget | None = None
        self._sent: deque[tuple[float, int]] = deque()  # (when, units) of the last second, while unpaced
        self._changed = clock.monotonic()
        self._held = False
        if rate:
            self._set(rate)

    @property
    def rate(self) -> float | None:
        """Write units per second, or None while unpaced."""
        return self._bucket.rate if self._bucket else None

    def _set(self, rate: float) -> None:
        rate = max(self.floor, min(rate, self.ceiling) if self.ceiling else rate)
        if self._bucket is None:
            self._bucket = WriteBudget(rate, clock=self._clock, burst_seconds=self.burst_seconds, start_full=False)
            self._sent.clear()
        else:
            self._bucket.set_rate(rate)
        self._changed = self._clock.monotonic()

    def _current(self) -> float:
        """The rate to cut from: the paced one, or what was sent over the last second."""
        if self._bucket:
            return self._bucket.rate
        now = self._clock.monotonic()
        span = max(now - self._sent[0][0], 0.1) if self._sent else _WINDOW_SECONDS
        return sum(units for _, units in self._sent) / min(span, _WINDOW_SECONDS)

    def acquire(self, units: int) -> float:
        """Wait until `units` are paid for at the current rate (a debt is paid before the call goes)."""
        if self._bucket is None:
            now = self._clock.monotonic()
            self._sent.append((now, units))
            while self._sent[0][0] < now - _WINDOW_SECONDS:
                self._sent.popleft()
            return 0.0
        waited = self._bucket.acquire(units)
        self._held = waited > 0
        return waited

    def taken(self) -> None:
        """The table took the whole call: grow, if this limiter was what held the writer back."""
        if self._bucket and self._held:
            seconds = self._clock.monotonic() - self._changed
            self._set(self._bucket.rate * math.exp(self.growth * seconds))

    def unprocessed(self, sent_units: int, left_units: int) -> None:
        """The table took `sent_units - left_units` of the call's units and handed the rest back."""
        self._set(self._current() * min(self.cut, max(self.deepest_cut, (sent_units - left_units) / sent_units)))

    def throttled(self) -> None:
        """The table refused the whole call."""
        self._set(self._current() * self.deepest_cut)
