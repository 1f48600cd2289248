"""The check-and-size walk of a DynamoDB JSON item: valid or not, and its DynamoDB size in bytes.

Every line of a data file goes through `measure` (records.py): the writer needs each item's size for the 16 MB
batch cap and the write-unit budget, and checks every value on the way (type tags, value shapes, numbers,
base64). It is the writer's hottest loop in Python, so it only says valid-or-not; a value it refuses is walked
again by records.py's `_explain`, slower, which names the path and the reason (tests/unit/test_fuzz.py: the two agree).
"""

from __future__ import annotations

import binascii
import re
from typing import Any

__all__ = ["Invalid", "NUMBER", "measure", "strict_base64"]

# DynamoDB's number syntax: optional sign, digits with an optional point, optional exponent.
# NaN, Infinity, hex, empty strings and JSON numbers (not strings) are refused; precision and exponent range
# are left to DynamoDB, whose refusal lands in the rejects output.
# Group 1 is the mantissa without its sign, whose significant digits size the number (see `_n`).
NUMBER = re.compile(r"-?(\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)  # ASCII: no other scripts' digits


class Invalid(Exception):
    """Raised by `measure`: the value is not valid DynamoDB JSON (records.py's `_explain` says where and why)."""


def strict_base64(text: str) -> bytes:
    """Strict base64 (its alphabet only, padded, no data after the padding): the very check
    `b64decode(validate=True)` makes (it calls this since Python 3.11), without its Python wrapper.
    Raises binascii.Error (a ValueError) for bad base64, ValueError for a str that is not ASCII, TypeError for
    what is not a str (a2b_base64 would take bytes too: a decoded line never holds any)."""
    if type(text) is not str:
        raise TypeError("base64 text must be a str")
    return binascii.a2b_base64(text, strict_mode=True)


def measure(attributes: Any) -> int:
    """DynamoDB size of a valid map of attributes; Invalid when it is not valid DynamoDB JSON."""
    try:
        return _measure_map(attributes)
    except (AttributeError, TypeError, ValueError, LookupError):
        raise Invalid from None


def _n(text: str) -> int:
    """Size of a valid N text; Invalid otherwise (AttributeError or TypeError when it is not a str)."""
    digits = text.removeprefix("-").replace(".", "", 1)  # sign first: ".-5" keeps its "-" and fails below
    if not (digits.isdigit() and digits.isascii()):  # not 40, -40, 691.93, .5: an exponent, or no number
        match = NUMBER.fullmatch(text)
        if match is None:
            raise Invalid
        digits = match[1].replace(".", "")
    # DynamoDB's size of a number: about one byte per two significant digits, plus one.
    return (len(digits.strip("0")) + 1) // 2 + 1


# The walk below checks types by what it does with a value rather than by asking its type, and does in one C
# call what it can (~45 values an item in the bench):
# - `"".join(attributes)` joins a map's names (str keys; anything else is a TypeError), sized at once;
# - `(tag,) = value` takes the one key of a one-pair dict (two keys or none: ValueError; a str, a number or
#   None: TypeError), `value[tag]` its value (a one-element list gets there and fails with TypeError or
#   IndexError, or, for [0] and [-1], yields an int that no tag below accepts);
# - `.isascii()`/`.isdigit()` exist only on a str among what a decoded line holds (dict, list, str, int,
#   float, bool, None); `"".join(inner)` of an SS fails on a member that is not a str.
# `measure` turns those exceptions into Invalid. Where use would let a wrong value through (BOOL: 1 is not
# a bool; NULL; a str or a dict where a list belongs would be iterated), the type is checked.
# tests/unit/test_fuzz.py and tests/unit/test_sizes.py check that this walk and records.py's `_explain` agree on valid
# and broken items alike, and that its sizes equal DynamoDB's rules written plainly.


def _measure_map(attributes: dict[str, Any]) -> int:
    names = "".join(attributes)
    size = len(names) if names.isascii() else len(names.encode("utf-8"))
    for value in attributes.values():
        tag: str
        (tag,) = value
        inner = value[tag]
        if tag == "S":  # the commonest tags inline: a call per value is a good part of the walk's cost
            text: str = inner
            size += len(text) if text.isascii() else len(text.encode("utf-8"))
        elif tag == "N":  # an integer sized here as `_n` would, without the call
            number: str = inner
            size += (len(number.strip("0")) + 1) // 2 + 1 if number.isdigit() and number.isascii() else _n(number)
        elif tag == "M":
            size += _measure_map(inner) + 3
        else:
            size += _measure_value(tag, inner)
    return size


def _measure_value(tag: str, inner: Any) -> int:
    if tag == "S":
        text: str = inner
        return len(text) if text.isascii() else len(text.encode("utf-8"))
    if tag == "N":
        return _n(inner)
    if tag == "M":
        return _measure_map(inner) + 3
    if tag == "BOOL":
        if type(inner) is not bool:
            raise Invalid
        return 1
    if tag == "NULL":
        if inner is not True:
            raise Invalid
        return 1
    if tag == "B":
        return len(strict_base64(inner))
    if type(inner) is not list:
        raise Invalid
    members: list[Any] = inner
    if tag == "L":
        size = 3 + len(members)
        for element in members:
            element_tag: str
            (element_tag,) = element
            element_inner = element[element_tag]
            if element_tag == "M":
                size += _measure_map(element_inner) + 3
            else:
                size += _measure_value(element_tag, element_inner)
        return size
    if tag == "SS":
        joined = "".join(members)
        return len(joined) if joined.isascii() else len(joined.encode("utf-8"))
    size = 0  # loops, not sum(map(...)) or a generator: fewer instructions
    if tag == "NS":
        for member in members:
            size += _n(member)
        return size
    if tag == "BS":
        for member in members:
            size += len(strict_base64(member))
        return size
    raise Invalid
