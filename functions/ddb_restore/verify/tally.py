"""The read-back's results, added up by every worker: counts, and the first keys and paths that differ.

Only counts and the first `LISTED` keys of each kind are kept, so a table that differs everywhere does not
fill memory with its differences. In AWS each chunk's tally goes to the run bucket as `as_dict()`, and the
summary step adds them up with `merge`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from ..export.records import Record
from .compare import differing_paths

__all__ = ["Tally", "LISTED"]

LISTED = 1000  # keys listed per kind in the report
_COUNTS = (
    "checked",
    "equal",
    "missing",
    "different",
    "deletes_checked",
    "deleted_present",
    "records_rejected",
    "read_units",
    "unprocessed_retries",
    "throttle_retries",
)
_LISTS = ("missing_keys", "different_items", "deleted_present_keys")


@dataclass
class Tally:
    key_names: tuple[str, ...]
    checked: int = 0  # expected items read back
    equal: int = 0
    missing: int = 0
    different: int = 0
    deletes_checked: int = 0  # keys the series deletes, checked absent
    deleted_present: int = 0  # ... found in the table all the same
    records_rejected: int = 0  # lines a restore would refuse: not expected in the table
    read_units: float = 0.0
    unprocessed_retries: int = 0
    throttle_retries: int = 0
    missing_keys: list[dict[str, Any]] = field(default_factory=list)
    different_items: list[dict[str, Any]] = field(default_factory=list)
    deleted_present_keys: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _key(self, record: Record) -> dict[str, Any]:
        attributes = record.attributes
        return {name: attributes[name] for name in self.key_names}

    def found(self, record: Record, item: dict[str, Any]) -> None:
        """`item` (botocore's parsed answer) is in the table under `record`'s key."""
        paths = differing_paths(record.attributes, item) if record.op == "put" else []
        with self._lock:
            if record.op == "delete":
                self.deletes_checked += 1
                self.deleted_present += 1
                if len(self.deleted_present_keys) < LISTED:
                    self.deleted_present_keys.append(self._key(record))
                return
            self.checked += 1
            if not paths:
                self.equal += 1
                return
            self.different += 1
            if len(self.different_items) < LISTED:
                self.different_items.append({"key": self._key(record), "attributes": paths})

    def absent(self, record: Record) -> None:
        """Nothing is in the table under `record`'s key."""
        with self._lock:
            if record.op == "delete":
                self.deletes_checked += 1
                return
            self.checked += 1
            self.missing += 1
            if len(self.missing_keys) < LISTED:
                self.missing_keys.append(self._key(record))

    def add(self, *, read_units: float = 0.0, unprocessed: int = 0, throttled: int = 0, rejected: int = 0) -> None:
        with self._lock:
            self.read_units += read_units
            self.unprocessed_retries += unprocessed
            self.throttle_retries += throttled
            self.records_rejected += rejected

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            return {name: getattr(self, name) for name in _COUNTS + _LISTS}

    def merge(self, other: dict[str, Any]) -> None:
        """Add another tally's `as_dict()` to this one (the lists still hold the first `LISTED` of each kind)."""
        with self._lock:
            for name in _COUNTS:
                setattr(self, name, getattr(self, name) + other.get(name, 0))
            for name in _LISTS:
                listed: list[dict[str, Any]] = getattr(self, name)
                listed.extend(other.get(name, [])[: LISTED - len(listed)])
