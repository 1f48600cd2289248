"""The expected state of a table after a series of exports: which record sets each key's final state.

A restore applies the exports in order (export/series.py) and, within an incremental export, the record with
the highest WriteTimestampMicros of a key wins (export/supersede.py). So the final state of a key is its last
record in the series: a put (the item expected, exactly) or a delete (the key expected absent).

Only incremental exports can supersede: a full export holds each item once and comes first. So one pass over
the incremental exports' files keeps, for each key they touch, the position (export, file, line) of the record
that wins: 64-bit key hash → packed position, a dict entry and two ints (~150 bytes) per *changed* key; the
full export's keys cost nothing. The read-back then reads every file again and checks only the records that
win. Two keys whose 64-bit hashes collide (~n²/2⁶⁵) would leave one of them unchecked, never misreported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import closing

from ..errors import RecordError
from ..export.datafile import read_lines
from ..export.manifest import DataFile, Export
from ..export.records import Record, RecordParser
from ..export.supersede import key_hash

__all__ = ["FinalState", "final_state", "file_records", "in_sample"]

_SPACE = 1 << 64


def _position(export_index: int, file_index: int, line: int) -> int:
    return (export_index << 80) | (file_index << 40) | line


def file_records(
    export: Export, file: DataFile, parser: RecordParser, rejected: Callable[[], None] = lambda: None
) -> Iterator[Record]:
    """The valid records of one data file; `rejected` is called for each line a restore would refuse."""
    if not file.item_count:
        return
    with closing(read_lines(export.folder, file, 0)) as lines:
        for line_no, text in lines:
            try:
                yield parser.parse(text, line_no)
            except RecordError:
                rejected()


class FinalState:
    """For the keys incremental exports touch, the position of the record that leaves the key's final state."""

    def __init__(self, winners: dict[int, int]) -> None:
        self.winners = winners

    def is_final(self, export_index: int, file_index: int, record: Record) -> bool:
        """True when `record` (at this export, file and line) is the last word on its key in the series."""
        winner = self.winners.get(key_hash(record.key))
        # A key no incremental export touches is in the full export only, once: that record is final.
        return winner is None or winner == _position(export_index, file_index, record.line)


def final_state(exports: Sequence[Export], parsers: Sequence[RecordParser]) -> FinalState:
    """One pass over the incremental exports of the ordered series: the winning record of each key they touch."""
    winners: dict[int, int] = {}
    for export_index, (export, parser) in enumerate(zip(exports, parsers, strict=True)):
        if not export.incremental:
            continue
        stamps: dict[int, int] = {}  # within this export, the highest WriteTimestampMicros seen per key
        for file_index, file in enumerate(export.files):
            for record in file_records(export, file, parser):
                digest = key_hash(record.key)
                stamp = record.timestamp if record.timestamp is not None else -1
                if stamp >= stamps.get(digest, stamp):
                    stamps[digest] = stamp
                    winners[digest] = _position(export_index, file_index, record.line)
    return FinalState(winners)


def in_sample(record: Record, fraction: float | None) -> bool:
    """Deterministic `--sample`: the same keys are picked on every run, whatever the order of the files."""
    return fraction is None or key_hash(record.key) < fraction * _SPACE
