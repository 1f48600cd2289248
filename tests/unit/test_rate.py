"""The adaptive write rate with a fake clock: probing up, backing off on throttles and on UnprocessedItems,
debts paid before the next call, nothing saved up let out as a burst after a refusal, cuts that start from what
the table took, and the wait for room before a refused write is sent again."""

from __future__ import annotations

import math

import pytest

from ddb_restore.write.rate import AdaptiveRate, RecentRate, no_room
from support.clock import FakeClock

SMALL = [1] * 25  # a call of 25 items of one write unit
MIXED = [342] + [1] * 24  # a 350 KB item and 24 small ones


def limiter(rate: float | None = 100.0, **kw: float) -> tuple[AdaptiveRate, FakeClock]:
    fake = FakeClock()
    return AdaptiveRate(clock=fake, rate=rate, **kw), fake


def test_a_writer_is_unpaced_until_the_table_first_says_no() -> None:
    rate, fake = limiter(None)
    assert rate.rate is None
    assert [rate.acquire(25) for _ in range(40)] == [0.0] * 40
    rate.taken(25)
    assert (rate.rate, fake.sleeps) == (None, [])


def test_the_first_refusal_paces_at_what_was_sent_over_the_last_second_cut() -> None:
    rate, fake = limiter(None)
    for _ in range(40):  # 1,000 units over two seconds: 500 a second
        rate.acquire(25)
        rate.taken(25)
        fake.now += 0.05
    rate.unprocessed(SMALL, [1] * 5)  # the table took 80% of the writes
    assert rate.rate == pytest.approx(500 * 0.8, rel=0.06)
    assert rate.acquire(100) == pytest.approx(100 / rate.rate)


def test_a_first_throttle_cuts_what_was_sent_to_seven_tenths() -> None:
    rate, fake = limiter(None)
    for _ in range(10):
        rate.acquire(30)
        rate.taken(30)
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
    rate.taken(50)
    assert rate.rate == pytest.approx(100 * math.exp(0.4 * 0.5))


def test_a_writer_not_held_back_by_its_rate_does_not_grow() -> None:
    rate, fake = limiter(100)
    fake.now += 10  # the writer was busy elsewhere: the bucket filled (up to half a second's worth)
    assert rate.acquire(25) == 0.0
    rate.taken(25)
    assert rate.rate == 100


def test_unprocessed_items_cut_the_rate_to_the_share_of_writes_taken() -> None:
    rate, fake = limiter(100)
    fake.now += 1
    rate.unprocessed([1] * 10, [1] * 2)
    assert rate.rate == pytest.approx(80)


def test_a_few_unprocessed_items_still_cut_by_at_least_the_minimum() -> None:
    rate, fake = limiter(100, cut=0.9)
    fake.now += 1
    rate.unprocessed([1] * 100, [1])
    assert rate.rate == pytest.approx(90)


def test_most_writes_handed_back_cut_no_deeper_than_a_throttle() -> None:
    rate, fake = limiter(100)
    fake.now += 1
    rate.unprocessed(SMALL, [1] * 20)
    assert rate.rate == pytest.approx(70)


def test_a_large_item_the_partition_had_no_room_for_cuts_only_by_the_minimum() -> None:
    rate, fake = limiter(100)
    fake.now += 1
    rate.unprocessed(MIXED, [342])  # the 24 small ones taken: the partition lacked room for one item
    assert rate.rate == pytest.approx(90)


def test_two_large_items_of_which_one_was_taken_cut_as_any_refusal() -> None:
    rate, fake = limiter(400)
    fake.now += 1
    rate.unprocessed([342, 342] + [1] * 23, [342])  # 365 units taken: the refusal is not explained by size
    assert rate.rate == pytest.approx(400 * 0.9)  # 24 of 25 writes taken: the minimum cut
    fake.now += 1
    rate.unprocessed([342, 342], [342])
    assert rate.rate == pytest.approx(400 * 0.9 * 0.7)  # one of two: as deep as a throttle


def test_a_call_handed_back_whole_in_a_200_cuts_as_a_throttle() -> None:
    rate, fake = limiter(100)
    fake.now += 1
    rate.unprocessed(MIXED, MIXED)
    assert rate.rate == pytest.approx(70)


def test_a_cut_starts_from_what_the_table_took_when_that_is_above_the_paced_rate() -> None:
    rate, fake = limiter(100)
    for _ in range(4):
        fake.now += 0.25
        rate.taken(100)  # 400 units a second taken (e.g. a budget's share above the paced rate)
    rate.unprocessed(SMALL, [1] * 5)
    assert rate.rate == pytest.approx(400 * 0.8, rel=0.1)  # not 100 x 0.8: the table gave at least 400


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


def test_a_steady_stream_never_spends_more_than_the_rate_in_any_second() -> None:
    rate, fake = limiter(200)
    start, sent = fake.now, []
    for _ in range(200):
        rate.acquire(10)
        sent.append((fake.now - start, 10))
    for second in range(9):
        assert sum(u for t, u in sent if second <= t < second + 1) <= 200


def test_a_refusal_empties_the_bucket_so_nothing_saved_up_goes_at_once() -> None:
    rate, fake = limiter(400)
    fake.now += 1  # half a second's worth saved up
    rate.acquire(25)
    rate.unprocessed(MIXED, [342])
    assert rate.acquire(24) == pytest.approx(24 / 360)


def test_a_throttle_empties_the_bucket_so_the_next_call_waits_for_its_units() -> None:
    rate, fake = limiter(100)
    fake.now += 10  # half a second saved up
    rate.throttled()
    assert rate.acquire(35) == pytest.approx(35 / 70)


