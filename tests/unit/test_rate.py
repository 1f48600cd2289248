"""The adaptive write rate with a fake clock: probing up, backing off on throttles and on UnprocessedItems,
debts paid before the next call, refused units never handed back as a burst."""

from __future__ import annotations

import math

import pytest

from ddb_restore.write.rate import AdaptiveRate
from support.clock import FakeClock


def limiter(rate: float | None = 100.0, **kw: float) -> tuple[AdaptiveRate, FakeClock]:
    fake = FakeClock()
    return AdaptiveRate(clock=fake, rate=rate, **kw), fake


def test_a_writer_is_unpaced_until_the_table_first_says_no() -> None:
    rate, fake = limiter(None)
    assert rate.rate is None
    assert [rate.acquire(25) for _ in range(40)] == [0.0] * 40
    rate.taken()
    assert (rate.rate, fake.sleeps) == (None, [])


def test_the_first_refusal_paces_at_the_rate_sent_over_the_last_second_cut() -> None:
    rate, fake = limiter(None)
    for _ in range(40):  # 1,000 units over two seconds: 500 a second
        rate.acquire(25)
        fake.now += 0.05
    rate.unprocessed(sent_units=25, left_units=5)  # the table took 80%
    assert rate.rate == pytest.approx(500 * 0.8, rel=0.06)
    assert rate.acquire(100) == pytest.approx(100 / rate.rate)


def test_a_first_throttle_cuts_what_was_sent_to_seven_tenths() -> None:
    rate, fake = limiter(None)
    for _ in range(10):
        rate.acquire(30)
        fake.now += 0.1
    rate.throttled()
    assert rate.rate == pytest.approx(300 * 0.7, rel=0.11)


def test_a_rate_carried_from_the_last_chunk_paces_from_the_start() -> None:
    rate, _ = limiter(300)
    assert rate.rate == 300
    assert rate.acquire(30) == pytest.approx(0.1)


def test_calls_are_paced_at_the_rate_from_an_empty_bucket() -> None:
    rate, fake = limiter(100)
    assert rate.acquire(25) == pytest.approx(0.25)
    assert rate.acquire(25) == pytest.approx(0.25)
    assert fake.sleeps == [pytest.approx(0.25)] * 2


def test_a_call_taken_whole_after_waiting_probes_up_with_time() -> None:
    rate, fake = limiter(100, growth=0.4)
    rate.acquire(50)  # 0.5 s at 100/s
    rate.taken()
    assert rate.rate == pytest.approx(100 * math.exp(0.4 * 0.5))


def test_a_writer_not_held_back_by_its_rate_does_not_grow() -> None:
    rate, fake = limiter(100)
    fake.now += 10  # the writer was busy elsewhere: the bucket filled (up to half a second's worth)
    assert rate.acquire(25) == 0.0
    rate.taken()
    assert rate.rate == 100


def test_unprocessed_items_cut_the_rate_to_the_share_taken() -> None:
    rate, _ = limiter(100)
    rate.unprocessed(sent_units=100, left_units=20)
    assert rate.rate == pytest.approx(80)


def test_a_few_unprocessed_items_still_cut_by_at_least_the_minimum() -> None:
    rate, _ = limiter(100, cut=0.9)
    rate.unprocessed(sent_units=100, left_units=1)
    assert rate.rate == pytest.approx(90)


def test_a_large_item_handed_back_cuts_no_deeper_than_a_throttle() -> None:
    rate, _ = limiter(100)
    rate.unprocessed(sent_units=366, left_units=342)  # a 350 KB item refused, 24 small ones taken
    assert rate.rate == pytest.approx(70)


def test_a_throttled_call_cuts_the_rate_to_seven_tenths() -> None:
    rate, _ = limiter(100)
    rate.throttled()
    assert rate.rate == pytest.approx(70)


def test_the_rate_stays_between_floor_and_ceiling() -> None:
    rate, _ = limiter(100, floor=25, ceiling=150)
    for _ in range(5):
        rate.throttled()  # 100 x 0.7^5 = 17
    assert rate.rate == 25
    fast, _ = limiter(1000, ceiling=150)
    assert fast.rate == 150


def test_a_debt_is_paid_before_the_next_call() -> None:
    rate, fake = limiter(100)
    assert rate.acquire(366) == pytest.approx(3.66)  # a 350 KB item and 24 small ones: waited before it goes
    fake.now += 0.01
    assert rate.acquire(25) == pytest.approx(0.24)  # the next waits for its own units, the debt is gone


def test_refused_units_are_paid_again_so_the_retry_waits_for_the_table() -> None:
    rate, fake = limiter(100)
    rate.acquire(100)  # 1 s
    rate.unprocessed(sent_units=100, left_units=30)  # 30 units back, the rate cut to 70/s
    assert rate.acquire(30) == pytest.approx(30 / 70)  # the retry waits for them at 70/s: no refund, no burst


def test_a_steady_stream_never_spends_more_than_the_rate_in_any_second() -> None:
    rate, fake = limiter(200)
    start, sent = fake.now, []
    for _ in range(200):
        rate.acquire(10)
        sent.append((fake.now - start, 10))
    for second in range(9):
        assert sum(u for t, u in sent if second <= t < second + 1) <= 200


def test_a_large_item_handed_back_waits_for_its_units_from_empty_at_the_cut_rate() -> None:
    rate, fake = limiter(400)
    fake.now += 1  # half a second's worth saved up: a refusal must not let it go at once
    rate.acquire(707)
    rate.unprocessed(sent_units=707, left_units=342)  # the partition took 365 of 707
    assert rate.rate == pytest.approx(400 * 0.7)
    assert rate.acquire(342) == pytest.approx(342 / 280)


def test_the_wait_after_a_refusal_follows_what_was_sent_when_that_is_below_the_rate() -> None:
    rate, fake = limiter(640)  # a budget's ceiling, while the writer sends far less (others share the budget)
    for _ in range(4):
        rate.acquire(25)
        fake.now += 0.25  # 100 units a second
    rate.unprocessed(sent_units=100, left_units=50)
    assert rate.acquire(50) == pytest.approx(50 / (100 * 0.7), rel=0.05)  # not 50 / (640 x 0.7)


def test_a_throttle_empties_the_bucket_so_the_retry_pays_for_its_units_again() -> None:
    rate, fake = limiter(100)
    fake.now += 10  # half a second saved up
    rate.throttled()
    assert rate.acquire(35) == pytest.approx(35 / 70)


def test_a_writer_whose_calls_wait_over_a_second_is_cut_from_what_it_sent_not_to_the_floor() -> None:
    rate, fake = limiter(None)
    for _ in range(4):
        fake.now += 2.0  # each call waited 2 s on the run's budget: no call in the last second
        rate.acquire(700)
    fake.now += 0.5  # the call itself
    rate.unprocessed(sent_units=700, left_units=342)
    sent = 4 * 700 / 6.5
    assert rate.acquire(342) == pytest.approx(342 / (sent * 0.7), rel=0.05)  # ~1.1 s, not 342 / 25
