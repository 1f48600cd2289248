"""A model of DynamoDB's partitions, and exports laid out by partition as AWS writes them.

Why: a table is not one bucket of write units. It is cut into partitions by the hash of the partition key,
each with its own limit, and an export writes one data file per slice of that hashed keyspace. A writer
working one file at a time drives about one partition; no local DynamoDB shows that. `PartitionModel` is
the table's side: N partitions, each a token bucket of write units per second (1 KB rounding per item, as
DynamoDB charges), plus the table's total; put in front of dynalite with `FaultProxy.admit_with`, the
writes whose partition (or the table) is out of units come back in `UnprocessedItems`, and a call of
which none fits fails with ProvisionedThroughputExceededException. A `table_wcu` below the partitions' sum
is DynamoDB's adaptive capacity: any partition may take more than the total's even share, up to its own
limit (1,000 WCU/s in AWS), while the table's total holds; with the default, the sum, each partition is held
to its share, which no DynamoDB table does (a stricter model: bench/README.md, the stress cases).

    model = PartitionModel(partitions=8, partition_wcu=250)
    with Dynalite() as d, FaultProxy(d.endpoint) as proxy:
        proxy.admit_with(model)
        ...
        model.stats()

The hash is MD5 of the key value (DynamoDB's own is not public; any uniform hash shows the same
behaviour); the keyspace [0, 2^128) is cut into N equal ranges. `write_partitioned_export` writes an
export whose files each hold one contiguous slice of that keyspace, items in hash order, the manifest
listing files in keyspace order ("keyspace"), the same files listed in a shuffled order ("shuffled"), or
files that each span the whole keyspace, items in no order ("whole"), the layout no real export has.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from ddb_restore.export.records import item_size, write_units

from .sample import SAMPLE_KEY_ATTRIBUTES, SAMPLE_KEY_SCHEMA, write_export

__all__ = [
    "KEYSPACE",
    "LAYOUTS",
    "PartitionModel",
    "create_provisioned_table",
    "key_hash",
    "partition_of",
    "write_partitioned_export",
]

KEYSPACE = 1 << 128
LAYOUTS = ("keyspace", "shuffled", "whole")


def key_hash(value: dict[str, Any]) -> int:
    """Where a partition-key value (DynamoDB JSON: S, N or B in base64) falls in [0, KEYSPACE)."""
    ((tag, inner),) = value.items()
    if tag == "B":
        data = base64.b64decode(inner)
    elif tag == "N":
        data = str(Decimal(inner).normalize()).encode()  # 1.50 and 1.5 are one number, one key
    else:
        data = str(inner).encode()
    return int.from_bytes(hashlib.md5(tag.encode() + b":" + data, usedforsecurity=False).digest(), "big")


def partition_of(value: dict[str, Any], partitions: int) -> int:
    """The partition (0 .. partitions-1) of a partition-key value: its hash's range among N equal ones."""
    return key_hash(value) * partitions // KEYSPACE


class _Bucket:
    """Write units per second, holding at most `burst_seconds` of them; a write is taken whole or not."""

    def __init__(self, rate: float, burst_seconds: float, now: float, full: bool) -> None:
        self.rate = rate
        self.capacity = rate * burst_seconds
        self.tokens = self.capacity if full else 0.0
        self.stamp = now

    def refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now


