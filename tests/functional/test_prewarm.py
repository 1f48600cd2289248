"""Pre-warming an on-demand table (restore/warm.py, `run --prewarm`) against a real DynamoDB server (dynalite)
with warm throughput as AWS describes it (support/capacity.py: dynalite has none, moto's is ACTIVE at once)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from ddb_restore.cli import Wiring, main
from ddb_restore.errors import TargetTableError
from ddb_restore.restore.warm import prewarm
from ddb_restore.write.clients import dynamodb_client
from support.capacity import CapacityDouble
from support.clock import FakeClock
from support.compare import diff_tables, scan_items
from support.sample import full_records, sample_items, write_export
from support.tables import KEYS, create_table


@pytest.fixture
def table(dynalite: str) -> str:
    return create_table(dynamodb_client(), f"t-{uuid.uuid4().hex[:8]}")  # on demand


def test_prewarm_asks_once_and_waits_until_the_warm_throughput_is_active(table: str) -> None:
    client = dynamodb_client()
    warm = CapacityDouble(client, looks=2)
    clock, shown = FakeClock(), []
    prewarm(client, table, 20_000, shown.append, clock=clock)
    assert warm.raises == [(table, 4000, 20_000)]
    assert shown == [
        f"prewarm: asked {table} for 20,000 write units a second (was 4,000)",
        f"prewarm: {table} is UPDATING, warm throughput UPDATING at 4,000",
        f"prewarm: {table} is warm for 20,000 write units a second (ACTIVE)",
    ]
    assert clock.sleeps == [10.0, 10.0]
    assert client.describe_table(TableName=table)["Table"]["WarmThroughput"]["Status"] == "ACTIVE"
    prewarm(client, table, 20_000, shown.append, clock=clock)  # warm already: nothing asked, nothing billed
    assert warm.raises == [(table, 4000, 20_000)] and clock.sleeps == [10.0, 10.0]


def test_prewarm_gives_up_at_its_bound_with_a_line_that_says_what_to_do(table: str) -> None:
    client = dynamodb_client()
    CapacityDouble(client, looks=1000)
    with pytest.raises(TargetTableError, match="warm throughput not ACTIVE at 20,000 after 60 s .* run again once"):
        prewarm(client, table, 20_000, lambda line: None, clock=FakeClock(), timeout_s=60)


def test_warm_throughput_is_never_lowered(table: str) -> None:
    client = dynamodb_client()
    CapacityDouble(client, warm={table: 30_000})
    with pytest.raises(client.exceptions.ClientError, match="cannot be decreased"):
        client.update_table(TableName=table, WarmThroughput={"WriteUnitsPerSecond": 5000})


def test_run_prewarm_raises_the_table_to_the_planned_rate_before_writing(
    table: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    items = sample_items(64, large=False)
    export = write_export(tmp_path / "src", full_records(items), files=32, empty_files=0)
    client = dynamodb_client()
    warm = CapacityDouble(client, looks=1)
    wiring = Wiring(clock=FakeClock(), dynamodb=lambda **_: client)
    args = ["run", str(export), "--table", table, "--max-wcu", "20000", "--workers", "8", "--prewarm"]
    code = main([*args, "--rejects", str(tmp_path / "rejects.jsonl")], wiring)
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert warm.raises == [(table, 4000, 20_000)]
    assert "workers: 8 (--workers 8, each writing up to 4 files at once)" in out
    assert "prewarm: warm throughput of " in out and "a one-time charge" in out
    assert out.index(f"prewarm: {table} is warm for 20,000") < out.index("succeeded: 64 put")
    assert diff_tables(items, scan_items(client, table), KEYS) == []


def test_run_without_prewarm_says_the_cold_table_throttles_at_first(
    table: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = write_export(tmp_path / "src", full_records(sample_items(8, large=False)), files=2, empty_files=0)
    client = dynamodb_client()
    warm = CapacityDouble(client)
    wiring = Wiring(clock=FakeClock(), dynamodb=lambda **_: client)
    args = ["run", str(export), "--table", table, "--max-wcu", "9000", "--workers", "8", "--dry-run"]
    assert main(args, wiring) == 0
    out = capsys.readouterr().out
    assert warm.raises == []
    assert f"note: on-demand table {table} is warm for 4,000 WCU/s: at ~9,000 WCU/s writes throttle at first" in out
