"""What a verify will read, printed before it reads: read units and time.

Read-back: each export's records × their average size in read units (4 KB rounding; eventually consistent
half), × the `--sample` fraction. An incremental export's `billedSizeBytes` is a billing minimum (10 MB for a
handful of records), so its records are priced at the full export's average size, or 4 KB without one.
The count: the full export's bytes once more, in 4 KB units (a Scan rounds per page, not per item).
Both are estimates from the manifests: the report gives what DynamoDB actually charged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..export.manifest import Export
from .readback import half_units

__all__ = ["ReadPlan", "read_plan"]


@dataclass(frozen=True)
class ReadPlan:
    records: int  # records in the exports (a key changed in several of them is read once)
    readback_units: float
    count_units: float
    max_rcu: float | None
    consistent: bool
    sample: float | None

    @property
    def read_units(self) -> float:
        return self.readback_units + self.count_units

    def lines(self) -> list[str]:
        how = "strongly consistent" if self.consistent else "eventually consistent"
        sample = f", a {self.sample:.2%} sample of the keys" if self.sample is not None else ""
        count = (
            f" + ~{self.count_units:,.0f} to count the table (parallel Scan)"
            if self.sample is None
            else " (no count with --sample)"
        )
        if self.max_rcu:
            seconds = self.read_units / self.max_rcu
            when = f"about {seconds:,.0f} s at {self.max_rcu:,.0f} RCU/s (--max-rcu)"
        else:
            when = "as fast as the table answers (no --max-rcu given)"
        return [
            f"verify: {self.records:,} records to read back ({how}{sample}): "
            f"~{self.readback_units:,.0f} read units{count}; {when}"
        ]


def read_plan(exports: Sequence[Export], *, consistent: bool, sample: float | None, max_rcu: float | None) -> ReadPlan:
    fulls = [e for e in exports if not e.incremental]
    full_bytes = sum(e.billed_size_bytes for e in fulls)
    full_items = sum(e.item_count for e in fulls)
    average = full_bytes // full_items if full_items else 4096
    readback = 0.0
    for export in exports:
        own = export.item_count and not export.incremental
        size = export.billed_size_bytes // export.item_count if own else average
        readback += export.item_count * half_units(size, consistent) / 2
    fraction = 1.0 if sample is None else sample
    count = 0.0 if sample is not None else max(1, -(-full_bytes // 4096)) * (1.0 if consistent else 0.5)
    return ReadPlan(sum(e.item_count for e in exports), readback * fraction, count, max_rcu, consistent, sample)
