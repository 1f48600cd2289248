"""The batch writer against a real DynamoDB server (dynalite), with throttling injected by a proxy in front.

moto never throttles and accepts items DynamoDB refuses, so these run against dynalite: every item must
arrive whatever the proxy does, refused items must be isolated with DynamoDB's own reason, and a throttle
that outlasts the retry bound must end in RetryBoundExceeded, not a loop or a silent drop.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from ddb_restore.errors import RetryBoundExceeded
from ddb_restore.export.records import RecordParser
from ddb_restore.retry import RetryPolicy
from ddb_restore.write.budget import WriteBudget
from ddb_restore.write.clients import dynamodb_client
from ddb_restore.write.writer import BatchWriter
from support.clock import FakeClock
from support.compare import diff_tables, scan_items
from support.faultproxy import FaultProxy
from support.sample import full_records, sample_items
from support.tables import KEYS, create_table, dynamodb


def no_sleep_policy(**kw: Any) -> RetryPolicy:
    return RetryPolicy(base=0.0001, cap=0.001, clock=FakeClock(), **kw)


@pytest.fixture
def table(dynalite: str) -> str:
    return create_table(dynamodb(dynalite), f"w-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def proxy(dynalite: str) -> Any:
    with FaultProxy(dynalite) as p:
        yield p


def write_all(endpoint: str, table: str, lines: list[str], **kw: Any) -> tuple[BatchWriter, list[tuple]]:
    rejects: list[tuple] = []
    client = dynamodb_client(endpoint_url=endpoint)
    writer = BatchWriter(
        client, table, KEYS, reject=lambda line, reason, raw: rejects.append((line, reason, raw)), **kw
    )
    parser = RecordParser(incremental=False, key_names=KEYS)
    for n, line in enumerate(lines, 1):
        writer.add(parser.parse(line.encode(), n))
    writer.flush()
    return writer, rejects


def test_every_item_arrives_exactly_through_throttles_and_unprocessed_items(proxy: FaultProxy, table: str) -> None:
    items = sample_items(180)
    proxy.throttle_next(3)
    proxy.partial_probability(0.5, keep=0.4, seed=7)
    writer, rejects = write_all(proxy.endpoint, table, full_records(items), retry=no_sleep_policy())
    assert rejects == []
    assert writer.counts.items_put == 180
    assert writer.counts.throttle_retries == 3
    assert writer.counts.unprocessed_retries == proxy.partials > 0
    assert diff_tables(items, scan_items(dynamodb(proxy.endpoint), table), KEYS) == []


@pytest.mark.parametrize(
    "code", ["ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"]
)
def test_each_throttle_error_code_is_retried(proxy: FaultProxy, table: str, code: str) -> None:
    proxy.throttle_next(2, code=code)
    items = sample_items(30, large=False)
    writer, _ = write_all(proxy.endpoint, table, full_records(items), retry=no_sleep_policy())
    assert writer.counts.throttle_retries == 2
    assert diff_tables(items, scan_items(dynamodb(proxy.endpoint), table), KEYS) == []


def test_server_errors_are_retried(proxy: FaultProxy, table: str) -> None:
    proxy.server_error_next(3)
    items = sample_items(30, large=False)
    writer, _ = write_all(proxy.endpoint, table, full_records(items), retry=no_sleep_policy())
    assert writer.counts.server_error_retries == 3
    assert diff_tables(items, scan_items(dynamodb(proxy.endpoint), table), KEYS) == []


def test_throttling_longer_than_the_bound_fails_clearly(proxy: FaultProxy, table: str) -> None:
    proxy.throttle_probability(1.0)
    clock = FakeClock(0.0, tick=5.0, moves_on_sleep=False)
    policy = RetryPolicy(base=1, cap=4, max_total=60, rand=lambda: 1.0, clock=clock)
    with pytest.raises(RetryBoundExceeded, match="ProvisionedThroughputExceededException"):
        write_all(proxy.endpoint, table, full_records(sample_items(5, large=False)), retry=policy)
    assert proxy.forwarded_items == 0


def test_refused_items_are_isolated_and_the_rest_written(dynalite: str, table: str) -> None:
    items = sample_items(60, large=False)
    lines = full_records(items)
    bad = {
        7: '{"Item":{"pk":{"S":"big"},"sk":{"N":"1"},"blob":{"S":"' + "x" * 410_000 + '"}}}',
        30: '{"Item":{"pk":{"N":"5"},"sk":{"N":"2"}}}',
        45: '{"Item":{"pk":{"S":""},"sk":{"N":"3"}}}',
    }
    for position, line in sorted(bad.items()):
        lines.insert(position, line)
    writer, rejects = write_all(dynalite, table, lines, retry=no_sleep_policy())
    assert [r[0] for r in rejects] == [8, 31, 46]
    reasons = [r[1] for r in rejects]
    assert "Item size has exceeded" in reasons[0]
    assert "does not match the schema" in reasons[1]
    assert "empty string" in reasons[2]
    assert all(r[1].startswith("ValidationException") for r in rejects)
    assert rejects[1][2] == bad[30].encode()
    assert writer.counts.items_put == 60 and writer.counts.items_rejected == 3
    assert diff_tables(items, scan_items(dynamodb(dynalite), table), KEYS) == []


def test_a_budget_holds_the_writer_to_its_rate(dynalite: str, table: str) -> None:
    clock = FakeClock(0.0)
    budget = WriteBudget(100, clock=clock, burst_seconds=1.0)
    items = sample_items(300, large=False)
    writer, _ = write_all(dynalite, table, full_records(items), budget=budget, retry=RetryPolicy(clock=FakeClock()))
    # 300 one-unit items at 100 units/s, the first 100 from the initial burst: 2 s of waiting.
    assert writer.counts.write_units == 300
    assert sum(clock.sleeps) == pytest.approx(2.0, abs=0.3)
