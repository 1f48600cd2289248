"""The local driver: apply exports in order, each one's data files in parallel, chunk by chunk.

The same chunk function runs in the writer Lambda; here each worker thread steps the chunks of a few files in
turn (spread.py), taking files in an order spread over the keyspace, so the table's partitions share the load.
Exports are applied strictly one after another: a later incremental export must not land before the one
it follows, so when any file of an export fails, the exports after it are not started (their files are
reported as skipped) — the report says how far each file got, and a second run finishes the job.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import DataFileError, RestoreError
from ..export.manifest import DataFile, Export
from ..export.supersede import Winners, find_superseded
from ..retry import RetryPolicy
from ..write.budget import WriteBudget
from ..write.writer import BatchWriter
from .chunk import chunk_steps
from .plan import TargetTable, parser_for
from .progress import Progress
from .rejects import RejectsFile
from .report import FileResult
from .spread import SharedQueue, interleave, spread_order

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["RunSettings", "restore"]

# A network failure while streaming a data file is retried from the cursor this many times.
TRANSIENT_READ_ATTEMPTS = 5


@dataclass
class RunSettings:
    workers: int = 4
    max_wcu: float | None = None
    retry: RetryPolicy | None = None
    chunk_seconds: float | None = None  # None: one chunk per file; set, the file is cut as the Lambda cuts it
    revert: bool = False  # undo incremental exports (put OldImage back, delete what was created)
    skip_newer: str | None = None  # conditional writes: keep items whose numeric attribute is newer


def _deadline(seconds: float | None) -> Callable[[int], bool]:
    """A chunk's stop condition: never, or once `seconds` have passed."""
    if seconds is None:
        return lambda lines: False
    deadline = time.monotonic() + seconds
    return lambda lines: time.monotonic() > deadline


def _restore_file(
    export: Export,
    file: DataFile,
    result: FileResult,
    *,
    client: DynamoDBClient,
    table: TargetTable,
    settings: RunSettings,
    budget: WriteBudget | None,
    rejects: RejectsFile,
    progress: Callable[[int, int], None],
    winners: Winners,
) -> Generator[None, None, None]:
    """Write one file chunk by chunk into `result`, pausing between steps (see spread.py)."""
    url = export.folder.url(file.name)
    writer = BatchWriter(
        client,
        table.name,
        table.key_names,
        reject=lambda line, reason, raw: rejects.add(url, line, reason, raw),
        budget=budget,
        retry=settings.retry,
        progress=progress,
        skip_newer=settings.skip_newer,
    )
    parser = parser_for(export, table, revert=settings.revert)
    transient_failures = 0
    while True:
        try:
            chunk = yield from chunk_steps(
                export.folder,
                file,
                parser,
                writer,
                result.line,
                should_stop=_deadline(settings.chunk_seconds),
                winners=winners,
            )
        except DataFileError as err:
            result.line = err.cursor if err.cursor is not None else result.line
            if err.transient and transient_failures < TRANSIENT_READ_ATTEMPTS:
                transient_failures += 1
                time.sleep(min(2.0**transient_failures / 10, 5.0))
                continue
            result.status, result.error = (
                "failed",
                err.reason if err.line is None else f"line {err.line}: {err.reason}",
            )
            return
        except RestoreError as err:
            result.line = err.cursor if err.cursor is not None else result.line
            result.status, result.error = "failed", str(err)
            return
        finally:
            result.counts = writer.counts
        result.line = chunk.line
        if chunk.done:
            result.status = "done"
            return


def restore(
    exports: list[Export],
    table: TargetTable,
    client: DynamoDBClient,
    rejects: RejectsFile,
    settings: RunSettings,
    progress: Progress | None = None,
) -> list[FileResult]:
    """Apply `exports` in order to `table`. Returns one result per data file; never raises for a file's failure."""
    budget = WriteBudget(settings.max_wcu, start_full=False) if settings.max_wcu else None
    results: list[list[FileResult]] = [
        [FileResult(e.url, e.folder.url(f.name), f.item_count) for f in e.files] for e in exports
    ]
    report_progress = progress if progress is not None else (lambda items, units: None)
    failed_before = False
    for export, export_results in zip(exports, results, strict=True):
        if failed_before:
            for r in export_results:
                r.status, r.error = "skipped", "not started: an earlier export did not finish"
            continue
        try:
            winners = find_superseded(export, parser_for(export, table, revert=settings.revert))
        except DataFileError:  # a file unreadable in the first pass fails below, by name, when it is written
            winners = {}
        jobs = SharedQueue(
            _restore_file(
                export,
                file,
                result,
                client=client,
                table=table,
                settings=settings,
                budget=budget,
                rejects=rejects,
                progress=report_progress,
                winners=winners,
            )
            for file, result in spread_order(list(zip(export.files, export_results, strict=True)))
        )
        with ThreadPoolExecutor(max_workers=max(1, settings.workers), thread_name_prefix="writer") as pool:
            for future in [pool.submit(interleave, jobs) for _ in range(max(1, settings.workers))]:
                future.result()
        failed_before = any(r.status != "done" for r in export_results)
    return [r for export_results in results for r in export_results]
