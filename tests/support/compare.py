"""Compare a table with the items it should hold, attribute by attribute, in DynamoDB JSON.

Numbers compare as decimals (DynamoDB normalises "1.50" to "1.5"), sets as sets (DynamoDB does not keep
their order), binaries as bytes; everything else must be equal exactly. Used by the demo and the tests.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

__all__ = ["canonical", "scan_items", "diff_tables"]


def canonical(value: dict[str, Any], *, blobs_are_base64: bool) -> Any:
    """A comparable Python value for one attribute value, from export JSON or from a boto3 response."""
    ((tag, inner),) = value.items()

    def blob(b: Any) -> bytes:
        return base64.b64decode(b) if blobs_are_base64 and isinstance(b, str) else bytes(b)

    if tag == "N":
        return ("N", Decimal(inner))
    if tag == "B":
        return ("B", blob(inner))
    if tag == "NS":
        return ("NS", frozenset(Decimal(n) for n in inner))
    if tag == "SS":
        return ("SS", frozenset(inner))
    if tag == "BS":
        return ("BS", frozenset(blob(b) for b in inner))
    if tag == "L":
        return ("L", tuple(canonical(v, blobs_are_base64=blobs_are_base64) for v in inner))
    if tag == "M":
        return ("M", canonical_item(inner, blobs_are_base64=blobs_are_base64))
    return (tag, inner)


def canonical_item(item: dict[str, Any], *, blobs_are_base64: bool) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted((k, canonical(v, blobs_are_base64=blobs_are_base64)) for k, v in item.items()))


def scan_items(client: Any, table: str) -> list[dict[str, Any]]:
    """Every item in the table (consistent reads), as the low-level client returns them."""
    items: list[dict[str, Any]] = []
    for page in client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        items.extend(page["Items"])
    return items


def diff_tables(
    expected: Iterable[dict[str, Any]], actual: Iterable[dict[str, Any]], key_names: tuple[str, ...]
) -> list[str]:
    """Differences between expected items (export JSON, B in base64) and actual ones (from a scan): [] if equal."""

    def keyed(items: Iterable[dict[str, Any]], b64: bool) -> dict[Any, Any]:
        out = {}
        for item in items:
            canon = canonical_item(item, blobs_are_base64=b64)
            out[tuple(canonical(item[k], blobs_are_base64=b64) for k in key_names)] = canon
        return out

    want, have = keyed(expected, True), keyed(actual, False)
    problems = [f"missing item {k}" for k in want.keys() - have.keys()]
    problems += [f"unexpected item {k}" for k in have.keys() - want.keys()]
    for key in want.keys() & have.keys():
        if want[key] != have[key]:
            w, h = dict(want[key]), dict(have[key])
            names = sorted(n for n in w.keys() | h.keys() if w.get(n) != h.get(n))
            problems.append(f"item {key} differs in {', '.join(names)}")
    return sorted(problems)
