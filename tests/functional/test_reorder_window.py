"""The reorder window (restore/chunk.py): a file's records written in a spread order, cursors still exact.

Why: a file is one slice of the source's keyspace, its items in hash order; a target with more partitions cuts
that slice into several, which a file written in order hits one after another.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

from ddb_restore.errors import RetryBoundExceeded
from ddb_restore.export.manifest import load_export
from ddb_restore.export.records import RecordParser
from ddb_restore.export.storage import LocalFolder
from ddb_restore.restore.chunk import write_chunk
from ddb_restore.retry import RetryPolicy
from ddb_restore.write.clients import dynamodb_client
from ddb_restore.write.writer import BatchWriter
from support.botocore_faults import PASS, THROTTLE, BatchWriteFaults
from support.clock import FakeClock
from support.compare import diff_tables, scan_items
from support.partitions import partition_of, write_partitioned_export
from support.sample import full_records, sample_items, write_export
from support.tables import KEYS, create_table

pytestmark = pytest.mark.usefixtures("moto")


def writer_for(client: Any, table: str, policy: RetryPolicy | None = None) -> BatchWriter:
    return BatchWriter(client, table, KEYS, reject=lambda *r: None, retry=policy or RetryPolicy(clock=FakeClock()))


def stop_after(checks: int) -> Callable[[int], bool]:
    calls = iter(range(checks - 1, -1, -1))  # True on the `checks`-th question
    return lambda lines: next(calls, 0) == 0


def test_a_window_writes_a_hash_ordered_file_to_all_its_partitions_at_once(tmp_path: Path) -> None:
    items = [{"pk": {"S": f"user#{i}"}, "sk": {"N": "1"}} for i in range(400)]
    export = load_export(LocalFolder(write_partitioned_export(tmp_path, items, files=1)))
    client = dynamodb_client()
    table = create_table(client)
    batches: list[set[int]] = []

    def seen(params: dict[str, Any], **_: Any) -> None:
        requests = json.loads(params["body"])["RequestItems"][table]
        batches.append({partition_of(r["PutRequest"]["Item"]["pk"], 4) for r in requests})

    client.meta.events.register("before-call.dynamodb.BatchWriteItem", seen)
    parser = RecordParser(incremental=False, key_names=KEYS)
    write_chunk(export.folder, export.files[0], parser, writer_for(client, table))
    in_order = [len(b) for b in batches]
    batches.clear()
    write_chunk(export.folder, export.files[0], parser, writer_for(client, table), window=400)
    assert sum(n == 1 for n in in_order) >= len(in_order) - 4  # in file order, a batch hits one partition
    assert all(len(b) >= 3 for b in batches)  # in the window's order, each hits three or four of the four


def test_chunks_with_a_window_stop_at_their_cursor_and_write_each_line_once(tmp_path: Path) -> None:
    items = sample_items(1050, large=False)
    export = load_export(LocalFolder(write_export(tmp_path, full_records(items), files=1, empty_files=0)))
    (file,) = [f for f in export.files if f.item_count]
    client = boto3.client("dynamodb")
    table = create_table(client)
    parser = RecordParser(incremental=False, key_names=KEYS)
    cursors, puts, cursor, done = [], [], 0, False
    while not done:
        stop = stop_after(3)  # at the third question: 300 lines a chunk
        result = write_chunk(export.folder, file, parser, writer_for(client, table), cursor, stop, window=128)
        cursor, done = result.line, result.done
        cursors.append(cursor)
        puts.append(result.counts.items_put)
    assert (cursors, puts) == ([300, 600, 900, 1050], [300, 300, 300, 150])
    assert diff_tables(items, scan_items(client, table), KEYS) == []


def test_a_writer_that_gives_up_inside_a_window_leaves_the_cursor_at_its_start(tmp_path: Path) -> None:
    items = sample_items(200, large=False)
    export = load_export(LocalFolder(write_export(tmp_path, full_records(items), files=1, empty_files=0)))
    client = dynamodb_client()
    table = create_table(client)
    BatchWriteFaults(client, [PASS] * 3, after=THROTTLE)  # the first window (50) and one batch of the second
    policy = RetryPolicy(max_total=10, clock=FakeClock(0.0, tick=1.0, moves_on_sleep=False))
    parser = RecordParser(incremental=False, key_names=KEYS)
    with pytest.raises(RetryBoundExceeded) as caught:
        write_chunk(export.folder, export.files[0], parser, writer_for(client, table, policy), window=50)
    assert caught.value.cursor == 50
    assert len(scan_items(boto3.client("dynamodb"), table)) == 75  # lines 1-50, and 25 of the second window
    result = write_chunk(
        export.folder, export.files[0], parser, writer_for(boto3.client("dynamodb"), table), 50, window=50
    )
    assert result.done and result.counts.items_put == 150  # the 25 written again: idempotent
    assert diff_tables(items, scan_items(boto3.client("dynamodb"), table), KEYS) == []
