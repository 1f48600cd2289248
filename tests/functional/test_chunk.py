"""Chunks: a file cut at any point resumes exactly at the next line, and only the last chunk verifies it."""

from __future__ import annotations

import gzip
from pathlib import Path

import boto3
import pytest

from ddb_restore.errors import DataFileError
from ddb_restore.export.manifest import load_export
from ddb_restore.export.records import RecordParser
from ddb_restore.export.storage import LocalFolder
from ddb_restore.restore.chunk import write_chunk
from ddb_restore.retry import RetryPolicy
from ddb_restore.transform import build_pipeline, load_user_functions
from ddb_restore.write.writer import BatchWriter
from support.botocore_faults import PASS, THROTTLE, BatchWriteFaults
from support.clock import FakeClock
from support.compare import diff_tables, scan_items
from support.sample import full_records, sample_items, write_export
from support.tables import KEYS, create_table


def stop_after(checks: int):
    calls = iter(range(checks - 1, -1, -1))  # True on the `checks`-th question
    return lambda lines: next(calls, 0) == 0


def chunks_until_done(folder: Path, table: str, checks_per_chunk: int) -> tuple[list[int], list[int], list]:
    export = load_export(LocalFolder(folder))
    (file,) = [f for f in export.files if f.item_count]
    client = boto3.client("dynamodb")
    parser = RecordParser(incremental=False, key_names=KEYS)
    cursors, puts, rejects = [], [], []
    cursor, done = 0, False
    while not done:
        writer = BatchWriter(
            client, table, KEYS, reject=lambda *r: rejects.append(r), retry=RetryPolicy(clock=FakeClock())
        )
        result = write_chunk(export.folder, file, parser, writer, cursor, should_stop=stop_after(checks_per_chunk))
        assert result.line > cursor or result.done
        cursor, done = result.line, result.done
        cursors.append(cursor)
        puts.append(result.counts.items_put)
    return cursors, puts, rejects


@pytest.mark.usefixtures("moto")
def test_a_file_cut_into_chunks_is_applied_once_each_line(tmp_path: Path) -> None:
    items = sample_items(1050, large=False)
    folder = write_export(tmp_path, full_records(items), files=1, empty_files=0)
    table = create_table(boto3.client("dynamodb"))
    cursors, puts, rejects = chunks_until_done(folder, table, checks_per_chunk=3)
    assert cursors == [300, 600, 900, 1050]
    assert puts == [300, 300, 300, 150]  # no line written twice, none skipped
    assert rejects == []
    assert diff_tables(items, scan_items(boto3.client("dynamodb"), table), KEYS) == []


@pytest.mark.usefixtures("moto")
def test_the_last_chunk_still_checks_the_whole_files_md5(tmp_path: Path) -> None:
    folder = write_export(tmp_path, full_records(sample_items(250, large=False)), files=1, empty_files=0)
    (data,) = (folder / "data").iterdir()
    lines = gzip.decompress(data.read_bytes()).splitlines(keepends=True)
    lines[10] = lines[10].replace(b"name 10", b"name XX")  # same count, different bytes: only the MD5 sees it
    data.write_bytes(gzip.compress(b"".join(lines)))
    table = create_table(boto3.client("dynamodb"))
    with pytest.raises(DataFileError, match="MD5") as caught:
        chunks_until_done(folder, table, checks_per_chunk=1)
    assert caught.value.cursor == 250


@pytest.mark.usefixtures("moto")
def test_a_writer_that_gives_up_leaves_a_cursor_just_before_the_first_unwritten_record(tmp_path: Path) -> None:
    from ddb_restore.errors import RetryBoundExceeded
    from ddb_restore.write.clients import dynamodb_client

    items = sample_items(200, large=False)
    folder = write_export(tmp_path, full_records(items), files=1, empty_files=0)
    export = load_export(LocalFolder(folder))
    client = dynamodb_client()
    table = create_table(client)
    BatchWriteFaults(client, [PASS] * 3, after=THROTTLE)  # three batches of 25 get through, then nothing does
    policy = RetryPolicy(max_total=10, clock=FakeClock(0.0, tick=1.0, moves_on_sleep=False))
    writer = BatchWriter(client, table, KEYS, reject=lambda *r: None, retry=policy)
    parser = RecordParser(incremental=False, key_names=KEYS)
    with pytest.raises(RetryBoundExceeded) as caught:
        write_chunk(export.folder, export.files[0], parser, writer)
    assert caught.value.cursor == 75
    assert len(scan_items(boto3.client("dynamodb"), table)) == 75
    # Resuming from that cursor with a healthy client finishes the file with nothing missing.
    fresh = BatchWriter(
        boto3.client("dynamodb"), table, KEYS, reject=lambda *r: None, retry=RetryPolicy(clock=FakeClock())
    )
    result = write_chunk(export.folder, export.files[0], parser, fresh, caught.value.cursor)
    assert result.done and result.counts.items_put == 125
    assert diff_tables(items, scan_items(boto3.client("dynamodb"), table), KEYS) == []


class _Target:
    key_names = KEYS
    key_types = {"pk": "S", "sk": "N"}
    gsis = ()


@pytest.mark.usefixtures("moto")
def test_progress_counts_records_read_when_a_transform_fans_each_out_to_three_items(tmp_path: Path) -> None:
    items = sample_items(40, large=False)
    folder = write_export(tmp_path, full_records(items), files=1, empty_files=0)
    table = create_table(boto3.client("dynamodb"))
    fan_out = "def transform(item):\n    return [{**item, 'pk': {'S': item['pk']['S'] + f'#{n}'}} for n in range(3)]\n"
    transform = build_pipeline((), load_user_functions(fan_out, "fan.py"), _Target())
    export = load_export(LocalFolder(folder))
    (file,) = [f for f in export.files if f.item_count]
    seen: list[int] = []
    writer = BatchWriter(
        boto3.client("dynamodb"), table, KEYS, reject=lambda *r: None, retry=RetryPolicy(clock=FakeClock()),
        progress=lambda records, units: seen.append(records),
    )  # fmt: skip
    result = write_chunk(export.folder, file, RecordParser(incremental=False, key_names=KEYS), writer,
                         transform=transform)  # fmt: skip
    assert (result.counts.items_put, result.counts.items_fanned_out) == (120, 80)
    assert sum(seen) == 40  # of 40 records: never past 100%
    assert len(scan_items(boto3.client("dynamodb"), table)) == 120
