"""A writer's own rate, in write units per second, adapted to what the table takes.

Why not botocore's adaptive mode: it takes one token per call whatever its size, and sees only whole-call
throttles; a BatchWriteItem answered 200 with `UnprocessedItems` counts there as a success, and its rate rises
into a table that has just said no. This limiter is fed what the table answered, counted in write units:

- until the table first says no, it does not pace at all: a restore below the table's capacity pays
  nothing, and the first refusal tells it where the table stands; it starts from what it was sending, cut;
- every call it held back (its rate, not the writer, was the bound) that the table took whole lets the rate
  grow, by `growth` per second of time since the last change, probing for more, and by `growth` × `share` a
  second (the writer's share of the rate the plan expects), the same for every writer of the run. Growth in
  proportion to the rate alone (with cuts in proportion to it) keeps the writers' shares in the ratio they
  had at their first refusal: a writer cut to 32 units a second while the one sharing its partitions stood
  at 400 stayed at a tenth of it, and took 6 s to grow back once the other's files were done (bench/README.md,
  1 KB items: 0.78-0.87 of the capacity). An increase the same for all brings their shares together, as
  TCP's additive increase does;
- a call handed back in part cuts the rate by the share of its writes the table took, by no less than `cut` (0.9 ×) and
  no more than `deepest_cut` (0.7 ×, as botocore's CUBIC and on a whole-call throttle). A call whose writes handed back
  are each larger than the smaller writes it took together says only that a partition had no room for such an item
  (`no_room`): it cuts by `cut`. The cut starts from the higher of the paced rate and what the table took from this
  writer lately (`RecentRate`): the table gave at least that. Cutting from the paced rate alone, on every refusal of a
  350 KB item, left workers at 50-90 units a second, waiting 10-16 s to retry (bench/README.md);
- a write is charged to this rate once (writer.py): its retry is not charged again (the run's budget is
  charged at each send and refunded what the table hands back). A call carrying writes the table refused
  waits, from the refusal, as long as the table takes to give them (`room`; the largest, when they were handed
  back for want of room: a partition takes one at a time): at the lower of the paced rate and what it took
  lately, never below half the paced rate (a wait measured on the writer's own idle time would feed on itself).
  After any refusal nothing saved up goes at once into the table that said no: the bucket is emptied.

Each sending thread has its own (a Lambda has one; the local runner one per worker), sharing nothing: the
fleet stays within the table's bound because every member backs off on what it sees. `rate` is carried in
the child state machine's state from chunk to chunk, so the next chunk starts where this one stood.
"""

from __future__ import annotations

import math
from collections import deque

from ..clock import Clock
from .budget import WriteBudget

__all__ = ["AdaptiveRate", "RecentRate", "no_room"]

# How far back a RecentRate measures: the last second, and at least the last few calls.
_WINDOW_SECONDS = 1.0
_KEEP_CALLS = 4


def no_room(sent: list[int], left: list[int]) -> bool:
    """Whether a call (`sent`: its writes' units) handed back `left` for want of room: the table took writes
    smaller than those it handed back, and each handed back is larger than those together. A partition had no
    room for a large item then, which says little of the rate; small writes handed back say the partition is
    full. A large write taken beside those handed back leaves it a want of room: counted as a full table, the
    next try waited for room for all the large writes at once, though a partition takes one at a time."""
    smallest = min(left)
    taken = list(sent)
    for units in left:
        taken.remove(units)
    smaller = [units for units in taken if units < smallest]
    return bool(smaller) and smallest > sum(smaller)


