"""The writer's pacing (write/writer.py with rate.py and budget.py): a write is charged once, however often it
is sent, and a retry of what the table refused waits for room first.

Why: a budget charged again for every retry is spent on refusals, not on writes (bench/partitions.py: 0.11 to
0.73 of the budget on mixed items); a retry sent at once goes into a table that has just said no.
"""

from __future__ import annotations

import math

import pytest

from ddb_restore.export.records import RecordParser, write_units
from ddb_restore.retry import RetryPolicy
from ddb_restore.write.budget import WriteBudget
from ddb_restore.write.clients import dynamodb_client
from ddb_restore.write.rate import AdaptiveRate
from ddb_restore.write.writer import BatchWriter
from support.botocore_faults import PASS, THROTTLE, UNPROCESSED, BatchWriteFaults
from support.clock import FakeClock
from support.sample import full_records, sample_items
from support.tables import KEYS, create_table

pytestmark = pytest.mark.usefixtures("moto")


def write(plan: list[str], *, budget: float | None = None, rate: float | None = None) -> tuple[BatchWriter, FakeClock]:
    client = dynamodb_client()
    table = create_table(client)
    BatchWriteFaults(client, plan)
    clock = FakeClock()
    writer = BatchWriter(
        client,
        table,
        KEYS,
        reject=lambda *r: None,
        budget=WriteBudget(budget, clock=clock, start_full=False) if budget else None,
        rate=AdaptiveRate(clock=clock, rate=rate) if rate else None,
        retry=RetryPolicy(clock=clock, rand=lambda: 0.0),  # no jitter: only the pacing sleeps
    )
    parser = RecordParser(incremental=False, key_names=KEYS)
    for n, line in enumerate(full_records(sample_items(25, large=False)), 1):
        writer.add(parser.parse(line.encode(), n))
    writer.flush()
    return writer, clock


def batch_units() -> int:
    parser = RecordParser(incremental=False, key_names=KEYS)
    lines = full_records(sample_items(25, large=False))
    return sum(write_units(parser.parse(line.encode(), n).size) for n, line in enumerate(lines, 1))


def test_a_batch_handed_back_is_charged_once_under_a_budget() -> None:
    writer, clock = write([UNPROCESSED, PASS], budget=100)
    assert writer.counts.items_put == 25 and writer.counts.write_calls == 2
    assert [s for s in clock.sleeps if s] == [pytest.approx(0.25)]  # its retry is not charged again


def test_a_throttled_batch_is_charged_once_under_a_budget() -> None:
    writer, clock = write([THROTTLE, PASS], budget=100)
    assert [s for s in clock.sleeps if s] == [pytest.approx(0.25)]
    assert writer.counts.write_calls == 2 and writer.counts.throttle_retries == 1


def test_a_throttle_cuts_the_writers_rate_and_its_retry_waits_for_room_then_it_grows() -> None:
    writer, clock = write([THROTTLE, PASS], rate=100)
    # room for all 25 (refused whole: the table was full) at the lower of 70 and what it took (nothing), not below 35
    room = batch_units() / 35
    assert [s for s in clock.sleeps if s] == [pytest.approx(0.25), pytest.approx(room)]
    assert writer.rate is not None and writer.rate.rate == pytest.approx(70 * math.exp(0.4 * room))


def test_a_batch_handed_back_then_refused_for_a_bad_item_is_not_charged_again_when_halved() -> None:
    client = dynamodb_client()
    table = create_table(client)
    BatchWriteFaults(client, [UNPROCESSED])  # then every call reaches moto, which refuses the empty key
    clock = FakeClock()
    writer = BatchWriter(
        client,
        table,
        KEYS,
        reject=lambda *r: None,
        budget=WriteBudget(100, clock=clock, start_full=False),
        retry=RetryPolicy(clock=clock, rand=lambda: 0.0),
    )
    parser = RecordParser(incremental=False, key_names=KEYS)
    lines = full_records(sample_items(24, large=False)) + ['{"Item":{"pk":{"S":""},"sk":{"N":"3"}}}']
    records = [parser.parse(line.encode(), n) for n, line in enumerate(lines, 1)]
    for record in records:
        writer.add(record)
    writer.flush()
    assert (writer.counts.items_put, writer.counts.items_rejected) == (24, 1)
    charged = sum(write_units(r.size) for r in records) / 100
    assert [s for s in clock.sleeps if s] == [pytest.approx(charged)]  # the first send only, not the halves
