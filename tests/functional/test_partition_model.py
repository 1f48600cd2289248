"""The partition model (support/partitions.py) throttles as a partitioned table does, and its exports are laid
out as AWS lays them out.

Why: the throughput benches and tests judge the restore by this model; a model that took every write, or
whose files were not slices of the keyspace, would make any writer look fast.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from ddb_restore.export.manifest import load_export
from ddb_restore.export.storage import LocalFolder
from support.dynalite import Dynalite
from support.faultproxy import FaultProxy
from support.partitions import (
    KEYSPACE,
    PartitionModel,
    create_provisioned_table,
    key_hash,
    partition_of,
    write_partitioned_export,
)

TABLE = "PartitionedTable"


class Clock:
    """A clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def put(pk: str, sk: int = 0, size: int = 0) -> tuple[str, dict[str, Any]]:
    item = {"pk": {"S": pk}, "sk": {"N": str(sk)}}
    if size:
        item["v"] = {"S": "x" * size}
    return (TABLE, {"PutRequest": {"Item": item}})


def keys_in(partition: int, partitions: int, count: int) -> list[str]:
    """`count` distinct string keys that fall in `partition`."""
    found = (f"k{i}" for i in range(10_000) if partition_of({"S": f"k{i}"}, partitions) == partition)
    return [next(found) for _ in range(count)]


def items_of(n: int) -> list[dict[str, Any]]:
    return [{"pk": {"S": f"user#{i}"}, "sk": {"N": str(i % 7)}, "v": {"S": "x" * 100}} for i in range(n)]


def test_keys_spread_evenly_over_partitions() -> None:
    counts = [0] * 8
    for i in range(8000):
        counts[partition_of({"S": f"user#{i}"}, 8)] += 1
    assert all(850 <= c <= 1150 for c in counts), counts


def test_equal_numbers_hash_alike() -> None:
    assert key_hash({"N": "1.50"}) == key_hash({"N": "1.5"}) != key_hash({"S": "1.5"})
    assert 0 <= key_hash({"B": "AAE="}) < KEYSPACE


def test_a_partition_out_of_units_refuses_only_its_writes() -> None:
    clock = Clock()
    model = PartitionModel(partitions=4, partition_wcu=3, clock=clock)
    hot, cold = keys_in(0, 4, 5), keys_in(1, 4, 1)
    taken = model([put(k) for k in hot] + [put(cold[0])])
    assert taken == [True, True, True, False, False, True]
    assert model.stats()["partial_calls"] == 1
    # each write refused is a WriteThrottleEvent, though the call was not throttled whole
    assert (model.stats()["refused_writes"], model.stats()["refused_share"]) == (2, 2 / 6)


def test_a_call_of_which_nothing_fits_is_throttled() -> None:
    clock = Clock()
    model = PartitionModel(partitions=2, partition_wcu=2, clock=clock)
    keys = keys_in(0, 2, 3)
    model([put(k) for k in keys[:2]])
    assert model([put(keys[2])]) == [False]
    stats = model.stats()
    assert (stats["calls"], stats["throttled_calls"], stats["items"], stats["write_units"]) == (2, 1, 2, 2)
    assert stats["throttled_share"] == 0.5
    assert (stats["refused_writes"], stats["refused_share"]) == (1, 1 / 3)


def test_items_cost_write_units_rounded_up_per_kb() -> None:
    clock = Clock()
    model = PartitionModel(partitions=1, partition_wcu=5, clock=clock)
    # ~1.5 KB and ~2.5 KB: 2 + 3 units fit in 5; a third item of 1 unit no longer does.
    assert model([put("a", size=1500), put("b", size=2500), put("c")]) == [True, True, False]
    assert model.stats()["write_units"] == 5


