"""One bounded piece of work on one data file: from a cursor until done or told to stop.

This is the unit both drivers call: the local runner (cli `run`) in a loop per file, the writer Lambda once
per invocation, with the child state machine carrying the cursor between calls. A chunk stops only between
records and flushes its writer before returning, so the cursor it returns — the number of lines applied or
rejected — is exact, and the next chunk resumes at the following line. Writes are idempotent, so a chunk
that dies before returning is simply run again from the previous cursor.

`chunk_steps` is the same chunk as a generator that pauses every few lines: the runner's workers
(spread.py) step several files' chunks in turn so their writes reach several partitions at once.
"""

from __future__ import annotations

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

__all__ = ["ChunkResult", "chunk_steps", "write_chunk"]

# How often (in lines) the stop condition is asked: cheap enough, and fine-grained enough for a deadline.
_CHECK_EVERY = 100
# chunk_steps pauses every this many lines: one batch of 25 small items, so files take turns call by call.
_STEP_LINES = 25


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
) -> ChunkResult:
    """`chunk_steps` run to its end."""
    steps = chunk_steps(folder, file, parser, writer, start_line, should_stop, winners, transform)
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
) -> Generator[None, None, ChunkResult]:
    """Apply the file's records after line `start_line` until the file ends or `should_stop(lines)` says so.

    `should_stop` is asked every few lines with the number of lines this chunk has read so far. `winners`
    (supersede.py) names the keys of an incremental export with several records: the losing ones are skipped,
    before `transform` (transform/) turns each record into the ones to write. All the items of one record share
    its line, so the cursor stays exact through a fan-out.

    A RestoreError leaves with `.cursor` set to the exact line to resume after, so a report can say how far
    the file got: a DataFileError (corrupt, truncated, MD5 or count mismatch) after the records read before
    it were written; a writer's error (retries exhausted...) just before the first record not written.
    """
    line = start_line
    try:
        try:
            with closing(read_lines(folder, file, start_line)) as lines:
                for line_no, text in lines:
                    try:
                        record = parser.parse(text, line_no)
                    except RecordError as err:
                        writer.reject_line(line_no, str(err), text)
                    else:
                        if winners and loses(record, winners, revert=parser.revert):
                            writer.skip_superseded()
                        elif transform is not None:
                            _add_transformed(transform, record, writer)
                        else:
                            writer.add(record)
                    line = line_no
                    if line_no % _STEP_LINES == 0:
                        yield
                    if line_no % _CHECK_EVERY == 0 and should_stop(line_no - start_line):
                        writer.flush()
                        return ChunkResult(line, False, writer.counts)
        except DataFileError:
            writer.flush()  # the records before the break are valid: write them, then report the file
            raise
        writer.flush()
    except RestoreError as err:
        err.cursor = writer.safe_cursor(line)
        raise
    return ChunkResult(line, True, writer.counts)


def _add_transformed(transform: Pipeline, record: Record, writer: BatchWriter) -> None:
    """Queue what the transform makes of `record`; its failure is the record's reject."""
    try:
        results = transform.apply(record, writer.counts)
    except RecordError as err:
        writer.reject_line(record.line, str(err), record.raw)
        return
    if not results:
        writer.skip_filtered()
    for result in results:
        writer.add(result)
