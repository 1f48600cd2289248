"""A large item the table refused goes again with a few new records, not alone and not with a full batch
(write/writer.py, `_send`), against the real local DynamoDB server behind the fault proxy.

Why: each try of a refused large item that carries small writes is handed back in part when its partition
still has no room, not throttled whole; and the small records last to carry the later tries instead of
running out first and leaving the large items to go alone (bench/partitions.py, mixed items).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from ddb_restore.errors import RetryBoundExceeded
from ddb_restore.export.records import RecordParser
from ddb_restore.retry import RetryPolicy
from ddb_restore.write.clients import dynamodb_client
from ddb_restore.write.rate import AdaptiveRate
from ddb_restore.write.writer import BatchWriter
from support.clock import FakeClock
from support.compare import diff_tables, scan_items
from support.dynalite import Dynalite
from support.faultproxy import FaultProxy
from support.tables import KEYS, create_table

BIG = 9  # the index of the ~350 KB item
REFUSALS = 3  # calls in which the table has no room for it


@pytest.fixture
def proxy(dynalite_server: Dynalite) -> Iterator[FaultProxy]:
    with FaultProxy(dynalite_server.endpoint) as p:
        yield p


def item(i: int) -> dict[str, Any]:
    return {"pk": {"S": f"k{i:03d}"}, "sk": {"N": "1"}, "v": {"S": "x" * (350_000 if i == BIG else 100)}}


def writer_into(
    proxy: FaultProxy, name: str, refuse: Any, retry: RetryPolicy | None = None
) -> tuple[list[list[str]], BatchWriter]:
    """A BatchWriter into a new table `name`, the table handing back the keys `refuse(calls)` names (all of
    them: the call is throttled whole); the keys of each call as the table saw them, filled as it writes."""
    calls: list[list[str]] = []

    def admit(entries: list[tuple[str, dict[str, Any]]]) -> list[bool]:
        keys = [write["PutRequest"]["Item"]["pk"]["S"] for _, write in entries]
        calls.append(keys)
        refused = refuse(calls)
        return [key not in refused for key in keys]

    proxy.admit_with(admit)
    client = dynamodb_client(endpoint_url=proxy.endpoint)  # as the writer's: botocore retries nothing itself
    clock = FakeClock()
    writer = BatchWriter(
        client,
        create_table(client, name),
        KEYS,
        reject=lambda *r: pytest.fail(f"rejected {r}"),
        rate=AdaptiveRate(clock=clock),
        retry=retry or RetryPolicy(clock=clock),
    )
    return calls, writer


def add_all(writer: BatchWriter, items: list[dict[str, Any]], first_line: int = 1) -> None:
    parser = RecordParser(incremental=False, key_names=KEYS)
    for n, it in enumerate(items, first_line):
        writer.add(parser.parse(json.dumps({"Item": it}).encode(), n))


def restore(
    proxy: FaultProxy, name: str, refuse: Any, items: list[dict[str, Any]]
) -> tuple[list[list[str]], BatchWriter]:
    """Write `items` through `writer_into`'s writer and flush; check the table; return the calls and the writer."""
    calls, writer = writer_into(proxy, name, refuse)
    add_all(writer, items)
    writer.flush()
    assert diff_tables(items, scan_items(writer.client, writer.table), KEYS) == []
    return calls, writer


def test_a_refused_large_item_is_carried_with_at_most_three_new_records_until_taken(proxy: FaultProxy) -> None:
    big = f"k{BIG:03d}"
    items = [item(i) for i in range(60)]
    calls, writer = restore(
        proxy, "CarriedLarge", lambda calls: {big} if sum(big in c for c in calls) <= REFUSALS else set(), items
    )
    assert [len(call) for call in calls[:5]] == [25, 4, 4, 4, 25]  # refused in 1, carried in 2-4, taken in 4
    assert all(big in call for call in calls[1:4]) and big not in calls[4]
    assert sorted(k for call in calls for k in call if k != big) == sorted(f"k{i:03d}" for i in range(60) if i != BIG)
    assert writer.counts.items_put == 60 and writer.counts.unprocessed_retries == REFUSALS


def test_small_items_handed_back_by_a_full_partition_go_again_in_a_full_batch(proxy: FaultProxy) -> None:
    refused = {f"k{i:03d}" for i in range(4, 9)}  # five small ones, in the first call only
    items = [item(i) for i in range(60) if i != BIG]
    calls, writer = restore(proxy, "CarriedSmall", lambda calls: refused if len(calls) == 1 else set(), items)
    assert [len(call) for call in calls] == [25, 25, 14]  # the five carried with 20 new: no limit on new records
    assert refused <= set(calls[1]) and writer.counts.items_put == 59


