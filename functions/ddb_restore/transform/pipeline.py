"""The composed transform: built-ins first, in their order, then the user file's functions; one Record in,
the Records to write out (none: filtered; several: a fan-out).

A put's item goes through the built-ins and `transform`; a delete's key through the built-ins and
`transform_key` (without one, the key only through the built-ins, which never change a key's value: see
builtins.py). Every result is checked, sized and serialised like a parsed line (records.build_record), and its
key checked against the table's key schema; an invalid result or an exception raised by the user's code is a
RecordError, which the chunk turns into a reject of the record's line. A record no step touches keeps its
parsed Record, wire bytes and all: the built-ins look for their attribute names in the record's bytes before
decoding it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import orjson

from ..errors import InputError, RecordError
from ..export.records import Record, build_record, rewired
from ..export.sizes import measure
from .builtins import Step, apply_steps, check_steps
from .userfile import UserFunctions

__all__ = ["Pipeline", "TableKeys", "TransformCounts", "build_pipeline", "record_key_names"]

MAX_ITEM_BYTES = 400 * 1024


class TransformCounts(Protocol):
    """Where a pipeline counts what it did (write.writer.WriteCounts in both drivers)."""

    items_transformed: int
    items_fanned_out: int


class TableKeys(Protocol):
    """The target table's keys as restore.plan.TargetTable describes them."""

    @property
    def key_names(self) -> tuple[str, ...]: ...
    @property
    def key_types(self) -> dict[str, str]: ...
    @property
    def gsis(self) -> tuple[tuple[str, tuple[str, ...]], ...]: ...


def record_key_names(steps: tuple[Step, ...], has_file: bool, key_names: tuple[str, ...]) -> tuple[str, ...] | None:
    """The key names to parse records with: the table's, or None (the export's own keys, records.py) when a
    transform may change keys: any user file, or a rename into a key attribute."""
    if has_file or any(step.kind == "rename" and step.new in key_names for step in steps):
        return None
    return key_names


