"""`verify --max-rcu N` holds the whole verify (read-back and count) to N read units a second, against a real
DynamoDB server (dynalite) and a fake clock: time passes only when the read budget makes a worker wait, so the
read units DynamoDB reports over the seconds waited is the rate the verify ran at."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from ddb_restore.cli import Wiring, main
from ddb_restore.retry import RetryPolicy
from ddb_restore.verify.count import count_segment, key_from_json, key_to_json
from ddb_restore.verify.tally import Tally
from support.clock import FakeClock
from support.sample import create_sample_table, full_records, sample_items, write_export


@pytest.fixture
def table(dynalite: str) -> str:
    return create_sample_table(boto3.client("dynamodb", endpoint_url=dynalite), f"b-{uuid.uuid4().hex[:8]}")


def verify_at(export: Path, table: str, tmp_path: Path, *options: str) -> dict[str, Any]:
    report = tmp_path / f"{uuid.uuid4().hex[:6]}.json"
    clock = FakeClock()
    code = main(["verify", str(export), "--table", table, "--report", str(report), *options], Wiring(clock=clock))
    assert code == 0
    got: dict[str, Any] = json.loads(report.read_text())
    assert got["duration_s"] == pytest.approx(sum(clock.sleeps), abs=0.01)  # the fake clock moved by waits only
    return got


@pytest.mark.parametrize("max_rcu", [20.0, 75.0])
def test_max_rcu_holds_the_read_units_per_second(
    table: str, tmp_path: Path, max_rcu: float, capsys: pytest.CaptureFixture[str]
) -> None:
    items = sample_items(300, large=False)
    for item in items[::3]:
        item["padding"] = {"S": "p" * 9_000}  # 3 read units each (4 KB rounding), the others one
    export = write_export(tmp_path / "src", full_records(items), files=4)
    assert main(["run", str(export), "--table", table]) == 0
    got = verify_at(export, table, tmp_path, "--max-rcu", str(max_rcu), "--workers", "4")
    capsys.readouterr()
    assert got["status"] == "equal" and got["items_equal"] == 300
    rate = got["read_units"] / got["duration_s"]
    # The budget starts empty and pays each read before it is sent: never above N; below it only by the last
    # call's units and the count's last page, paid after they were read.
    assert 0.85 * max_rcu <= rate <= max_rcu * 1.01, (got["read_units"], got["duration_s"])


def test_a_count_segment_stopped_after_a_page_goes_on_from_its_key_to_the_same_total(table: str) -> None:
    client = boto3.client("dynamodb")
    for n in range(150):  # ~1.4 MB: a Scan page holds at most 1 MB, so the segment takes two pages
        client.put_item(TableName=table, Item={"pk": {"S": f"p{n % 7}"}, "sk": {"N": str(n)}, "x": {"S": "y" * 9000}})
    tally = Tally(("pk", "sk"))
    retry = RetryPolicy(clock=FakeClock())
    counts, start, calls = [], None, 0
    while True:
        counted, start = count_segment(
            client,
            table,
            0,
            1,
            consistent=False,
            budget=None,
            retry=retry,
            tally=tally,
            start=key_from_json(start),
            should_stop=lambda: True,
        )
        start = json.loads(json.dumps(key_to_json(start)))  # as the state machine carries it between calls
        counts.append(counted)
        calls += 1
        if start is None:
            break
    assert sum(counts) == 150 and calls >= 2, counts
