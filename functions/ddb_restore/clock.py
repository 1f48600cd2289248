"""The clock every wait and deadline reads: a protocol, and the one real implementation.

Retry backoff, the write budget, chunk deadlines, the runner's re-reads and the run's timestamps all take a
`Clock` instead of reading `time` themselves. Only the two drivers' composition roots (cli.py, and the Lambda
handlers' _common.py) build a `SystemClock`; tests pass a fake that moves when slept on, so no test sleeps
for real and each can assert the exact waits asked for.
"""

from __future__ import annotations

import time
from typing import Protocol

__all__ = ["Clock", "SystemClock"]


class Clock(Protocol):
    def time(self) -> float:
        """Wall-clock seconds since the epoch: for what outlives one process (run ids, a run's start)."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary start that never go back: for durations, deadlines and rates."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait `seconds` (a fake one just records them and moves its time on)."""
        ...


class SystemClock:
    """The real clock: the `time` module's."""

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)
