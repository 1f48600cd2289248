"""The expected state of a table after a series of exports: which record sets each key's final state.

A restore applies the exports in order (export/series.py) and, within an incremental export, the record with
the highest WriteTimestampMicros of a key wins (export/supersede.py). So the final state of a key is its last
record in the series: a put (the item expected, exactly) or a delete (the key expected absent).

Only incremental exports can supersede: a full export holds each item once and comes first. So one pass over
the incremental exports' files keeps, for each key they touch, the record that wins: 64-bit key hash → one
int ranking (export, timestamp, position), ~145 bytes per *changed* key at the pass's peak (bench/verify.py
measured 143); the full export's keys cost nothing. The result is kept as two sorted arrays (hash, position
of the winner): 16 bytes per changed key, the form a read-back Lambda loads from the run bucket (`to_bytes`,
`from_bytes`). A position is the file's index in the whole series (every export's files in order) and the
line in it. The read-back then reads every file again and checks only the records that win. Two keys whose
64-bit hashes collide (~n²/2⁶⁵) would leave one of them unchecked, never misreported.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing

from ..errors import RecordError
from ..export.datafile import read_lines
from ..export.manifest import DataFile, Export
from ..export.records import Record, RecordParser
from ..export.supersede import key_hash

__all__ = ["FinalState", "final_state", "file_records", "in_sample", "series_offsets"]

_SPACE = 1 << 64
_LOW = (1 << 64) - 1
_HEADER = 8  # bytes: the number of keys, little-endian


def _position(series_file: int, line: int) -> int:
    if series_file >= 1 << 32 or line >= 1 << 32:
        raise ValueError(f"file {series_file} line {line}: a series position holds 2^32 files of 2^32 lines")
    return (series_file << 32) | line


def series_offsets(exports: Sequence[Export]) -> list[int]:
    """The series index of each export's first file: export i's file j is file `offsets[i] + j` of the series."""
    offsets, total = [], 0
    for export in exports:
        offsets.append(total)
        total += len(export.files)
    return offsets


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
    """For the keys incremental exports touch, the position of the record that leaves the key's final state:
    `hashes` sorted, `positions[i]` the winner of `hashes[i]`."""

    def __init__(self, hashes: array[int], positions: array[int]) -> None:
        self.hashes = hashes
        self.positions = positions

    def __len__(self) -> int:
        return len(self.hashes)

    def is_final(self, series_file: int, record: Record) -> bool:
        """True when `record` (in file `series_file` of the series) is the last word on its key."""
        digest = key_hash(record.key)
        at = bisect_left(self.hashes, digest)
        if at == len(self.hashes) or self.hashes[at] != digest:
            return True  # a key no incremental export touches is in the full export only, once: final
        return self.positions[at] == _position(series_file, record.line)

    def to_bytes(self) -> bytes:
        return len(self.hashes).to_bytes(_HEADER, "little") + self.hashes.tobytes() + self.positions.tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> FinalState:
        count = int.from_bytes(data[:_HEADER], "little")
        hashes, positions = array("Q"), array("Q")
        hashes.frombytes(data[_HEADER : _HEADER + 8 * count])
        positions.frombytes(data[_HEADER + 8 * count :])
        if len(positions) != count:
            raise ValueError(f"final state of {count} keys holds {len(positions)} positions")
        return cls(hashes, positions)


def final_state(exports: Sequence[Export], parsers: Sequence[RecordParser]) -> FinalState:
    """One pass over the incremental exports of the ordered series: the winning record of each key they touch.

    A later export wins; within one, the higher WriteTimestampMicros, then the later position (as `run`'s
    order of files would leave it). All three are one int per key, compared once."""
    ranks: dict[int, int] = {}
    for export_index, (export, parser, offset) in enumerate(
        zip(exports, parsers, series_offsets(exports), strict=True)
    ):
        if not export.incremental:
            continue
        for file_index, file in enumerate(export.files):
            for record in file_records(export, file, parser):
                digest = key_hash(record.key)
                stamp = record.timestamp + 1 if record.timestamp is not None else 0
                rank = (export_index << 128) | (stamp << 64) | _position(offset + file_index, record.line)
                if rank > ranks.get(digest, -1):
                    ranks[digest] = rank
    hashes = array("Q", sorted(ranks))
    positions = array("Q", (ranks[digest] & _LOW for digest in hashes))
    return FinalState(hashes, positions)


def in_sample(record: Record, fraction: float | None) -> bool:
    """Deterministic `--sample`: the same keys are picked on every run, whatever the order of the files."""
    return fraction is None or key_hash(record.key) < fraction * _SPACE
