"""No throttle storms (write/rate.py, budget.py) against the partition model: `ddb-restore run` with and
without --max-wcu, 1 KB items and a mix with 2% of ~350 KB items, every item exact.

Why: a restore must not set off a table's throttle alarms: at most 10% of its calls throttled whole (what
CloudWatch's ThrottledRequests counts for BatchWriteItem) when it finds the table's capacity itself, at most 1%
under a budget of 80% of the capacity.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from ddb_restore.cli import main
from support.compare import diff_tables, scan_items
from support.dynalite import Dynalite
from support.faultproxy import FaultProxy
from support.partitions import PartitionModel, create_provisioned_table, write_partitioned_export
from support.tables import point_dynamodb_at

KEYS = ("pk", "sk")
# One xdist worker runs these one after another (`--dist loadgroup`, Makefile): each measures shares of calls
# throttled against a clock, and two of them at once on this 2-core machine slowed each other's writers into
# whole-call throttles (a clean-clone CI run: 1 call of 19 under the budget, while the storm case ran beside it).
pytestmark = pytest.mark.xdist_group("throttle-bounds")


@pytest.fixture
def endpoint(dynalite_server: Dynalite, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, FaultProxy]]:
    with FaultProxy(dynalite_server.endpoint) as proxy:
        point_dynamodb_at(monkeypatch, proxy.endpoint)
        yield dynalite_server.endpoint, proxy


def item(i: int, big_every: int = 0) -> dict[str, Any]:
    """~0.9 KB (one write unit); with `big_every`, every so many ~350 KB (342 units)."""
    size = 350_000 if big_every and i % big_every == big_every - 1 else 880
    return {"pk": {"S": f"user#{i:06d}"}, "sk": {"N": "1"}, "v": {"S": "x" * size}}


def restore(tmp_path: Path, endpoint: tuple[str, FaultProxy], model: PartitionModel, items: list[dict[str, Any]],
            *extra: str) -> dict[str, Any]:  # fmt: skip
    upstream, proxy = endpoint
    folder = write_partitioned_export(tmp_path / "src", items, files=8)
    client = boto3.client("dynamodb", endpoint_url=upstream)
    name = create_provisioned_table(client, f"Bounds-{tmp_path.name}"[:255], int(model.table_wcu))
    proxy.admit_with(model)
    model.reset()
    report = tmp_path / "report.json"
    assert main(["run", str(folder), "--table", name, "--workers", "2", "--report", str(report), *extra]) == 0
    assert diff_tables(items, scan_items(client, name), KEYS) == []
    return json.loads(report.read_text())


def test_without_a_budget_at_most_a_tenth_of_the_calls_are_throttled(tmp_path: Path, endpoint: Any) -> None:
    model = PartitionModel(partitions=4, partition_wcu=100, start_full=False)
    report = restore(tmp_path, endpoint, model, [item(i) for i in range(1600)])
    stats = model.stats()
    assert stats["throttled_share"] <= 0.10, stats
    assert report["throttled_share"] <= 0.10
    assert report["write_calls"] == stats["calls"]


def test_without_a_budget_big_items_do_not_set_off_a_storm(tmp_path: Path, endpoint: Any) -> None:
    model = PartitionModel(partitions=2, partition_wcu=400, start_full=False)
    # 1,200 items (~80 calls): a share of calls measured on ~25 calls moves by 4% with each one throttled.
    restore(tmp_path, endpoint, model, [item(i, big_every=50) for i in range(1200)])
    assert model.stats()["throttled_share"] <= 0.10, model.stats()


def test_a_budget_of_80_percent_is_all_but_never_throttled_on_mixed_items(tmp_path: Path, endpoint: Any) -> None:
    model = PartitionModel(partitions=2, partition_wcu=400, start_full=False)
    restore(tmp_path, endpoint, model, [item(i, big_every=50) for i in range(400)], "--max-wcu", "640")
    stats = model.stats()
    assert stats["write_units"] / stats["span"] <= 640 * 1.05
    assert stats["throttled_share"] <= 0.01, stats
