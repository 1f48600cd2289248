"""What the target table can take, how many files to write at once to reach it, and what the plan says about both.

A restore's rate is bounded by the table: its provisioned WCU, or an on-demand table's ceiling
(`OnDemandThroughput.MaxWriteRequestUnits`, when set); by every GSI with provisioned WCU of its own (a GSI that
throttles holds the table's writes back); and at first by its warm throughput, what it takes at once (AWS: a new
on-demand table 4,000 write units a second, which DynamoDB doubles within about 30 minutes as the load grows, so a
cold table throttles a restore faster than that until it has caught up). A budget above any of these is not
reached, it only throttles; the plan says so.

Files at once: a table is cut into partitions of at most 1,000 WCU/s each, and an export holds one file (or more)
per partition's slice of the keyspace, so one file's writer drives about one partition. The plan picks enough files
at once to reach the table's capacity or the budget at that rate a file — never more than needed, than the files,
or than the stack's cap — and hands them out in spread order (spread.py), so those running at once lie far apart.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .spread import FILES_PER_WORKER

__all__ = [
    "PARTITION_WCU",
    "MAP_MAX_CONCURRENCY",
    "TableCapacity",
    "FilesAtOnce",
    "choose_files_at_once",
    "choose_workers",
    "planned_rate",
    "capacity_lines",
    "prewarm_target",
]

PARTITION_WCU = 1000.0  # what one partition takes, and so about what one file's writer drives
MAP_MAX_CONCURRENCY = 10_000  # a Distributed Map's most child executions at once
ON_DEMAND_DOUBLING_MINUTES = 30  # AWS: an on-demand table takes up to double its previous peak within 30 minutes


@dataclass(frozen=True)
class TableCapacity:
    """The write side of DescribeTable: what bounds the rate a table takes."""

    on_demand: bool = False
    provisioned_wcu: int | None = None
    on_demand_max_wcu: int | None = None  # OnDemandThroughput.MaxWriteRequestUnits (-1 or absent: none)
    gsi_wcu: tuple[tuple[str, int], ...] = ()  # GSIs with provisioned WCU of their own
    warm_wcu: int | None = None  # WarmThroughput.WriteUnitsPerSecond: what it takes at once
    warm_status: str | None = None

    @classmethod
    def from_description(cls, desc: Mapping[str, Any]) -> TableCapacity:
        on_demand = desc.get("BillingModeSummary", {}).get("BillingMode") == "PAY_PER_REQUEST"
        max_units = (desc.get("OnDemandThroughput") or {}).get("MaxWriteRequestUnits")
        gsis = tuple(
            (g["IndexName"], int(wcu))
            for g in desc.get("GlobalSecondaryIndexes", [])
            if (wcu := (g.get("ProvisionedThroughput") or {}).get("WriteCapacityUnits"))
        )
        warm = desc.get("WarmThroughput") or {}
        return cls(
            on_demand=on_demand,
            provisioned_wcu=None if on_demand else (desc.get("ProvisionedThroughput") or {}).get("WriteCapacityUnits"),
            on_demand_max_wcu=int(max_units) if on_demand and max_units and max_units > 0 else None,
            gsi_wcu=() if on_demand else gsis,
            warm_wcu=warm.get("WriteUnitsPerSecond"),
            warm_status=warm.get("Status"),
        )

    def ceiling(self) -> tuple[float | None, str]:
        """The most write units a second the table takes (None: no ceiling it states), and what sets it."""
        limits = []
        if self.provisioned_wcu:
            limits.append((float(self.provisioned_wcu), f"the table's provisioned {self.provisioned_wcu:,} WCU"))
        if self.on_demand_max_wcu:
            limits.append((float(self.on_demand_max_wcu), f"its on-demand maximum {self.on_demand_max_wcu:,} WCU"))
        limits += [(float(wcu), f"GSI {name}'s provisioned {wcu:,} WCU") for name, wcu in self.gsi_wcu]
        if not limits:
            return None, "an on-demand table with no maximum"
        return min(limits)


@dataclass(frozen=True)
class FilesAtOnce:
    count: int
    reason: str


def choose_files_at_once(
    files: int, max_wcu: float | None, capacity: TableCapacity, *, cap: int, cap_name: str, per_file_wcu: float
) -> FilesAtOnce:
    """Enough files at once to reach the budget or the table's ceiling at `per_file_wcu` a file; never more than
    needed, than `files`, than `cap` (named `cap_name` in the reason) or a Distributed Map's limit."""
    ceiling, what = capacity.ceiling()
    target: float | None = ceiling
    source = f"{what} (below the budget)" if max_wcu else what
    if max_wcu and (ceiling is None or max_wcu <= ceiling):
        target, source = max_wcu, "the budget"
    limit, limit_name = min((cap, cap_name), (MAP_MAX_CONCURRENCY, "a Distributed Map's limit"))
    files = max(1, files)
    if target is None:
        count = min(files, limit)
        why = f"{source}: as many as allowed ({limit_name} {limit:,}, {files:,} files)"
        return FilesAtOnce(count, why)
    needed = max(1, math.ceil(target / per_file_wcu))
    count = min(needed, files, limit)
    why = f"{source}, {target:,.0f} WCU/s, ÷ ~{per_file_wcu:,.0f} WCU/s a file (one partition) = {needed:,}"
    if count < needed:
        why += f"; held to {count:,} by " + (f"the {files:,} files" if count == files else f"{limit_name} {limit:,}")
    return FilesAtOnce(count, why)


