"""One bounded piece of a read-back: one data file's final records from a cursor, until done or told to stop.

The unit both drivers call: the local runner once per file (never stopped), the verify Lambda once per
invocation, with the parent's Distributed Map carrying the cursor between calls. It stops only between lines
and `ReadBack.check` settles every record handed to it before returning, so the cursor (the last line read)
is exact and the next chunk starts after it. Reads change nothing: a chunk that dies is run again from its
cursor, its tally discarded with it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass

from ..errors import RecordError
from ..export.datafile import read_lines
from ..export.manifest import DataFile
from ..export.records import Record, RecordParser
from ..export.storage import Folder
from .expected import FinalState, in_sample
from .readback import ReadBack

__all__ = ["FileCheck", "check_file"]

_CHECK_EVERY = 100  # lines between two questions to `should_stop`


@dataclass
class FileCheck:
    line: int  # cursor: the last line of the file read so far
    done: bool  # the file was read to its end (MD5 and count checked)
    expected: int  # final puts seen by this chunk: items the series leaves in the table, sampled or not


def check_file(
    folder: Folder,
    file: DataFile,
    series_file: int,
    parser: RecordParser,
    state: FinalState,
    reader: ReadBack,
    *,
    start_line: int = 0,
    should_stop: Callable[[int], bool] = lambda lines: False,
    sample: float | None = None,
    progress: Callable[[int, int], None] = lambda items, units: None,
) -> FileCheck:
    """Read back the final records of `file` (file `series_file` of the series) after line `start_line`."""
    result = FileCheck(start_line, True, 0)
    if not file.item_count:
        return result

    def final_records() -> Iterator[Record]:
        with closing(read_lines(folder, file, start_line)) as lines:
            for line_no, text in lines:
                result.line = line_no
                try:
                    record = parser.parse(text, line_no)
                except RecordError:
                    reader.tally.add(rejected=1)
                    continue
                progress(1, 0)
                if state.is_final(series_file, record):
                    result.expected += record.op == "put"
                    if in_sample(record, sample):
                        yield record
                if line_no % _CHECK_EVERY == 0 and should_stop(line_no - start_line):
                    result.done = False
                    return

    reader.check(final_records())
    return result
