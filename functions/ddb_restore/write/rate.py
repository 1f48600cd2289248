"""A writer's own rate, in write units per second, adapted to what the table takes.

Why not botocore's adaptive mode: it takes one token per call whatever its size, and sees only whole-call
throttles; a BatchWriteItem answered 200 with `UnprocessedItems` counts there as a success, and its rate rises
into a table that has just said no. This limiter is fed what the table answered, counted in write units:

- until the table first says no, it does not pace at all: a restore below the table's capacity pays
  nothing, and the first refusal tells it where the table stands. It then paces at the rate it was
  sending (units of the last second, or of the last few calls when they took longer), cut as below;
- every call it held back (its rate, not the writer, was the bound) that the table took whole lets the rate
  grow, by `growth` per second of time since the last change, probing for more;
- a call handed back in part lowers the rate to the share of its units the table took, but by no less than
  `cut` (0.9 ×) and no more than `deepest_cut` (0.7 ×, as botocore's CUBIC and on a whole-call throttle):
  a refused 350 KB item is most of a call's units, and cutting by all of them would leave the writer idle
  for seconds (bench/partitions.py saw whole seconds of nothing);
- the units of refused writes are not given back: their retry pays for them again, and waits as long as the
  table needs to take them at the share of the call it took (the units refused ÷ (the rate × that share),
  the rate being the lower of the paced one and what was sent lately): a partition that took
  365 of 707 units refills at about half the rate sent to it, and a 350 KB item retried any sooner meets a
  whole-call throttle (bench/partitions.py, --max-wcu at 80%). Nothing saved up while waiting turns into a
  burst after a refusal: the bucket is emptied. (botocore's CUBIC cuts to 0.7 × and climbs back; we cut by
  what the table said it took, which needs no model of the table.)

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

# How far back the send rate is measured: the last second, and at least the last few calls.
_WINDOW_SECONDS = 1.0
_KEEP_CALLS = 4


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
        self._sent: deque[tuple[float, int]] = deque()  # (when, units) of the last calls
        self._changed = self._born = clock.monotonic()
        self._held = False
        if rate:
            self._set(rate)

    @property
    def rate(self) -> float | None:
        """Write units per second, or None while unpaced."""
        return self._bucket.rate if self._bucket else None

    def _set(self, rate: float) -> WriteBudget:
        rate = max(self.floor, min(rate, self.ceiling) if self.ceiling else rate)
        if self._bucket is None:
            self._bucket = WriteBudget(rate, clock=self._clock, burst_seconds=self.burst_seconds, start_full=False)
        else:
            self._bucket.set_rate(rate)
        self._changed = self._clock.monotonic()
        return self._bucket

    def _sent_rate(self) -> float:
        """Write units a second sent over the last second, or over the last few calls if they took longer.

        The last calls, not only the last second: a call may have waited on the run's budget and on the
        table for more than a second, and a window that found nothing sent would cut the rate to the floor
        (bench/partitions.py, --max-wcu: a 350 KB item's retry then waited 13 s)."""
        now = self._clock.monotonic()
        self._forget(now)
        oldest = self._sent[0][0] if self._sent else now
        span = min(max(now - self._born, 0.1), max(_WINDOW_SECONDS, now - oldest))
        return sum(units for _, units in self._sent) / span

    def _forget(self, now: float) -> None:
        """Drop the calls older than the window, keeping the last `_KEEP_CALLS` whatever their age."""
        while len(self._sent) > _KEEP_CALLS and self._sent[0][0] < now - _WINDOW_SECONDS:
            self._sent.popleft()

    def _current(self) -> float:
        """The rate to cut from: the paced one, or what was sent lately (`_sent_rate`)."""
        return self._bucket.rate if self._bucket else self._sent_rate()

    def acquire(self, units: int) -> float:
        """Wait until `units` are paid for at the current rate (a debt is paid before the call goes)."""
        waited = self._bucket.acquire(units) if self._bucket else 0.0
        self._held = waited > 0
        now = self._clock.monotonic()
        self._forget(now)
        self._sent.append((now, units))
        return waited

    def taken(self) -> None:
        """The table took the whole call: grow, if this limiter was what held the writer back."""
        if self._bucket and self._held:
            seconds = self._clock.monotonic() - self._changed
            self._set(self._bucket.rate * math.exp(self.growth * seconds))

    def unprocessed(self, sent_units: int, left_units: int) -> None:
        """The table took `sent_units - left_units` of the call's units and handed the rest back: the rate is
        cut, and the retry of the `left_units` waits until the table can have refilled for them."""
        cut = min(self.cut, max(self.deepest_cut, (sent_units - left_units) / sent_units))
        given = max(self.floor, min(self._current(), self._sent_rate()) * cut)  # what the table gives us
        bucket = self._set(self._current() * cut)
        bucket.drain(to=left_units - left_units / given * bucket.rate)

    def throttled(self) -> None:
        """The table refused the whole call: the rate is cut, and its retry pays for it again from empty."""
        self._set(self._current() * self.deepest_cut).drain(to=0.0)
