"""verify/compare.py: values compared as DynamoDB means them, and the paths named where items differ."""

from __future__ import annotations

import base64

from ddb_restore.verify.compare import differing_paths


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_number_spellings_dynamodb_treats_as_equal_are_equal() -> None:
    expected = {"a": {"N": "10.0"}, "b": {"N": "1.50"}, "c": {"NS": ["1.0", "2"]}, "d": {"N": "1E+3"}}
    actual = {"a": {"N": "10"}, "b": {"N": "1.5"}, "c": {"NS": ["2", "1"]}, "d": {"N": "1000"}}
    assert differing_paths(expected, actual) == []


def test_sets_compare_without_order_and_binaries_as_bytes() -> None:
    expected = {"s": {"SS": ["x", "y"]}, "b": {"B": b64(b"\x00\xff")}, "bs": {"BS": [b64(b"\x01"), b64(b"\x02")]}}
    actual = {"s": {"SS": ["y", "x"]}, "b": {"B": b"\x00\xff"}, "bs": {"BS": [b"\x02", b"\x01"]}}
    assert differing_paths(expected, actual) == []


def test_a_change_deep_in_maps_and_lists_is_named_by_its_path() -> None:
    expected = {"m": {"M": {"deep": {"L": [{"M": {"x": {"S": "v"}}}, {"N": "1"}]}, "same": {"S": "s"}}}}
    actual = {"m": {"M": {"deep": {"L": [{"M": {"x": {"S": "w"}}}, {"N": "1"}]}, "same": {"S": "s"}}}}
    assert differing_paths(expected, actual) == ["m.deep[0].x"]


def test_missing_and_added_attributes_and_other_types_are_named() -> None:
    expected = {"gone": {"S": "a"}, "typed": {"N": "1"}, "ключ.with.dot": {"S": "ü"}, "l": {"L": [{"N": "1"}]}}
    actual = {"new": {"S": "b"}, "typed": {"S": "1"}, "ключ.with.dot": {"S": "u"}, "l": {"L": []}}
    assert differing_paths(expected, actual) == ["gone", "l", "new", "typed", "ключ.with.dot"]


def test_a_set_that_lost_a_member_is_named_as_the_set() -> None:
    assert differing_paths({"t": {"SS": ["a", "b"]}}, {"t": {"SS": ["a"]}}) == ["t"]