class Pipeline:
    def __init__(
        self,
        steps: tuple[Step, ...],
        user: UserFunctions | None,
        key_names: tuple[str, ...],
        key_types: dict[str, str],
    ) -> None:
        self.steps = steps
        self.user = user
        self.key_names = key_names
        self.key_types = key_types
        self.parse_key_names = record_key_names(steps, user is not None, key_names)
        self._needles = tuple(orjson.dumps(step.name) + b":" for step in steps)
        self._touched = tuple(dict.fromkeys(name for step in steps for name in (step.name, step.new) if name))

    def describe(self) -> str:
        parts = [str(step) for step in self.steps]
        if self.user:
            functions = "transform() and transform_key()" if self.user.transform_key else "transform()"
            parts.append(f"{functions} of {self.user.name} (sha256 {self.user.digest})")
        keyed = "; records keyed by the export's own keys" if self.parse_key_names is None else ""
        return "transforms: " + ", then ".join(parts) + keyed

    def apply(self, record: Record, counts: TransformCounts) -> list[Record]:
        """The records to write for `record` ([] when filtered); RecordError when a result is not valid."""
        if self.parse_key_names is not None and not any(needle in record.wire for needle in self._needles):
            return [record]
        attributes = record.attributes
        if self.user is None and self.parse_key_names is not None:
            return self._built_ins_alone(record, attributes, counts)
        apply_steps(self.steps, attributes)
        function = (self.user.transform if record.op == "put" else self.user.transform_key) if self.user else None
        # Keyed by the export's own keys here: every result is checked and keyed again, changed or not.
        results = [attributes] if function is None else self._call(function, attributes, record.op)
        where = "transform result" if function else "record after the built-in transforms"
        out = [
            self._checked(record, result, f"{where} [{i}]" if len(results) > 1 else where)
            for i, result in enumerate(results)
        ]
        if len(out) > 1:
            counts.items_fanned_out += len(out) - 1
        if out and (len(out) > 1 or out[0].wire != record.wire):
            counts.items_transformed += 1
        return out

    def _built_ins_alone(self, record: Record, attributes: dict[str, Any], counts: TransformCounts) -> list[Record]:
        """The built-ins keep a valid item valid and its key as it was (builtins.check_steps): only the attributes
        they touch are sized again, not the whole item."""
        before = measure({name: attributes[name] for name in self._touched if name in attributes})
        if not apply_steps(self.steps, attributes):
            return [record]
        size = record.size - before + measure({name: attributes[name] for name in self._touched if name in attributes})
        if size > MAX_ITEM_BYTES:
            raise RecordError(f"record after the built-in transforms: {size:,} bytes, more than DynamoDB's 400 KB")
        counts.items_transformed += 1
        return [rewired(record, attributes, size)]

    def _call(self, function: Callable[[dict[str, Any]], Any], attributes: dict[str, Any], op: str) -> list[Any]:
        name = function.__name__
        assert self.user is not None
        try:
            result = function(attributes)
        except Exception as err:  # noqa: BLE001  # the user's code: any failure is this record's reject
            raise RecordError(f"{self.user.name}: {name}() raised {type(err).__name__}: {err}") from None
        if result is None:
            return []
        if isinstance(result, dict):
            return [result]
        if op == "put" and isinstance(result, list):
            return result
        wanted = "an item (dict), a list of items or None" if op == "put" else "a key (dict) or None"
        raise RecordError(f"{self.user.name}: {name}() returned {type(result).__name__}, not {wanted}")

    def _checked(self, record: Record, attributes: Any, where: str) -> Record:
        if not isinstance(attributes, dict):
            raise RecordError(f"{where}: an item must be a dict of attributes, got {type(attributes).__name__}")
        try:
            result = build_record(
                record.op, attributes, self.key_names, record.line, record.raw, record.timestamp, where
            )
        except RecursionError:
            raise RecordError(f"{where}: nested too deeply to be a DynamoDB item") from None
        for name in self.key_names:
            tag = next(iter(attributes[name]))
            if tag != self.key_types.get(name, tag):
                raise RecordError(
                    f"{where}: key attribute {name!r} is {tag}, but the table's is {self.key_types[name]}"
                )
        if record.op == "delete" and len(attributes) != len(self.key_names):
            extra = sorted(set(attributes) - set(self.key_names))
            raise RecordError(f"{where}: a delete's key holds attributes {extra} the table's key does not have")
        if result.size > MAX_ITEM_BYTES:
            raise RecordError(f"{where}: {result.size:,} bytes, more than DynamoDB's 400 KB an item")
        return result

    def check_keys_kept(self, record: Record, where: str) -> None:
        """The plan's sample check: InputError when `transform` changes a put's key attributes and the file has
        no `transform_key`, so a delete of the same item would miss it (or hit another)."""
        if self.user is None or self.user.transform_key is not None or record.op != "put":
            return
        attributes = record.attributes
        apply_steps(self.steps, attributes)
        before = {name: attributes.get(name) for name in self.key_names}
        try:
            results = self._call(self.user.transform, orjson.loads(orjson.dumps(attributes)), "put")
        except RecordError:  # a reject when written; not a key change
            return
        for result in results:
            if isinstance(result, dict) and {name: result.get(name) for name in self.key_names} != before:
                raise InputError(
                    f"{self.user.name}: transform() changes the key ({' / '.join(self.key_names)}) of {where} and "
                    "the file defines no transform_key(key): a delete would hit the wrong item"
                )


def build_pipeline(steps: tuple[Step, ...], user: UserFunctions | None, table: TableKeys) -> Pipeline | None:
    """The pipeline for this table, None when there is nothing to do; InputError for a step that breaks a key."""
    if not steps and user is None:
        return None
    check_steps(steps, table.key_names, table.gsis)
    return Pipeline(steps, user, table.key_names, table.key_types)