def test_buckets_refill_with_time_up_to_one_second() -> None:
    clock = Clock()
    model = PartitionModel(partitions=1, partition_wcu=10, clock=clock)
    assert sum(model([put(f"a{i}") for i in range(10)])) == 10
    clock.now += 0.5
    assert sum(model([put(f"b{i}") for i in range(10)])) == 5
    clock.now += 60  # an idle minute refills one second's worth, not sixty
    assert sum(model([put(f"c{i}") for i in range(20)])) == 10


def test_buckets_may_start_empty() -> None:
    clock = Clock()
    model = PartitionModel(partitions=1, partition_wcu=10, start_full=False, clock=clock)
    assert model([put("a")]) == [False]
    clock.now += 0.5
    assert sum(model([put(f"b{i}") for i in range(10)])) == 5


def test_the_tables_total_binds_before_the_partitions() -> None:
    clock = Clock()
    model = PartitionModel(partitions=4, partition_wcu=10, table_wcu=12, clock=clock)
    writes = [put(k) for p in range(4) for k in keys_in(p, 4, 5)]
    assert sum(model(writes)) == 12


@pytest.fixture(scope="module")
def dynalite() -> Iterator[Dynalite]:
    with Dynalite() as d:
        yield d


def test_through_the_proxy_unprocessed_items_are_the_refused_ones(dynalite: Dynalite) -> None:
    model = PartitionModel(partitions=4, partition_wcu=3)
    with FaultProxy(dynalite.endpoint) as proxy:
        proxy.admit_with(model)
        client = boto3.client(
            "dynamodb",
            endpoint_url=proxy.endpoint,
            region_name="us-east-1",
            aws_access_key_id="x",
            aws_secret_access_key="x",
            config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
        )
        create_provisioned_table(client, TABLE, wcu=12)
        hot, cold = keys_in(2, 4, 5), keys_in(3, 4, 1)
        writes = [put(k)[1] for k in [*hot, *cold]]
        response = client.batch_write_item(RequestItems={TABLE: writes})
        assert response["UnprocessedItems"] == {TABLE: writes[3:5]}
        with pytest.raises(ClientError) as raised:
            client.batch_write_item(RequestItems={TABLE: writes[3:5]})
        assert raised.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
        stored = {item["pk"]["S"] for item in client.scan(TableName=TABLE)["Items"]}
        assert client.describe_table(TableName=TABLE)["Table"]["ProvisionedThroughput"]["WriteCapacityUnits"] == 12
    assert stored == {*hot[:3], cold[0]}


def file_hashes(folder: Path) -> list[list[int]]:
    """Per data file in manifest order, the hashes of its items' partition keys in file order."""
    export = load_export(LocalFolder(folder))
    out = []
    for file in export.files:
        with export.folder.open(file.name) as raw:
            lines = gzip.decompress(raw.read()).splitlines()
        out.append([key_hash(json.loads(line)["Item"]["pk"]) for line in lines])
    return out


def test_keyspace_layout_gives_contiguous_slices_in_order(tmp_path: Path) -> None:
    hashes = file_hashes(write_partitioned_export(tmp_path, items_of(160), files=8))
    assert [len(h) for h in hashes] == [20] * 8
    flat = [h for file in hashes for h in file]
    assert flat == sorted(flat)  # items in hash order in each file, files in keyspace order


def test_shuffled_layout_lists_the_same_files_in_another_order(tmp_path: Path) -> None:
    keyspace = file_hashes(write_partitioned_export(tmp_path / "a", items_of(160), files=8))
    shuffled = file_hashes(write_partitioned_export(tmp_path / "b", items_of(160), files=8, layout="shuffled"))
    assert shuffled != keyspace
    assert sorted(shuffled) == keyspace


def test_whole_layout_files_span_the_keyspace(tmp_path: Path) -> None:
    hashes = file_hashes(write_partitioned_export(tmp_path, items_of(160), files=4, layout="whole"))
    for file in hashes:
        assert {h * 4 // KEYSPACE for h in file} == {0, 1, 2, 3}
        assert file != sorted(file)


def test_uneven_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="do not cut into 3 files"):
        write_partitioned_export(tmp_path, items_of(10), files=3)