class RecentRate:
    """Write units a second (sent, or taken by the table) over the last second, or over the last few calls if
    they took longer: a call may have waited on the run's budget and on the table for more than a second, and a
    window that found nothing in it would read as a table that gives nothing. The span runs from the call before
    the oldest one kept (or from the start), so that N calls count over N intervals."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._since = clock.monotonic()
        self._answers: deque[tuple[float, int]] = deque()  # (when, units)

    def add(self, units: int) -> None:
        now = self._clock.monotonic()
        self._forget(now)
        self._answers.append((now, units))

    def per_second(self) -> float:
        now = self._clock.monotonic()
        self._forget(now)
        return sum(units for _, units in self._answers) / max(0.1, now - self._since)

    def _forget(self, now: float) -> None:
        """Drop the answers older than the window, keeping the last `_KEEP_CALLS` whatever their age."""
        while len(self._answers) > _KEEP_CALLS and self._answers[0][0] < now - _WINDOW_SECONDS:
            self._since, _ = self._answers.popleft()


class AdaptiveRate:
    """A token bucket of write units whose rate follows the table's answers (see the module docstring).

    `rate` is where to start (None: unpaced until the first refusal); `ceiling` caps it (a budget's share);
    `share` is the writer's share of the rate the plan expects (None: unknown, growth in proportion only);
    `floor` keeps one batch of small items a second going, so a rate cut to nothing still probes."""

    def __init__(
        self,
        *,
        clock: Clock,
        rate: float | None = None,
        ceiling: float | None = None,
        share: float | None = None,
        floor: float = 25.0,
        growth: float = 0.4,
        cut: float = 0.9,
        deepest_cut: float = 0.7,
        burst_seconds: float = 0.5,
    ) -> None:
        self.floor = floor
        self.ceiling = ceiling
        self.share = share or 0.0
        self.growth = growth
        self.cut = cut
        self.deepest_cut = deepest_cut
        self.burst_seconds = burst_seconds
        self._clock = clock
        self._bucket: WriteBudget | None = None
        self._sent = RecentRate(clock)  # units charged before each call
        self._taken = RecentRate(clock)  # units the table took
        self._changed = clock.monotonic()
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

    def _paced(self) -> float:
        """The paced rate, or while unpaced what was sent lately: where the first refusal starts from."""
        return self._bucket.rate if self._bucket else self._sent.per_second()

    def acquire(self, units: int) -> float:
        """Wait until `units` are paid for at the current rate (a debt is paid before the call goes). A wait
        here or for room (`room`) since the table's last answer marks the call as held back by this limiter."""
        waited = self._bucket.acquire(units) if self._bucket else 0.0
        self._held = self._held or waited > 0
        self._sent.add(units)
        return waited

    def room(self, units: int) -> float:
        """After the table refused writes of `units` (what they need, writer.py): the seconds it takes to give
        that many (see the module docstring), which their next call waits from now; nothing is charged. The
        writer keeps the time, so that a runner worker writes its other files meanwhile (spread.py)."""
        paced = self._paced()
        given = max(self.floor, min(paced, max(paced / 2, self._taken.per_second())))
        self._held = True  # the limiter holds the writer back: a call then taken whole lets the rate grow
        return units / given

    def taken(self, units: int) -> None:
        """The table took the whole call, `units`: grow, if this limiter was what held the writer back."""
        self._taken.add(units)
        if self._bucket and self._held:
            seconds = self._clock.monotonic() - self._changed
            self._set(self._bucket.rate * math.exp(self.growth * seconds) + self.growth * self.share * seconds)
        self._held = False

    def unprocessed(self, sent: list[int], left: list[int]) -> None:
        """The table took some of a call's writes and handed back `left` (their units; `sent`: the call's):
        the rate is cut (see the module docstring) and the bucket emptied."""
        taken = sum(sent) - sum(left)
        self._taken.add(taken)
        self._held = False
        cut = self.cut if no_room(sent, left) else min(self.cut, max(self.deepest_cut, 1 - len(left) / len(sent)))
        self._set(max(self._paced(), self._taken.per_second()) * cut).drain(to=0.0)

    def throttled(self) -> None:
        """The table refused the whole call: the rate is cut, and the bucket emptied."""
        paced = self._paced()
        self._taken.add(0)
        self._held = False
        self._set(paced * self.deepest_cut).drain(to=0.0)
