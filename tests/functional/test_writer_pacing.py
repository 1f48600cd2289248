"""The writer's pacing (write/writer.py with rate.py and budget.py): the writer's rate charges a write once,
however often it is sent, and a retry of what the table refused waits for room first; the run's budget charges
every send and is refunded what the table handed back, up to its tenth of a second.

Why: a retry sent at once goes into a table that has just said no; a budget charged once, when a write is first
sent, spent it again in the 10 s window in which the table took it (bench/partitions.py: 1.057 of the budget),
and a refund above the bucket's capacity would be a burst.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from ddb_restore.export.records import Record, RecordParser, write_units
from ddb_restore.retry import RetryPolicy
from ddb_restore.write.budget import WriteBudget
from ddb_restore.write.clients import dynamodb_client
from ddb_restore.write.rate import AdaptiveRate
from ddb_restore.write.writer import BatchWriter
from support.botocore_faults import PASS, SERVER_ERROR, THROTTLE, UNPROCESSED, BatchWriteFaults
from support.clock import FakeClock
from support.sample import full_records, sample_items
from support.tables import KEYS, create_table

pytestmark = pytest.mark.usefixtures("moto")


def writer_on(client: Any, clock: FakeClock, *, budget: float | None = None, rate: float | None = None,
              **options: Any) -> BatchWriter:  # fmt: skip
    """A BatchWriter on a new table of `client`, its waits on `clock`, without jitter: only the pacing sleeps."""
    return BatchWriter(
        client,
        create_table(client),
        KEYS,
        reject=lambda *r: None,
        budget=WriteBudget(budget, clock=clock, start_full=False) if budget else None,
        rate=AdaptiveRate(clock=clock, rate=rate) if rate else None,
        retry=RetryPolicy(clock=clock, rand=lambda: 0.0),
        **options,
    )


def write_lines(writer: BatchWriter, lines: list[str]) -> list[Record]:
    parser = RecordParser(incremental=False, key_names=KEYS)
    records = [parser.parse(line.encode(), n) for n, line in enumerate(lines, 1)]
    for record in records:
        writer.add(record)
    writer.flush()
    return records


def write(plan: list[str], *, budget: float | None = None, rate: float | None = None) -> tuple[BatchWriter, FakeClock]:
    client = dynamodb_client()
    clock = FakeClock()
    writer = writer_on(client, clock, budget=budget, rate=rate)
    BatchWriteFaults(client, plan)
    write_lines(writer, full_records(sample_items(25, large=False)))
    return writer, clock


def batch_units() -> int:
    parser = RecordParser(incremental=False, key_names=KEYS)
    lines = full_records(sample_items(25, large=False))
    return sum(write_units(parser.parse(line.encode(), n).size) for n, line in enumerate(lines, 1))


def test_a_batch_handed_back_is_refunded_under_a_budget_and_its_retry_paid_again() -> None:
    writer, clock = write([UNPROCESSED, PASS], budget=100)
    assert writer.counts.items_put == 25 and writer.counts.write_calls == 2
    units = batch_units()
    # the first send waits for its units; all of them handed back, the refund gives back at most the bucket's
    # capacity (10 units: a tenth of a second), so the retry waits for the rest
    assert [s for s in clock.sleeps if s] == [pytest.approx(units / 100), pytest.approx((units - 10) / 100)]


def test_a_throttled_batch_is_refunded_under_a_budget_and_its_retry_paid_again() -> None:
    writer, clock = write([THROTTLE, PASS], budget=100)
    units = batch_units()
    assert [s for s in clock.sleeps if s] == [pytest.approx(units / 100), pytest.approx((units - 10) / 100)]
    assert writer.counts.write_calls == 2 and writer.counts.throttle_retries == 1


def test_a_server_error_is_not_refunded_under_a_budget() -> None:
    """A 500 may have written some of the call: its retry pays in full."""
    writer, clock = write([SERVER_ERROR, PASS], budget=100)
    units = batch_units()
    assert [s for s in clock.sleeps if s] == [pytest.approx(units / 100), pytest.approx(units / 100)]
    assert writer.counts.server_error_retries == 1


def test_a_throttle_cuts_the_writers_rate_and_its_retry_waits_for_room_then_it_grows() -> None:
    writer, clock = write([THROTTLE, PASS], rate=100)
    # room for all 25 (refused whole: the table was full) at the lower of 70 and what it took (nothing), not below 35
    room = batch_units() / 35
    assert [s for s in clock.sleeps if s] == [pytest.approx(0.25), pytest.approx(room)]
    assert writer.rate is not None and writer.rate.rate == pytest.approx(70 * math.exp(0.4 * room))


def test_a_call_refused_for_a_bad_item_is_given_back_to_the_budget_before_its_halves_are_charged() -> None:
    clock = FakeClock()
    writer = writer_on(dynamodb_client(), clock, budget=100)  # moto refuses the empty key: a ValidationException
    lines = full_records(sample_items(1, large=False)) + ['{"Item":{"pk":{"S":""},"sk":{"N":"3"}}}']
    records = write_lines(writer, lines)
    assert [write_units(r.size) for r in records] == [1, 1]
    assert (writer.counts.items_put, writer.counts.items_rejected) == (1, 1)
    # the first call waits for its 2 units; refused, they are given back, and pay for the two halves
    assert [s for s in clock.sleeps if s > 1e-9] == [pytest.approx(0.02)]  # (float dust below)


def test_a_failed_condition_is_not_given_back_to_the_budget() -> None:
    """--skip-newer: DynamoDB charges a write whose condition fails (it read and compared the item), so the
    budget keeps it; the next write waits for its own units on top."""
    client, clock = dynamodb_client(), FakeClock()
    writer = writer_on(client, clock, budget=100, skip_newer="ver")
    client.put_item(TableName=writer.table, Item={"pk": {"S": "a"}, "sk": {"N": "1"}, "ver": {"N": "5"}})
    write_lines(
        writer, ['{"Item":{"pk":{"S":"a"},"sk":{"N":"1"},"ver":{"N":"3"}}}', '{"Item":{"pk":{"S":"b"},"sk":{"N":"1"}}}']
    )
    assert (writer.counts.items_skipped_newer, writer.counts.items_put) == (1, 1)
    assert [s for s in clock.sleeps if s > 1e-9] == [pytest.approx(0.01), pytest.approx(0.01)]
