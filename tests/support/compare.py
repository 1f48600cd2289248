"""Compare a table with the items it should hold, attribute by attribute, in DynamoDB JSON.

Values compare as verify compares them (ddb_restore/verify/compare.py: numbers as decimals, sets as sets,
binaries as bytes). Used by the demo and the tests to compare whole tables, extra items included.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ddb_restore.verify.compare import canonical, canonical_item

__all__ = ["scan_items", "diff_tables"]


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
