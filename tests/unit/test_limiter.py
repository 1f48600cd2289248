"""The write-unit budget with a fake clock: bursts, the steady rate, debt for oversized requests, refunds."""

from __future__ import annotations

import pytest

from ddb_restore.write.budget import WriteBudget
from support.clock import FakeClock


def budget(rate: float, burst_seconds: float = 1.0) -> tuple[WriteBudget, FakeClock]:
    fake = FakeClock()
    return WriteBudget(rate, burst_seconds=burst_seconds, clock=fake), fake


def test_a_full_bucket_lets_a_burst_of_its_capacity_through_without_waiting() -> None:
    limiter, fake = budget(100)
    assert [limiter.acquire(25) for _ in range(4)] == [0.0, 0.0, 0.0, 0.0]
    assert fake.sleeps == []


def test_the_burst_is_rate_times_burst_seconds() -> None:
    limiter, fake = budget(100, burst_seconds=3)
    assert limiter.acquire(300) == 0.0
    assert limiter.acquire(50) == pytest.approx(0.5)
    assert fake.sleeps == [pytest.approx(0.5)]


def test_past_the_burst_each_request_waits_for_its_units_at_the_rate() -> None:
    limiter, fake = budget(100)
    limiter.acquire(100)
    assert limiter.acquire(50) == pytest.approx(0.5)
    assert limiter.acquire(25) == pytest.approx(0.25)
    assert fake.sleeps == [pytest.approx(0.5), pytest.approx(0.25)]


def test_a_steady_stream_of_requests_runs_at_the_rate() -> None:
    limiter, fake = budget(200)
    start = fake.now
    for _ in range(500):
        limiter.acquire(10)  # 5,000 units at 200/s, of which the first 200 are the burst
    assert fake.now - start == pytest.approx((5000 - 200) / 200)
    assert sum(fake.sleeps) == pytest.approx(24.0)


def test_time_spent_working_counts_toward_the_budget() -> None:
    limiter, fake = budget(100)
    limiter.acquire(100)
    fake.now += 0.3  # the writer spent 0.3 s sending
    assert limiter.acquire(50) == pytest.approx(0.2)


def test_idle_time_refills_the_bucket_only_up_to_its_capacity() -> None:
    limiter, fake = budget(100)
    limiter.acquire(100)
    fake.now += 3600
    assert limiter.acquire(100) == 0.0
    assert limiter.acquire(100) == pytest.approx(1.0)


def test_a_request_larger_than_the_capacity_goes_into_debt_and_waits_it_off_once() -> None:
    limiter, fake = budget(100)
    assert limiter.acquire(250) == pytest.approx(1.5)
    assert fake.sleeps == [pytest.approx(1.5)]
    # The debt is paid: the next request waits only for its own units, not forever and not twice.
    assert limiter.acquire(10) == pytest.approx(0.1)


def test_requests_behind_a_debt_wait_for_the_debt_and_their_own_units() -> None:
    limiter = WriteBudget(100, burst_seconds=1.0, clock=FakeClock(moves_on_sleep=False))  # callers at one instant
    assert limiter.acquire(250) == pytest.approx(1.5)
    assert limiter.acquire(10) == pytest.approx(1.6)


def test_a_refund_gives_back_units_for_writes_not_performed() -> None:
    limiter, _ = budget(100)
    limiter.acquire(100)
    limiter.refund(40)
    assert limiter.acquire(40) == 0.0
    assert limiter.acquire(10) == pytest.approx(0.1)


def test_a_refund_cannot_raise_the_bucket_above_its_capacity() -> None:
    limiter, _ = budget(100)
    limiter.refund(1000)
    assert limiter.acquire(100) == 0.0
    assert limiter.acquire(50) == pytest.approx(0.5)


def test_a_refund_pays_off_debt() -> None:
    limiter = WriteBudget(100, burst_seconds=1.0, clock=FakeClock(moves_on_sleep=False))
    limiter.acquire(300)  # 200 units of debt, not yet waited off by anyone
    limiter.refund(300)  # the call was throttled: nothing was written
    assert limiter.acquire(100) == 0.0


def test_by_default_a_pause_saves_up_a_tenth_of_a_second_at_most() -> None:
    fake = FakeClock()
    limiter = WriteBudget(640, clock=fake)
    fake.now += 5  # the writers waited on a throttle: the budget they did not spend is not spent twice later
    assert limiter.acquire(64) == 0.0
    assert limiter.acquire(64) == pytest.approx(0.1)


def test_drain_leaves_at_most_the_tokens_asked_and_below_zero_a_debt() -> None:
    limiter, _ = budget(100)
    limiter.drain(to=0.0)
    assert limiter.acquire(10) == pytest.approx(0.1)
    limiter.drain(to=-50.0)
    assert limiter.acquire(10) == pytest.approx(0.6)


@pytest.mark.parametrize("rate", [0, -5])
def test_a_budget_that_is_not_positive_is_refused(rate: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        WriteBudget(rate, clock=FakeClock())


def test_an_overdrawing_call_goes_at_once_and_the_next_waits_its_debt() -> None:
    limiter = WriteBudget(100, burst_seconds=1.0, clock=FakeClock(moves_on_sleep=False), start_full=False,
                          overdraw=True)  # fmt: skip
    assert limiter.acquire(250) == 0.0  # nothing owed before it
    assert limiter.acquire(10) == pytest.approx(2.5)  # waits the 250 off, not its own 10
    assert limiter.acquire(10) == pytest.approx(2.6)  # and the one after waits both


def test_an_overdrawing_call_refunded_holds_nobody_back() -> None:
    fake = FakeClock()
    limiter = WriteBudget(100, burst_seconds=1.0, clock=fake, start_full=False, overdraw=True)
    limiter.acquire(250)
    limiter.refund(250)  # the table refused it: nothing was written
    assert limiter.acquire(10) == 0.0
    assert fake.sleeps == []


def test_an_overdrawing_budget_holds_a_steady_stream_to_its_rate() -> None:
    fake = FakeClock()
    limiter = WriteBudget(200, burst_seconds=1.0, clock=fake, start_full=False, overdraw=True)
    start = fake.now
    for _ in range(100):
        limiter.acquire(50)
    assert fake.now - start == pytest.approx(99 * 50 / 200)  # each call after the first waits for the one before