def test_room_for_a_refused_write_is_waited_for_at_the_paced_rate_without_a_charge() -> None:
    rate, fake = limiter(400)
    for _ in range(4):
        fake.now += 0.25
        rate.taken(200)  # the table took 800 a second: above the paced rate
    assert rate.room(342) == pytest.approx(342 / 400)
    fake.now += 342 / 400  # the writer waits that long (writer.py)
    assert rate.acquire(200) == 0.0  # nothing charged: the bucket refilled meanwhile, up to its half second
    assert rate.acquire(40) == pytest.approx(0.1)


def test_room_follows_what_the_table_took_when_that_is_lower() -> None:
    rate, fake = limiter(400)
    for _ in range(4):
        fake.now += 0.5
        rate.taken(150)  # 300 a second
    assert rate.room(342) == pytest.approx(342 / 300)


def test_room_is_never_waited_for_below_half_the_paced_rate() -> None:
    rate, fake = limiter(400)
    for _ in range(4):
        fake.now += 1.0
        rate.taken(25)  # 25 a second: the writer was idle, waiting, more than the table was slow
    assert rate.room(342) == pytest.approx(342 / 200)  # not 342 / 25: a wait that feeds on itself


def test_a_writer_whose_answers_take_over_a_second_is_measured_over_them_not_the_last_second() -> None:
    rate, fake = limiter(None)
    for _ in range(4):
        fake.now += 2.0  # each call waited 2 s on the run's budget: no answer in the last second
        rate.acquire(700)
        rate.taken(700)
    fake.now += 0.5
    rate.unprocessed([342] + [1] * 358, [342])  # a partition with no room for the large item
    took = (3 * 700 + 358) / (8.5 - 2.0)  # the last four answers, since the one before them
    assert rate.rate == pytest.approx(took * 0.9)  # ~340, not the floor of 25


def test_what_the_table_took_is_measured_over_a_second_and_the_last_few_answers() -> None:
    fake = FakeClock()
    took = RecentRate(fake)
    fake.now += 0.05
    assert took.per_second() == 0.0
    for _ in range(20):
        fake.now += 0.1
        took.add(50)  # 500 a second
    assert took.per_second() == pytest.approx(500, rel=0.11)
    fake.now += 10  # an idle writer: its last answers, not an empty window
    assert took.per_second() > 0


def test_writes_are_handed_back_for_want_of_room_when_each_is_larger_than_the_smaller_ones_taken() -> None:
    assert no_room(MIXED, [342])  # 24 small ones taken, the large one not
    assert not no_room(MIXED, MIXED)  # nothing taken: a full refusal, not a lack of room for one item
    assert no_room([342] * 4 + [1] * 21, [342] * 3)  # one large one taken beside them: still room for one at a time
    assert not no_room([342, 342], [342])  # no smaller write taken: nothing says the partition had room
    assert not no_room(SMALL, [1] * 5)  # small writes handed back: the partition is full
    assert not no_room([60] + [50] * 5, [60])  # 250 units of smaller writes taken: room for 60 was there


def test_a_call_taken_whole_after_waiting_for_room_lets_the_rate_grow() -> None:
    rate, fake = limiter(100, growth=0.4)
    rate.throttled()  # 70
    waited = rate.room(35)  # 35 / 35 (half the paced rate: the table took nothing lately)
    fake.now += waited  # the writer waits that long (writer.py)
    rate.taken(35)
    assert rate.rate == pytest.approx(70 * math.exp(0.4 * waited))  # or one with only retries never grows


def test_a_wait_for_room_still_counts_as_held_when_the_call_s_new_writes_wait_for_nothing() -> None:
    rate, fake = limiter(100, growth=0.4)
    rate.throttled()  # 70
    fake.now += rate.room(35) + 1  # the writer stepped other files meanwhile: the bucket has refilled
    assert rate.acquire(3) == 0.0  # the carriers, paid from the bucket
    rate.taken(38)
    assert rate.rate is not None and rate.rate > 70
    fake.now += 1
    assert rate.acquire(3) == 0.0
    before = rate.rate
    rate.taken(3)  # nothing held this one back: no growth
    assert rate.rate == before


def grown(start: float, seconds: int, **kw: float) -> float:
    """The rate of a writer starting at `start` after `seconds` calls, each a second held back and taken whole."""
    rate, _ = limiter(start, **kw)
    for _ in range(seconds):
        assert rate.rate is not None
        rate.acquire(int(rate.rate))  # a second's worth, from an empty bucket: held back a second
        rate.taken(int(rate.rate))
    assert rate.rate is not None
    return rate.rate


def test_each_writer_grows_by_its_share_of_the_plan_on_top_of_its_own_rate() -> None:
    rate, fake = limiter(40, share=200)
    waited = rate.acquire(40)
    rate.taken(40)
    assert waited == pytest.approx(1.0)
    assert rate.rate == pytest.approx(40 * math.exp(0.4) + 0.4 * 200)


def test_writers_cut_apart_grow_together_with_a_share_and_stay_apart_without() -> None:
    """Two writers sharing partitions, one cut to 40 and one at 400: in proportion alone they keep their
    tenfold ratio; growing by the same share too, the one cut deeper catches up."""
    assert grown(400, 3) / grown(40, 3) == pytest.approx(10, rel=0.05)
    assert grown(400, 3, share=200) / grown(40, 3, share=200) < 4  # 3.35: from 10, in 3 s
