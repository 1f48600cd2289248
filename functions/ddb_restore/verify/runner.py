"""The local driver: find each key's final record, read every data file's final records back in parallel, count.

Exports come in the order `run` applies them (export/series.py checks the chain first). The files of all the
exports are read back at once (reads change nothing, so their order does not matter), `workers` at a time;
then the table is counted with as many Scan segments. One read budget covers both.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..clock import Clock
from ..export.manifest import DataFile, Export
from ..export.records import RecordParser
from ..restore.plan import TargetTable, parser_for
from ..retry import RetryPolicy
from ..write.budget import WriteBudget
from .count import count_items
from .expected import final_state, series_offsets
from .filecheck import check_file
from .readback import ReadBack
from .report import build_report
from .tally import Tally

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["VerifySettings", "Verified", "verify"]


@dataclass(frozen=True)
class VerifySettings:
    clock: Clock
    retry: RetryPolicy
    workers: int = 4
    consistent: bool = False
    sample: float | None = None  # the fraction of keys checked; None: all, and the table is counted
    max_rcu: float | None = None


@dataclass(frozen=True)
class Verified:
    tally: Tally
    expected: int  # items the series leaves in the table (all of them, whatever the sample)
    table_count: int | None  # None with a sample: not counted
    duration_s: float

    def report(self, table: str, exports: Sequence[Export], *, sample: float | None, exact: bool) -> dict[str, Any]:
        """The verify report document (report.py) of this result."""
        return build_report(
            table=table,
            exports=[e.url for e in exports],
            tally=self.tally,
            table_count=self.table_count,
            expected=self.expected,
            sample=sample,
            exact=exact,
            duration_s=self.duration_s,
        )


class _Expected:
    """Counts the final puts of the whole series, sampled or not, across the worker threads."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def add(self, count: int) -> None:
        with self._lock:
            self.count += count


def verify(
    exports: Sequence[Export],
    table: TargetTable,
    client: DynamoDBClient,
    settings: VerifySettings,
    progress: Callable[[int, int], None] | None = None,
) -> Verified:
    """Compare `table` with the final state of `exports` (ordered as `run` applies them)."""
    started = settings.clock.monotonic()
    report_progress = progress or (lambda items, units: None)
    parsers: list[RecordParser] = [parser_for(e, table) for e in exports]
    state = final_state(exports, parsers)
    half_units = settings.max_rcu * 2 if settings.max_rcu else None  # eventually consistent reads cost half a unit
    budget = WriteBudget(half_units, clock=settings.clock, start_full=False) if half_units else None
    retry = settings.retry
    tally = Tally(table.key_names)
    expected = _Expected()

    def check_one(export_index: int, series_file: int, export: Export, file: DataFile) -> None:
        reader = ReadBack(
            client,
            table.name,
            table.key_names,
            tally,
            consistent=settings.consistent,
            budget=budget,
            retry=retry,
            progress=report_progress,
        )
        checked = check_file(
            export.folder,
            file,
            series_file,
            parsers[export_index],
            state,
            reader,
            sample=settings.sample,
            progress=report_progress,
        )
        expected.add(checked.expected)

    with ThreadPoolExecutor(max_workers=max(1, settings.workers), thread_name_prefix="verify") as pool:
        futures = [
            pool.submit(check_one, e, offset + f, export, file)
            for e, (export, offset) in enumerate(zip(exports, series_offsets(exports), strict=True))
            for f, file in enumerate(export.files)
        ]
        for future in futures:
            future.result()
    table_count = None
    if settings.sample is None:
        table_count = count_items(
            client,
            table.name,
            segments=settings.workers,
            consistent=settings.consistent,
            budget=budget,
            retry=retry,
            tally=tally,
        )
    return Verified(tally, expected.count, table_count, settings.clock.monotonic() - started)
