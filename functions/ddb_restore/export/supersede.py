"""Within one incremental export, the record with the highest WriteTimestampMicros wins for its key.

AWS describes incremental exports as compacted (one record per changed item), but does not promise it, and
records of one key may sit in different data files, which are written in parallel. So before an incremental
export is applied, one pass over its files finds the keys that occur more than once and the timestamp that
wins for each; the writers then skip (and count) the records that lose. The pass keeps one 64-bit hash per
record, 8 bytes in an array (a set of Python ints would take ~80), and reads the files a second time only
when some hash repeats, to name the keys exactly. In AWS it runs in its own Lambda, once per incremental
export (steps.find_export_superseded).
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Iterable, Iterator
from contextlib import closing

from ..errors import RecordError
from .datafile import read_lines
from .manifest import Export
from .records import Record, RecordParser

__all__ = ["find_superseded", "key_hash", "loses", "Winners"]

Winners = dict[tuple[str, ...], int]  # key → the WriteTimestampMicros that wins for it (negated: earliest wins)


def _records(export: Export, parser: RecordParser) -> Iterator[Record]:
    """Every valid record of the export; bad lines are left to the writers, which reject them by name."""
    for file in export.files:
        if not file.item_count:
            continue
        with closing(read_lines(export.folder, file, 0)) as lines:
            for line_no, text in lines:
                try:
                    yield parser.parse(text, line_no)
                except RecordError:
                    continue


def key_hash(key: tuple[str, ...]) -> int:
    """A record's key as 64 bits: what the pass keeps per record (verify keeps it per changed key too)."""
    return int.from_bytes(hashlib.blake2b("\x00".join(key).encode(), digest_size=8).digest(), "big")


def _repeated(digests: Iterable[int]) -> set[int]:
    """The hashes that occur more than once. They are kept in 256 arrays by their top byte, then each array is
    checked on its own: one set at a time, of 1/256 of the records, and at C speed when all its hashes differ."""
    buckets = [array("Q") for _ in range(256)]
    for digest in digests:
        buckets[digest >> 56].append(digest)
    repeated: set[int] = set()
    for index, bucket in enumerate(buckets):
        buckets[index] = array("Q")  # freed as it goes
        if len(set(bucket)) == len(bucket):
            continue
        seen: set[int] = set()
        for digest in bucket:
            (repeated if digest in seen else seen).add(digest)
    return repeated


def _stamp(record: Record, earliest: bool) -> int:
    """Larger wins. Reverting, the earliest change's OldImage is the state before the window: negate."""
    stamp = record.timestamp if record.timestamp is not None else -1
    return -stamp if earliest else stamp


def find_superseded(export: Export, parser: RecordParser) -> Winners:
    """For each key of the incremental export that has several records: the winning timestamp. {} if none.

    Applying, the latest record of a key wins; reverting (`parser.revert`), the earliest one does."""
    if not export.incremental:
        return {}
    repeated = _repeated(key_hash(record.key) for record in _records(export, parser))
    if not repeated:
        return {}
    winners: Winners = {}
    for record in _records(export, parser):
        if key_hash(record.key) in repeated:
            stamp = _stamp(record, parser.revert)
            winners[record.key] = max(stamp, winners.get(record.key, stamp))
    return winners


def loses(record: Record, winners: Winners, *, revert: bool = False) -> bool:
    """True when another change of the same key wins over this record: it must not be applied."""
    winner = winners.get(record.key)
    return winner is not None and _stamp(record, revert) < winner
