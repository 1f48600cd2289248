"""Attribute values compared as DynamoDB means them, and the paths where two items differ.

DynamoDB keeps a number as a decimal ("1.50" is stored and returned as "1.5", "10.0" as "10"), a set without
order, and a binary as bytes (base64 in an export's JSON, bytes in botocore's parsed answer); everything else
must be equal exactly. Maps and lists are walked all the way down, so a difference is named by its path
(`map.nested.x`, `list[2]`) rather than by the top-level attribute only.
"""

from __future__ import annotations

import base64
from decimal import Decimal
from typing import Any

__all__ = ["canonical", "canonical_item", "differing_paths"]

AttributeMap = dict[str, Any]


def canonical(value: AttributeMap, *, blobs_are_base64: bool) -> Any:
    """A comparable, hashable Python value for one attribute value, from export JSON (`blobs_are_base64`)
    or from a botocore response (B as bytes)."""
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


def canonical_item(item: AttributeMap, *, blobs_are_base64: bool) -> tuple[tuple[str, Any], ...]:
    """A whole item (or key) as one comparable, hashable value."""
    return tuple(sorted((k, canonical(v, blobs_are_base64=blobs_are_base64)) for k, v in item.items()))


def _walk(path: str, want: AttributeMap | None, have: AttributeMap | None, out: list[str]) -> None:
    if want is None or have is None:
        out.append(path)
        return
    ((want_tag, want_inner),) = want.items()
    ((have_tag, have_inner),) = have.items()
    if want_tag == have_tag == "M":
        for name in sorted(want_inner.keys() | have_inner.keys()):
            _walk(f"{path}.{name}", want_inner.get(name), have_inner.get(name), out)
        return
    if want_tag == have_tag == "L" and len(want_inner) == len(have_inner):
        for index, (w, h) in enumerate(zip(want_inner, have_inner, strict=True)):
            _walk(f"{path}[{index}]", w, h, out)
        return
    if canonical(want, blobs_are_base64=True) != canonical(have, blobs_are_base64=False):
        out.append(path)


def differing_paths(expected: AttributeMap, actual: AttributeMap) -> list[str]:
    """The paths where `actual` (botocore's parsed item, B as bytes) differs from `expected` (export JSON,
    B as base64): top-level names, `a.b` into maps, `a[1]` into lists of the same length. [] when equal.

    An attribute missing on either side, a list of another length or a value of another type is named at
    its own path; a set is one value (which member differs is not named)."""
    if canonical_item(expected, blobs_are_base64=True) == canonical_item(actual, blobs_are_base64=False):
        return []
    out: list[str] = []
    for name in sorted(expected.keys() | actual.keys()):
        _walk(name, expected.get(name), actual.get(name), out)
    return out