def test_a_flush_keeps_small_records_back_to_carry_a_large_one_the_table_hands_back(proxy: FaultProxy) -> None:
    """The large item is in the last batch: no new records will come, so the flush keeps the three smallest
    back and each retry takes one of them; no call holds the large item alone, so none is throttled whole."""
    big = f"k{BIG:03d}"
    items = [item(i) for i in range(BIG - 4, BIG + 3)]  # k005..k011: one batch, the large one among them
    calls, writer = restore(
        proxy, "CarriedAtFlush", lambda calls: {big} if sum(big in c for c in calls) <= REFUSALS else set(), items
    )
    assert [len(call) for call in calls] == [4, 2, 2, 2]  # refused in 1-3, taken in 4
    assert all(big in call for call in calls)
    assert [call[1] for call in calls[1:]] == ["k007", "k006", "k005"]  # the three kept back, one a retry
    assert proxy.throttled == 0
    assert writer.counts.items_put == len(items) and writer.counts.unprocessed_retries == REFUSALS
    assert writer.counts.throttle_retries == 0


def test_a_flush_that_gives_up_leaves_a_cursor_before_the_records_it_kept_back(proxy: FaultProxy) -> None:
    """Records kept back are not yet written: a writer that gives up while it holds them must resume before them."""
    big = f"k{BIG:03d}"
    items = [item(i) for i in range(BIG - 4, BIG + 3)]
    # The first call hands back the large item; from the second on, nothing fits: throttled until the bound.
    calls, writer = writer_into(
        proxy,
        "CarriedCursor",
        lambda calls: {big} if len(calls) == 1 else set(calls[-1]),
        retry=RetryPolicy(max_total=10, clock=FakeClock(0.0, tick=1.0, moves_on_sleep=False)),
    )
    add_all(writer, items)
    with pytest.raises(RetryBoundExceeded):
        writer.flush()
    written = {k for call in calls[:1] for k in call if k != big}
    unwritten_lines = [n for n, it in enumerate(items, 1) if it["pk"]["S"] not in written]
    assert len(written) == 3 and len(unwritten_lines) == 4  # two kept back, one carrier, the large item
    assert writer.safe_cursor(len(items)) == min(unwritten_lines) - 1


def test_room_for_a_refused_large_item_is_waited_for_from_its_refusal(proxy: FaultProxy) -> None:
    """The writer says when its partition will have room (`ready_at`), so a runner worker steps its other files
    meanwhile (spread.py); the call that then carries the item waits only for what is left of that time."""
    big = f"k{BIG:03d}"
    calls, writer = writer_into(proxy, "RoomFromRefusal", lambda calls: {big} if len(calls) == 1 else set())
    clock = writer.retry.clock
    assert isinstance(clock, FakeClock)
    items = [item(i) for i in range(30)]
    add_all(writer, items[:26])  # the 26th sends the first 25: the large item handed back
    assert len(calls) == 1 and writer.counts.unprocessed_retries == 1
    room = writer.ready_at - clock.monotonic()
    assert room > 0
    slept = len(clock.sleeps)
    clock.now += room * 3 / 4  # the worker wrote its other files meanwhile
    add_all(writer, items[26:], first_line=27)  # the third new record sends the large item with its carriers
    assert len(calls) == 2 and big in calls[1]
    assert clock.sleeps[slept] == pytest.approx(room / 4)  # then the new records' units at the writer's rate
    writer.flush()
    assert writer.ready_at == 0.0
    assert diff_tables(items, scan_items(writer.client, writer.table), KEYS) == []


def test_a_flush_pauses_while_the_table_has_no_room_for_what_it_handed_back(proxy: FaultProxy) -> None:
    """At a file's end too, a runner worker steps its other files while this one waits for room: the flush
    yields the time from which there is room (`flush_steps`), and the retry then waits for nothing more."""
    big = f"k{BIG:03d}"
    calls, writer = writer_into(proxy, "FlushPauses", lambda calls: {big} if len(calls) == 1 else set())
    clock = writer.retry.clock
    assert isinstance(clock, FakeClock)
    items = [item(i) for i in range(BIG - 4, BIG + 3)]
    add_all(writer, items)
    steps = writer.flush_steps()
    ready = next(steps)  # the first call handed the large item back
    assert len(calls) == 1 and ready > clock.monotonic()
    slept = len(clock.sleeps)
    clock.now = ready  # the worker wrote its other files meanwhile
    assert list(steps) == []
    assert clock.sleeps[slept:] == []  # no wait left for the room, nor for the carrier's one unit (bucket refilled)
    assert [len(call) for call in calls] == [4, 2, 2] and big in calls[1]  # with a carrier; then the other two
    assert diff_tables(items, scan_items(writer.client, writer.table), KEYS) == []


def test_a_call_throttled_whole_goes_back_to_the_writer_and_its_retries_still_end_at_the_bound(
    proxy: FaultProxy,
) -> None:
    """A throttled batch goes back to the writer's queue (its caller waits for room), so the streak of retries
    without progress is the writer's, not the call's: it still ends at the policy's bound."""
    calls, writer = writer_into(
        proxy,
        "ThrottledBack",
        lambda calls: set(calls[-1]),  # nothing fits, ever
        retry=RetryPolicy(max_total=10, clock=FakeClock(0.0, tick=1.0, moves_on_sleep=False)),
    )
    with pytest.raises(RetryBoundExceeded):
        add_all(writer, [item(i) for i in range(60) if i != BIG])
    assert 1 < len(calls) <= 12 and all(len(call) == 25 for call in calls)
    assert writer.counts.throttle_retries == len(calls) and writer.counts.items_put == 0  # the last one gave up
    assert writer.safe_cursor(60) == 0
