"""The writer's pacing (write/writer.py with rate.py and budget.py): what the table refused is paid for again.

Why: units refunded for a call the table refused let its retry go at once, into a table that has just said no.
"""

from __future__ import annotations

import math

import pytest

from ddb_restore.export.records import RecordParser
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


def test_a_batch_handed_back_pays_its_units_again_under_a_budget() -> None:
    writer, clock = write([UNPROCESSED, PASS], budget=100)
    assert writer.counts.items_put == 25
    assert [s for s in clock.sleeps if s] == [pytest.approx(0.25), pytest.approx(0.25)]  # no refund, no burst


def test_a_throttled_batch_pays_its_units_again_under_a_budget() -> None:
    writer, clock = write([THROTTLE, PASS], budget=100)
    assert [s for s in clock.sleeps if s] == [pytest.approx(0.25), pytest.approx(0.25)]
    assert writer.counts.write_calls == 2 and writer.counts.throttle_retries == 1


def test_a_throttle_cuts_the_writers_rate_before_its_retry_then_it_grows() -> None:
    writer, clock = write([THROTTLE, PASS], rate=100)
    assert [s for s in clock.sleeps if s] == [pytest.approx(0.25), pytest.approx(25 / 70)]  # at 100, then 70
    assert writer.rate is not None and writer.rate.rate == pytest.approx(70 * math.exp(0.4 * 25 / 70))
