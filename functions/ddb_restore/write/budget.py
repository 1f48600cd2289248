"""The write-unit budget: a token bucket, in write units per second, shared by every writer of a run.

Unlike botocore's adaptive limiter (one token per call, whatever its size), it is counted in write units,
so a batch of 25 × 400 KB items costs what DynamoDB will charge for it. A request larger than the bucket
may still go: the bucket goes into debt and the next callers wait it off, instead of waiting forever
(botocore's `TokenBucket.acquire(n)` blocks for good when n exceeds its capacity).
"""

from __future__ import annotations

import threading

from ..clock import Clock

__all__ = ["WriteBudget", "run_budget"]


class WriteBudget:
    """At most `rate` write units per second on average, with bursts of up to `burst_seconds` × rate.

    The default burst is a tenth of a second: units left unspent while writers wait (on a throttle, a large
    item's debt) must not be spent on top of the next second's share; a run with `--max-wcu` spent 757 units in
    one second of a 640 budget with a burst of a whole second. `start_full=False` starts with no tokens, for a
    run that must not exceed its budget in its first second. `clock` comes from the driver's composition root.

    `overdraw=True` (a run's budget, shared by its writers for the whole run): a call waits only for the debt
    of the calls before it, and its own units become a debt the next caller waits off. A call the table
    refuses, refunded within milliseconds, then held nobody back for units the table never took; paid
    before it went, each refused 342-unit try cost every writer 0.2-0.5 s (the refund is capped at the
    bucket, or it would be a burst), the lower side of bench/partitions.py's 10 s windows under a budget.
    Not for a budget that ends with its caller (a writer Lambda's chunk): a debt left at its end is never paid."""

    def __init__(
        self, rate: float, *, clock: Clock, burst_seconds: float = 0.1, start_full: bool = True, overdraw: bool = False
    ) -> None:
        if rate <= 0:
            raise ValueError("a write budget must be positive")
        self.rate = float(rate)
        self.burst_seconds = burst_seconds
        self.capacity = self.rate * burst_seconds
        self.overdraw = overdraw
        self._clock = clock
        self._lock = threading.Lock()
        # A run starts empty: a full bucket would let the first second spend two seconds' worth.
        self._tokens = self.capacity if start_full else 0.0
        self._stamp = clock.monotonic()

    def _refill(self) -> None:
        now = self._clock.monotonic()
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def set_rate(self, rate: float) -> None:
        """Change the rate from now on (rate.py's adaptive limiter); the time before now is paid at the old one."""
        with self._lock:
            self._refill()
            self.rate = float(rate)
            self.capacity = self.rate * self.burst_seconds
            self._tokens = min(self._tokens, self.capacity)

    def acquire(self, units: int) -> float:
        """Take `units` from the budget, sleeping until they are paid for (with `overdraw`, until the calls
        before are); return the seconds slept."""
        with self._lock:
            self._refill()
            debt = max(0.0, -self._tokens)
            self._tokens -= units
            wait = debt / self.rate if self.overdraw else max(0.0, -self._tokens) / self.rate
        if wait > 0:
            self._clock.sleep(wait)
        return wait

    def drain(self, to: float) -> None:
        """Keep at most `to` tokens (below 0: a debt the next caller waits off): after a refusal, nothing saved
        up may go at once into a table that has just said no (rate.py)."""
        with self._lock:
            self._refill()
            self._tokens = min(self._tokens, to)

    def refund(self, units: int) -> None:
        """Give back units taken for writes DynamoDB did not perform (throttled calls, unprocessed items)."""
        with self._lock:
            self._refill()
            self._tokens = min(self.capacity, self._tokens + units)


def run_budget(max_wcu: float | None, clock: Clock) -> WriteBudget | None:
    """A whole run's `--max-wcu` (run, sync), or None without one: empty at the start, overdrawn by each call
    and paid by the next (see WriteBudget)."""
    return WriteBudget(max_wcu, clock=clock, start_full=False, overdraw=True) if max_wcu else None