def choose_workers(
    given: int | None, default: int, files: int, max_wcu: float | None, capacity: TableCapacity
) -> FilesAtOnce:
    """`ddb-restore run`'s workers (each writes FILES_PER_WORKER files at once): --workers, else the default, but
    never more than the files keep busy; the reason says when the table needs more files at once than that."""
    if given:
        return FilesAtOnce(given, f"--workers {given}, each writing up to {FILES_PER_WORKER} files at once")
    workers = max(1, min(default, math.ceil(files / FILES_PER_WORKER)))
    why = f"the default, min(8, 2 x CPUs) = {default}"
    if workers < default:
        why += f", held to what {files:,} files keep busy"
    why += f"; each writes up to {FILES_PER_WORKER} files at once: {workers * FILES_PER_WORKER:,} at once"
    need = choose_files_at_once(
        files, max_wcu, capacity, cap=MAP_MAX_CONCURRENCY, cap_name="", per_file_wcu=PARTITION_WCU
    )
    if need.count > workers * FILES_PER_WORKER:
        more = math.ceil(need.count / FILES_PER_WORKER)
        why += f"; the table needs {need.count:,} ({need.reason}): give --workers {more}, or restore in AWS (start)"
    return FilesAtOnce(workers, why)


def planned_rate(max_wcu: float | None, capacity: TableCapacity, files_at_once: int, per_file_wcu: float) -> float:
    """The rate the restore is expected to write at: the lowest of the budget, the ceiling and what its files drive."""
    ceiling, _ = capacity.ceiling()
    return min(r for r in (max_wcu, ceiling, files_at_once * per_file_wcu) if r)


def prewarm_target(capacity: TableCapacity, rate: float) -> int | None:
    """The warm throughput to set before writing at `rate`: only for an on-demand table not yet warm for it."""
    if not capacity.on_demand or (capacity.warm_wcu or 0) >= rate:
        return None
    return math.ceil(rate)


def _doublings(warm: float, rate: float) -> int:
    return max(1, math.ceil(math.log2(rate / warm)))


def capacity_lines(
    table: str, capacity: TableCapacity, max_wcu: float | None, rate: float, *, prewarm: bool
) -> list[str]:
    """The plan's warnings and notes about the table's capacity, for a restore writing at `rate` WCU/s."""
    out = []
    if max_wcu:
        if capacity.provisioned_wcu and max_wcu > capacity.provisioned_wcu:
            out.append(
                f"warning: the budget {max_wcu:,.0f} WCU/s is above table {table}'s provisioned "
                f"{capacity.provisioned_wcu:,} WCU: writes past that are throttled (raise its WCU, or lower the budget)"
            )
        if capacity.on_demand_max_wcu and max_wcu > capacity.on_demand_max_wcu:
            out.append(
                f"warning: the budget {max_wcu:,.0f} WCU/s is above on-demand table {table}'s maximum "
                f"{capacity.on_demand_max_wcu:,} write request units a second (OnDemandThroughput): writes past "
                "that are throttled"
            )
    wanted = max_wcu or capacity.provisioned_wcu or rate  # what the restore would write at, but for its GSIs
    for name, wcu in capacity.gsi_wcu:
        if wanted > wcu:
            out.append(
                f"warning: GSI {name} of {table} has {wcu:,} WCU, below the {wanted:,.0f} WCU/s the restore would "
                "write: a GSI that throttles holds the table's writes back (raise its WCU, or lower the budget)"
            )
    target = prewarm_target(capacity, rate)
    if prewarm:
        if target is None:
            why = (
                f"it is warm for {capacity.warm_wcu or 0:,} WCU/s, the {rate:,.0f} WCU/s planned or more"
                if capacity.on_demand
                else "a provisioned table's rate is its provisioned WCU"
            )
            out.append(f"prewarm: nothing to do ({why})")
        else:
            out.append(
                f"prewarm: warm throughput of {table} raised from {capacity.warm_wcu or 0:,} to {target:,} write "
                "units a second before the first write (UpdateTable WarmThroughput, then a wait until ACTIVE): "
                "a one-time charge for the increase (DynamoDB pricing), and warm throughput is not lowered again"
            )
    elif target is not None:
        warm = capacity.warm_wcu or 4000
        doublings = _doublings(warm, target)
        out.append(
            f"note: on-demand table {table} is warm for {warm:,} WCU/s: at ~{target:,} WCU/s writes throttle at first, "
            f"until DynamoDB has doubled its capacity {doublings} time(s) (up to double the previous peak every "
            f"~{ON_DEMAND_DOUBLING_MINUTES} min: ~{doublings * ON_DEMAND_DOUBLING_MINUTES} min); --prewarm "
            '(or "prewarm": true) sets its warm throughput first, for a one-time charge'
        )
    return out
