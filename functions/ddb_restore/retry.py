"""Retry policies: which failures to retry, how long to wait, when to give up. The loops live elsewhere.

`RetryPolicy` is BatchWriteItem's (its send loop is in writer.py); `RereadPolicy` is the local runner's for
a data file whose stream broke (restore/runner.py reads it again from its cursor).

Our loop owns every retry of BatchWriteItem (the DynamoDB client is built with botocore retries off,
`total_max_attempts=1`): the report must count throttle retries, the wait must follow one backoff with full jitter,
and the whole streak of failures must end at one total time bound in a clear error — botocore's own retries would
hide the count and multiply the attempts. Waits use exponential backoff with full jitter (delay = random × min(cap,
base × 2^attempt)).

The writers of one run share their policy, and with it a `FleetProgress`: a writer throttled while another
one's writes get through is not facing an exhausted table but its share of a busy second, so its backoff
starts over instead of growing. Without that, all writers could be asleep for seconds at once, the table
idle: bench/budget.py saw whole empty seconds and 0.87 of the capacity used, once the writers got faster.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError
from botocore.exceptions import ConnectionError as BotocoreConnectionError

from .clock import Clock
from .errors import RetryBoundExceeded

__all__ = [
    "FleetProgress",
    "RereadPolicy",
    "RetryPolicy",
    "RetryStreak",
    "THROTTLE_CODES",
    "SERVER_ERROR_CODES",
    "classify",
]

THROTTLE_CODES = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded", "Throttling"}
)
SERVER_ERROR_CODES = frozenset({"InternalServerError", "ServiceUnavailable", "InternalFailure"})
# The same set botocore's own retry handler treats as connection trouble (connect errors and timeouts too).
_CONNECTION_ERRORS = (BotocoreConnectionError, ConnectionClosedError, ReadTimeoutError)


def classify(error: Exception) -> str | None:
    """'throttle', 'server' (5xx or connection trouble: worth a retry), or None (not retryable)."""
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in THROTTLE_CODES:
            return "throttle"
        if code in SERVER_ERROR_CODES or status >= 500:
            return "server"
        return None
    if isinstance(error, _CONNECTION_ERRORS):
        return "server"
    return None


class FleetProgress:
    """Counts the calls, by any writer sharing it, that wrote something. Only compared for change: a lost
    increment between threads is harmless."""

    def __init__(self) -> None:
        self.count = 0

    def tick(self) -> None:
        self.count += 1


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How long to wait between attempts and the total time a batch may spend waiting without progress.

    `clock` has no default: the driver's composition root passes its one clock (tests a fake)."""

    clock: Clock
    base: float = 0.05
    cap: float = 10.0
    max_total: float = 300.0
    rand: Callable[[], float] = field(default=random.random)
    fleet: FleetProgress = field(default_factory=FleetProgress)  # shared by the writers sharing this policy

    def delay(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(cap, base × 2^attempt))."""
        return self.rand() * min(self.cap, self.base * (2 ** min(attempt, 32)))

    def streak(self) -> RetryStreak:
        return RetryStreak(self)


class RetryStreak:
    """One run of consecutive retries of a batch. Progress (some items written) starts the streak over;
    another writer's progress starts the backoff over, but not the clock of the time bound."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.attempt = 0
        self.started: float | None = None
        self.fleet_seen = policy.fleet.count

    def progress(self) -> None:
        """Some of this batch was written."""
        self.attempt = 0
        self.started = None
        self.policy.fleet.tick()

    def wait(self, why: str) -> None:
        """Sleep before the next attempt, or raise RetryBoundExceeded when the bound would be passed."""
        now = self.policy.clock.monotonic()
        if self.started is None:
            self.started = now
        if self.policy.fleet.count != self.fleet_seen:
            self.fleet_seen = self.policy.fleet.count
            self.attempt = 0
        delay = self.policy.delay(self.attempt)
        if now + delay - self.started > self.policy.max_total:
            raise RetryBoundExceeded(
                f"gave up after {now - self.started:.0f} s of retries without progress "
                f"(limit {self.policy.max_total:.0f} s; last failure: {why})"
            )
        self.attempt += 1
        self.policy.clock.sleep(delay)


@dataclass(frozen=True)
class RereadPolicy:
    """A data file whose stream broke (connection reset, timeout, S3 retries used up) is read again from its
    cursor, after exponential waits of `base` × 2^failure (0.2, 0.4, 0.8, 1.6, 3.2 s) capped at `cap`, at most
    `attempts` times for one file; then the file fails and the report says how far it got. Not jittered: botocore's
    standard retries already spread the GetObject calls themselves."""

    attempts: int = 5
    base: float = 0.1
    cap: float = 5.0

    def delay(self, failures: int) -> float | None:
        """The wait before reading again after the file's `failures`-th break, or None: give the file up."""
        if failures > self.attempts:
            return None
        return min(self.cap, self.base * 2.0 ** min(failures, 32))
