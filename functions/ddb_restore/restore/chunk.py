"""One bounded piece of work on one data file: from a cursor until done or told to stop.

This is the unit both drivers call: the local runner (cli `run`) in a loop per file, the writer Lambda once
per invocation, with the child state machine carrying the cursor between calls. A chunk stops only between
records and flushes its writer before returning, so the cursor it returns — the number of lines applied or
rejected — is exact, and the next chunk resumes at the following line. Writes are idempotent, so a chunk
that dies before returning is simply run again from the previous cursor.

`chunk_steps` is the same chunk as a generator that pauses every few lines, and as soon as the table refuses
a write, yielding when its writer is ready again (`BatchWriter.ready_at`): the runner's workers (spread.py)
step several files' chunks in turn so their writes reach several partitions at once, and step the others
while one waits for room.

With a reorder `window` (records; 0: off), a chunk reads up to that many records (and at most
`WINDOW_BYTES` of items) before writing any, then writes them ordered by a hash of their key, so that a file
spanning several partitions of the target (a table with more partitions than its source had) writes to
them at once rather than one after another. The order is deterministic, records of one key keep theirs, and
the writer is flushed at the end of each window: the cursor moves only at window ends (a chunk stops only
there), so resume stays exact. When the writer gives up inside a window, the cursor is the window's start:
every line before it is in the table, and some of the window may be too (written again on resume:
idempotent). A file whose stream breaks writes the window read so far in file order, as without a window.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Generator
from contextlib import closing
from dataclasses import dataclass, field

from ..errors import DataFileError, RecordError, RestoreError
from ..export.datafile import read_lines
from ..export.manifest import DataFile
from ..export.records import Record, RecordParser
from ..export.storage import Folder
from ..export.supersede import Winners, loses
from ..transform import Pipeline
from ..write.writer import BatchWriter, WriteCounts

__all__ = ["ChunkResult", "WINDOW_BYTES", "chunk_steps", "write_chunk"]

# How often (in lines) the stop condition is asked: cheap enough, and fine-grained enough for a deadline.
_CHECK_EVERY = 100
# chunk_steps pauses every this many lines: one batch of 25 small items, so files take turns call by call.
_STEP_LINES = 25
# A reorder window holds at most this many bytes of items (each record keeps its line and its request: about
# three times as much in memory), so a window of 400 KB items stays small.
WINDOW_BYTES = 8 * 1024 * 1024


@dataclass
class ChunkResult:
    line: int  # cursor: lines of the file applied or rejected so far
    done: bool  # the file was read to its end and its MD5 and item count verified
    counts: WriteCounts = field(default_factory=WriteCounts)


def write_chunk(
    folder: Folder,
    file: DataFile,
    parser: RecordParser,
    writer: BatchWriter,
    start_line: int = 0,
    should_stop: Callable[[int], bool] = lambda lines: False,
    winners: Winners | None = None,
    transform: Pipeline | None = None,
    window: int = 0,
) -> ChunkResult:
    """`chunk_steps` run to its end."""
    steps = chunk_steps(folder, file, parser, writer, start_line, should_stop, winners, transform, window)
    while True:
        try:
            next(steps)
        except StopIteration as finished:
            result: ChunkResult = finished.value
            return result


def chunk_steps(
    folder: Folder,
    file: DataFile,
    parser: RecordParser,
    writer: BatchWriter,
    start_line: int = 0,
    should_stop: Callable[[int], bool] = lambda lines: False,
    winners: Winners | None = None,
    transform: Pipeline | None = None,
    window: int = 0,
) -> Generator[float, None, ChunkResult]:
    """Apply the file's records after line `start_line` until the file ends or `should_stop(lines)` says so.

    `should_stop` is asked every few lines with the number of lines this chunk has read so far. `winners`
    (supersede.py) names the keys of an incremental export with several records: the losing ones are skipped,
    before `transform` (transform/) turns each record into the ones to write. All the items of one record share
    its line, so the cursor stays exact through a fan-out. `window` turns the reorder window on (see the module
    docstring); a window holds the export's own records, transformed as they are written.

    A RestoreError leaves with `.cursor` set to the exact line to resume after, so a report can say how far
    the file got: a DataFileError (corrupt, truncated, MD5 or count mismatch) after the records read before
    it were written; a writer's error (retries exhausted...) just before the first record not written.
    """
    line = boundary = start_line  # boundary: the end of the last window written (with no window: unused)
    held: list[Record] = []  # the window's records, not yet given to the writer
    held_bytes = 0
    try:
        try:
            with closing(read_lines(folder, file, start_line)) as lines:
                for line_no, text in lines:
                    before = writer.ready_at
                    try:
                        record = parser.parse(text, line_no)
                    except RecordError as err:
                        writer.reject_line(line_no, str(err), text)
                    else:
                        if winners and loses(record, winners, revert=parser.revert):
                            writer.skip_superseded()
                        elif window:
                            held.append(record)
                            held_bytes += record.size
                        else:
                            _add(writer, record, transform)
                    line = line_no
                    stop = line_no % _CHECK_EVERY == 0 and should_stop(line_no - start_line)
                    if window and (stop or len(held) >= window or held_bytes >= WINDOW_BYTES):
                        yield from _write_window(writer, held, transform)
                        held, held_bytes, boundary = [], 0, line
                    elif line_no % _STEP_LINES == 0 or writer.ready_at > before:
                        yield writer.ready_at
                    if stop:
                        yield from writer.flush_steps()
                        return ChunkResult(line, False, writer.counts)
        except DataFileError:
            # The records before the break are valid: write them (in file order), then report the file.
            for record in held:
                _add(writer, record, transform)
            writer.flush()
            boundary = line
            raise
        yield from _write_window(writer, held, transform)
    except RestoreError as err:
        err.cursor = min(boundary, writer.safe_cursor(line)) if window else writer.safe_cursor(line)
        raise
    return ChunkResult(line, True, writer.counts)


def _add(writer: BatchWriter, record: Record, transform: Pipeline | None) -> None:
    """Queue `record`, or what the transform makes of it; the transform's failure is the record's reject."""
    if transform is None:
        writer.add(record)
        return
    try:
        results = transform.apply(record, writer.counts)
    except RecordError as err:
        writer.reject_line(record.line, str(err), record.raw)
        return
    if not results:
        writer.skip_filtered()
    elif len(results) > 1 and writer.progress:
        writer.progress(1 - len(results), 0)  # progress counts records read; each result counts 1 as written
    for result in results:
        writer.add(result)


def _write_window(
    writer: BatchWriter, records: list[Record], transform: Pipeline | None
) -> Generator[float, None, None]:
    """Write a window's records ordered by a hash of their key (stable: one key's records keep their order),
    pausing every step; on return all are applied or rejected."""
    for n, record in enumerate(sorted(records, key=lambda r: zlib.crc32("\0".join(r.key).encode())), 1):
        before = writer.ready_at
        _add(writer, record, transform)
        if n % _STEP_LINES == 0 or writer.ready_at > before:
            yield writer.ready_at
    yield from writer.flush_steps()
