"""The local driver: apply exports in order, each one's data files in parallel, chunk by chunk.

The same chunk function runs in the writer Lambda; here each worker thread steps the chunks of a few files in
turn (spread.py), taking files in an order spread over the keyspace, so the table's partitions share the load.
Exports are applied strictly one after another: a later incremental export must not land before the one
it follows, so when any file of an export fails, the exports after it are not started (their files are
reported as skipped) — the report says how far each file got, and a second run finishes the job.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..clock import Clock
from ..errors import DataFileError, RestoreError
from ..export.manifest import DataFile, Export
from ..export.supersede import Winners, find_superseded
from ..retry import RereadPolicy, RetryPolicy
from ..transform import Pipeline
from ..write.budget import WriteBudget
from ..write.rate import AdaptiveRate
from ..write.writer import BatchWriter
from .capacity import PARTITION_WCU, planned_rate
from .chunk import chunk_steps
from .plan import TargetTable, parser_for
from .progress import Progress
from .rejects import RejectsFile
from .report import FileResult
from .spread import FILES_PER_WORKER, SharedQueue, interleave, spread_order

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["RunSettings", "restore"]


@dataclass(kw_only=True)
class RunSettings:
    """A local run's options, and what the CLI's composition root built for it: the clock every wait and
    deadline reads, the writers' retry policy and the run's one write budget (shared by every writer)."""

    clock: Clock
    retry: RetryPolicy
    budget: WriteBudget | None = None  # None: as fast as the table allows
    rereads: RereadPolicy = field(default_factory=RereadPolicy)  # a data file whose stream broke
    workers: int = 4
    chunk_seconds: float | None = None  # None: one chunk per file; set, the file is cut as the Lambda cuts it
    revert: bool = False  # undo incremental exports (put OldImage back, delete what was created)
    skip_newer: str | None = None  # conditional writes: keep items whose numeric attribute is newer
    transform: Pipeline | None = None  # what each record goes through before it is written (transform/)
    reorder_window: int = 0  # records of a file written in a spread order (chunk.py); 0: file order


class _WorkerRate(threading.local):
    """One adaptive rate per worker thread (rate.py): the thread sends and sleeps for all the files it steps,
    as a writer Lambda does for its one file, so it is the thread that adapts; the threads share nothing."""

    def __init__(self, clock: Clock, ceiling: float | None, share: float) -> None:
        self.rate = AdaptiveRate(clock=clock, ceiling=ceiling, share=share)


def _deadline(seconds: float | None, clock: Clock) -> Callable[[int], bool]:
    """A chunk's stop condition: never, or once `seconds` have passed."""
    if seconds is None:
        return lambda lines: False
    deadline = clock.monotonic() + seconds
    return lambda lines: clock.monotonic() > deadline


def _restore_file(
    export: Export,
    file: DataFile,
    result: FileResult,
    *,
    client: DynamoDBClient,
    table: TargetTable,
    settings: RunSettings,
    rejects: RejectsFile,
    progress: Callable[[int, int], None],
    winners: Winners,
    worker: _WorkerRate,
) -> Generator[float, None, None]:
    """Write one file chunk by chunk into `result`, pausing between steps (see spread.py)."""
    url = export.folder.url(file.name)
    writer = BatchWriter(
        client,
        table.name,
        table.key_names,
        reject=lambda line, reason, raw: rejects.add(url, line, reason, raw),
        budget=settings.budget,
        rate=worker.rate,  # read here, in the worker's thread: this generator is first stepped there
        retry=settings.retry,
        progress=progress,
        skip_newer=settings.skip_newer,
    )
    parser = parser_for(export, table, revert=settings.revert, transform=settings.transform)
    transient_failures = 0
    while True:
        try:
            chunk = yield from chunk_steps(
                export.folder,
                file,
                parser,
                writer,
                result.line,
                should_stop=_deadline(settings.chunk_seconds, settings.clock),
                winners=winners,
                transform=settings.transform,
                window=settings.reorder_window,
            )
        except DataFileError as err:
            result.line = err.cursor if err.cursor is not None else result.line
            if err.transient:
                transient_failures += 1
                wait = settings.rereads.delay(transient_failures)
                if wait is not None:
                    settings.clock.sleep(wait)
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
    progress: Progress | Callable[[int, int], None] | None = None,
) -> list[FileResult]:
    """Apply `exports` in order to `table`. Returns one result per data file; never raises for a file's failure."""
    results: list[list[FileResult]] = [
        [FileResult(e.url, e.folder.url(f.name), f.item_count) for f in e.files] for e in exports
    ]
    report_progress = progress if progress is not None else (lambda items, units: None)
    failed_before = False
    # Each worker's rate also grows by its share of what the plan expects (rate.py), as `run` prints it.
    max_wcu = settings.budget.rate if settings.budget else None
    workers = max(1, settings.workers)
    share = planned_rate(max_wcu, table.capacity, workers * FILES_PER_WORKER, PARTITION_WCU) / workers
    worker = _WorkerRate(settings.clock, max_wcu, share)
    for export, export_results in zip(exports, results, strict=True):
        if failed_before:
            for r in export_results:
                r.status, r.error = "skipped", "not started: an earlier export did not finish"
            continue
        try:
            winners = find_superseded(
                export, parser_for(export, table, revert=settings.revert, transform=settings.transform)
            )
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
                rejects=rejects,
                progress=report_progress,
                winners=winners,
                worker=worker,
            )
            for file, result in spread_order(list(zip(export.files, export_results, strict=True)))
        )
        with ThreadPoolExecutor(max_workers=max(1, settings.workers), thread_name_prefix="writer") as pool:
            for future in [
                pool.submit(interleave, jobs, clock=settings.clock) for _ in range(max(1, settings.workers))
            ]:
                future.result()
        failed_before = any(r.status != "done" for r in export_results)
    return [r for export_results in results for r in export_results]