class PartitionModel:
    """The admission of writes by a table of `partitions` partitions of `partition_wcu` each.

    Called with one BatchWriteItem call's (table, write request) entries, in request order: each write costs
    its item's (or key's, for a delete) write units and is taken while both its partition's bucket and the
    table's hold them. `table_wcu` defaults to the partitions' sum. Thread-safe; the counters describe what
    a writer would see: calls, calls throttled whole, calls handed back in part, units accepted per second.
    `start_full=False` starts every bucket empty: a short bench then measures the steady rate, not the burst.
    """

    def __init__(
        self,
        partitions: int,
        partition_wcu: float,
        *,
        table_wcu: float | None = None,
        key: str = "pk",
        burst_seconds: float = 1.0,
        start_full: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if partitions < 1 or partition_wcu <= 0:
            raise ValueError("a table needs at least one partition and a positive capacity")
        self.partitions = partitions
        self.partition_wcu = float(partition_wcu)
        self.table_wcu = float(table_wcu if table_wcu is not None else partitions * partition_wcu)
        self.key = key
        self.burst_seconds = burst_seconds
        self.start_full = start_full
        self._clock = clock
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Full buckets, zero counters."""
        now = self._clock()
        with self._lock:
            self._buckets = [
                _Bucket(self.partition_wcu, self.burst_seconds, now, self.start_full) for _ in range(self.partitions)
            ]
            self._table = _Bucket(self.table_wcu, self.burst_seconds, now, self.start_full)
            self._calls = self._throttled = self._partial = self._items = self._units = 0
            self._writes = self._refused = 0
            self._per_partition = [0] * self.partitions
            self._per_second: dict[int, int] = defaultdict(int)
            self._first: float | None = None
            self._last: float | None = None

    def __call__(self, entries: list[tuple[str, dict[str, Any]]]) -> list[bool]:
        costs = []
        for _, write in entries:
            item = write["PutRequest"]["Item"] if "PutRequest" in write else write["DeleteRequest"]["Key"]
            costs.append((partition_of(item[self.key], self.partitions), write_units(item_size(item))))
        with self._lock:
            now = self._clock()
            self._table.refill(now)
            taken = []
            for partition, units in costs:
                bucket = self._buckets[partition]
                bucket.refill(now)
                fits = bucket.tokens >= units and self._table.tokens >= units
                if fits:
                    bucket.tokens -= units
                    self._table.tokens -= units
                    self._per_partition[partition] += units
                    self._units += units
                    self._per_second[int(now)] += units
                taken.append(fits)
            self._calls += 1
            kept = sum(taken)
            self._writes += len(taken)
            self._refused += len(taken) - kept
            if kept == 0:
                self._throttled += 1
            else:
                self._items += kept
                self._partial += kept < len(taken)
                self._first = now if self._first is None else self._first
                self._last = now
            return taken

    def stats(self) -> dict[str, Any]:
        """The counters, a copy: `utilisation` is the units accepted over the span from the first accepted
        write to the last, ÷ the table's capacity; `throttled_share` the calls throttled whole ÷ all calls (what
        CloudWatch's ThrottledRequests counts for BatchWriteItem); `refused_share` the writes refused, whole
        calls' and those handed back, ÷ all writes sent (WriteThrottleEvents counts each refused write)."""
        with self._lock:
            span = (self._last or 0.0) - (self._first or 0.0)
            seconds = sorted(self._per_second)
            return {
                "calls": self._calls,
                "throttled_calls": self._throttled,
                "partial_calls": self._partial,
                "items": self._items,
                "write_units": self._units,
                "per_partition": list(self._per_partition),
                "per_second": [self._per_second.get(s, 0) for s in range(seconds[0], seconds[-1] + 1)]
                if seconds
                else [],
                "span": span,
                "utilisation": self._units / (span * self.table_wcu) if span > 0 else 0.0,
                "throttled_share": self._throttled / self._calls if self._calls else 0.0,
                "refused_writes": self._refused,
                "refused_share": self._refused / self._writes if self._writes else 0.0,
            }


def write_partitioned_export(
    root: Path,
    items: Sequence[dict[str, Any]],
    *,
    files: int,
    layout: str = "keyspace",
    key: str = "pk",
    export_id: str = "01700000000000-partitn1",
    seed: int = 0,
) -> Path:
    """An export of `items` in `files` data files laid out as `layout` says (see the module docstring).

    Returns the export folder. `len(items)` must be a multiple of `files`: every file holds the same count.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    if files < 1 or len(items) % files:
        raise ValueError(f"{len(items)} items do not cut into {files} files of one size")
    per_file = len(items) // files
    ordered = list(items) if layout == "whole" else sorted(items, key=lambda item: key_hash(item[key]))
    if layout == "whole":
        random.Random(seed).shuffle(ordered)
    # write_export deals records to files in turn (record i to file i % files): dealt in this order, file n
    # gets the n-th slice of `ordered`, in its order.
    dealt = [ordered[f * per_file + j] for j in range(per_file) for f in range(files)]
    records = [json.dumps({"Item": item}, ensure_ascii=False) for item in dealt]
    folder = write_export(root, records, export_id=export_id, files=files, empty_files=0)
    if layout == "shuffled":
        manifest = folder / "manifest-files.json"
        lines = manifest.read_text().splitlines()
        random.Random(seed).shuffle(lines)
        body = ("\n".join(lines) + "\n").encode()
        manifest.write_bytes(body)
        (folder / "manifest-files.md5").write_text(hashlib.md5(body).hexdigest())
    return folder


def create_provisioned_table(client: Any, name: str, wcu: int) -> str:
    """A table for the sample key schema with `wcu` provisioned write units (what the plan reads as the
    table's capacity), ACTIVE on return."""
    client.create_table(
        TableName=name,
        KeySchema=SAMPLE_KEY_SCHEMA,
        AttributeDefinitions=SAMPLE_KEY_ATTRIBUTES,
        BillingMode="PROVISIONED",
        ProvisionedThroughput={"ReadCapacityUnits": max(1, wcu), "WriteCapacityUnits": wcu},
    )
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 50})
    return name
