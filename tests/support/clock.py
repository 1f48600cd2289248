"""A fake clock for tests: what the code's `Clock` (ddb_restore/clock.py) is given instead of the real one.

Time moves only when the code sleeps (unless `moves_on_sleep=False`, for callers that all read one instant),
by `tick` at every reading (for a bound that must be reached without sleeping), or when a test moves `now`.
Every sleep asked for is kept in `sleeps`, so a test asserts the exact waits and none sleeps for real.
"""

from __future__ import annotations

import threading

__all__ = ["FakeClock"]


class FakeClock:
    def __init__(self, now: float = 1000.0, *, tick: float = 0.0, moves_on_sleep: bool = True) -> None:
        self.now = now
        self.tick = tick
        self.moves_on_sleep = moves_on_sleep
        self.sleeps: list[float] = []
        self._lock = threading.Lock()  # writer threads share one clock

    def time(self) -> float:
        return self.monotonic()

    def monotonic(self) -> float:
        with self._lock:
            value = self.now
            self.now += self.tick
            return value

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            if self.moves_on_sleep:
                self.now += seconds
