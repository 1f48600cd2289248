"""Export lines → put/delete records: every attribute type passes exactly, bad lines fail with a clear reason."""

from __future__ import annotations

import base64
import json
from typing import Any

import botocore.parsers
import botocore.session
import pytest

from ddb_restore.errors import RecordError
from ddb_restore.export.records import Record, RecordParser, item_size, key_of, write_units
from support.sample import full_records, incremental_records, sample_items
from support.shapes import as_sent_map

KEYS = ("pk", "sk")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def full_line(item: dict[str, Any]) -> bytes:
    return (json.dumps({"Item": item}, ensure_ascii=False) + "\n").encode()


def parse_full(line: bytes, line_no: int = 1) -> Record:
    return RecordParser(incremental=False, key_names=KEYS).parse(line, line_no)


def parse_incremental(line: bytes, line_no: int = 1) -> Record:
    return RecordParser(incremental=True, key_names=KEYS).parse(line, line_no)


def reason(line: bytes, *, incremental: bool = False) -> str:
    with pytest.raises(RecordError) as info:
        RecordParser(incremental=incremental, key_names=KEYS).parse(line, 7)
    return str(info.value)


# --- full exports -------------------------------------------------------------------------------------------


def test_every_sample_item_parses_to_exactly_the_item_botocore_should_send() -> None:
    items = sample_items(12)
    for n, line in enumerate(full_records(items), 1):
        record = parse_full(line.encode(), n)
        assert record.op == "put"
        assert record.item == as_sent_map(items[n - 1])
        assert record.line == n
        assert record.raw == line.encode()
        assert record.timestamp is None


def test_numbers_stay_the_exact_strings_of_the_export_including_38_digits_and_exponents() -> None:
    numbers = {
        "a": "12345678901234567890123456789012345678",
        "b": "9.9999999999999999999999999999999999999E+125",
        "c": "-1.5E-130",
        "d": "1e5",
        "e": "0.000000000000000000000000000000000000001",
        "f": "-0",
        "g": "100.00",
    }
    item: dict[str, Any] = {"pk": {"S": "k"}, "sk": {"N": "1"}, **{k: {"N": v} for k, v in numbers.items()}}
    item["set"] = {"NS": list(numbers.values())}
    record = parse_full(full_line(item))
    for name, text in numbers.items():
        assert record.item[name] == {"N": text}
        assert type(record.item[name]["N"]) is str
    assert record.item["set"] == {"NS": list(numbers.values())}


def test_binary_and_binary_sets_turn_from_base64_into_bytes_even_when_nested() -> None:
    raw = bytes([0, 255, 1, 10, 13, 0])
    item = {
        "pk": {"S": "k"},
        "sk": {"N": "1"},
        "b": {"B": b64(raw)},
        "bs": {"BS": [b64(b"\x00"), b64(b"\xff\xfe")]},
        "l": {"L": [{"B": b64(b"\x01\x02")}, {"M": {"inner": {"B": b64(b"\xfe")}}}]},
        "m": {"M": {"deep": {"M": {"bs": {"BS": [b64(b"\x07")]}}}}},
    }
    record = parse_full(full_line(item))
    assert record.item["b"] == {"B": raw}
    assert record.item["bs"] == {"BS": [b"\x00", b"\xff\xfe"]}
    assert record.item["l"] == {"L": [{"B": b"\x01\x02"}, {"M": {"inner": {"B": b"\xfe"}}}]}
    assert record.item["m"] == {"M": {"deep": {"M": {"bs": {"BS": [b"\x07"]}}}}}


def test_empty_strings_and_empty_binaries_outside_keys_pass_as_they_are() -> None:
    item = {"pk": {"S": "k"}, "sk": {"N": "1"}, "s": {"S": ""}, "b": {"B": ""}, "l": {"L": []}, "m": {"M": {}}}
    record = parse_full(full_line(item))
    assert record.item["s"] == {"S": ""}
    assert record.item["b"] == {"B": b""}
    assert record.item["l"] == {"L": []}
    assert record.item["m"] == {"M": {}}


def test_scalar_and_set_types_pass_unchanged() -> None:
    item = {
        "pk": {"S": "k"},
        "sk": {"N": "1"},
        "t": {"BOOL": True},
        "f": {"BOOL": False},
        "n": {"NULL": True},
        "ss": {"SS": ["a", "ÿ", "日本"]},
        "l": {"L": [{"S": "a"}, {"N": "1"}, {"L": [{"NULL": True}]}, {"M": {"x": {"BOOL": False}}}]},
    }
    assert parse_full(full_line(item)).item == item


def test_dotted_and_unicode_attribute_names_are_kept_as_single_names() -> None:
    item = {
        "pk": {"S": "k"},
        "sk": {"N": "1"},
        "attr.with.dots": {"S": "x"},
        "ключ": {"S": "y"},
        "🚀": {"N": "3"},
        "m": {"M": {"with.dot": {"S": "z"}, "日本語": {"S": "w"}}},
    }
    record = parse_full(full_line(item))
    assert set(record.item) == {"pk", "sk", "attr.with.dots", "ключ", "🚀", "m"}
    assert record.item["m"] == {"M": {"with.dot": {"S": "z"}, "日本語": {"S": "w"}}}


def test_a_full_record_is_keyed_by_its_table_key_attributes_in_schema_order() -> None:
    record = parse_full(full_line({"sk": {"N": "5"}, "other": {"S": "x"}, "pk": {"S": "a"}}))
    assert record.key == key_of({"pk": {"S": "a"}, "sk": {"N": "5"}}, KEYS)
    assert record.key != parse_full(full_line({"pk": {"S": "a"}, "sk": {"N": "6"}})).key
    assert record.key != parse_full(full_line({"pk": {"S": "b"}, "sk": {"N": "5"}})).key


# --- incremental exports ------------------------------------------------------------------------------------


def test_an_incremental_record_with_a_new_image_is_a_put_of_that_image_with_its_timestamp() -> None:
    key = {"pk": {"S": "a"}, "sk": {"N": "1"}}
    old = {**key, "v": {"S": "old"}}
    new = {**key, "v": {"S": "new"}, "b": {"B": b64(b"\x00\xff")}}
    (line,) = incremental_records([(key, old, new)], KEYS, first_micros=1_700_000_000_000_123)
    record = parse_incremental(line.encode(), 3)
    assert record.op == "put"
    assert record.item == as_sent_map(new)
    assert record.timestamp == 1_700_000_000_000_123
    assert record.line == 3
    assert record.key == key_of(key, KEYS)


def test_an_incremental_record_without_a_new_image_is_a_delete_of_its_keys() -> None:
    key = {"pk": {"S": "a"}, "sk": {"N": "1"}}
    (line,) = incremental_records([(key, {**key, "v": {"S": "old"}}, None)], KEYS, first_micros=42)
    record = parse_incremental(line.encode())
    assert record.op == "delete"
    assert record.item == key
    assert record.timestamp == 42
    assert record.size == item_size(key)


def test_an_incremental_insert_without_an_old_image_is_a_put() -> None:
    key = {"pk": {"S": "a"}, "sk": {"N": "1"}}
    (line,) = incremental_records([(key, None, {**key, "v": {"N": "2"}})], KEYS, first_micros=1)
    assert parse_incremental(line.encode()).op == "put"


def test_an_incremental_record_with_a_null_new_image_is_a_delete() -> None:
    line = json.dumps({"Keys": {"pk": {"S": "a"}, "sk": {"N": "1"}}, "NewImage": None}).encode()
    assert parse_incremental(line).op == "delete"


def test_an_incremental_record_without_metadata_has_no_timestamp() -> None:
    line = json.dumps({"Keys": {"pk": {"S": "a"}, "sk": {"N": "1"}}}).encode()
    assert parse_incremental(line).timestamp is None


def test_an_incremental_record_with_neither_keys_nor_new_image_is_refused() -> None:
    text = reason(b'{"Metadata":{"WriteTimestampMicros":{"N":"1"}}}', incremental=True)
    assert "Keys" in text and "NewImage" in text


def test_an_incremental_delete_lacking_a_key_attribute_is_refused_naming_it() -> None:
    text = reason(json.dumps({"Keys": {"pk": {"S": "a"}}}).encode(), incremental=True)
    assert "Keys" in text and "'sk'" in text


# --- refused lines ------------------------------------------------------------------------------------------


def test_a_line_that_is_not_json_is_refused_as_not_json() -> None:
    assert "not JSON" in reason(b'{"Item": {"pk": ')


def test_a_line_that_is_not_utf8_is_refused_as_not_utf8() -> None:
    assert "not UTF-8" in reason(b'{"Item":{"pk":{"S":"\xff\xfe"},"sk":{"N":"1"}}}\n')


def test_a_json_value_that_is_not_an_object_is_refused() -> None:
    assert "JSON object" in reason(b'[{"Item": {}}]')


def test_a_full_export_record_without_item_is_refused() -> None:
    assert "'Item'" in reason(b'{"NewImage": {"pk": {"S": "a"}, "sk": {"N": "1"}}}')


def test_an_item_that_is_not_an_object_is_refused() -> None:
    assert "Item" in reason(b'{"Item": [1, 2]}')


def test_an_item_lacking_a_key_attribute_is_refused_naming_the_attribute() -> None:
    text = reason(full_line({"pk": {"S": "a"}, "other": {"N": "1"}}))
    assert "'sk'" in text and "key attribute" in text


def test_an_unknown_type_tag_is_refused_naming_the_tag_and_the_attribute() -> None:
    text = reason(full_line({"pk": {"S": "a"}, "sk": {"N": "1"}, "odd": {"X": "1"}}))
    assert "'X'" in text and "odd" in text and "unknown attribute type" in text


def test_an_attribute_value_with_two_type_tags_is_refused() -> None:
    assert "one type tag" in reason(full_line({"pk": {"S": "a", "N": "1"}, "sk": {"N": "1"}}))


def test_a_number_written_as_a_json_number_is_refused() -> None:
    text = reason(b'{"Item":{"pk":{"S":"a"},"sk":{"N":1}}}')
    assert "N value must be a decimal number as a string" in text and "sk" in text


@pytest.mark.parametrize(
    "number",
    [
        "NaN",
        "Infinity",
        "-Infinity",
        "nan",
        "inf",
        "0x10",
        "",
        "1,5",
        " 1",
        "1e",
        ".-5",
        "-.-5",
        "1.2.3",
        ".",
        "-",
        "--5",
    ],
)
def test_a_number_string_that_is_not_a_decimal_is_refused(number: str) -> None:
    text = reason(full_line({"pk": {"S": "a"}, "sk": {"N": "1"}, "n": {"N": number}}))
    assert "N value must be a decimal number" in text


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_a_json_nan_or_infinity_literal_as_a_number_is_refused(literal: bytes) -> None:
    """NaN and Infinity are not JSON (the json module accepts them; orjson, rightly, does not)."""
    text = reason(b'{"Item":{"pk":{"S":"a"},"sk":{"N":"1"},"n":{"N":' + literal + b"}}}")
    assert "not JSON" in text and ("at column 49" in text or "at column 50" in text)  # where the literal is


def test_a_bad_member_of_a_number_set_is_refused() -> None:
    assert "N value" in reason(full_line({"pk": {"S": "a"}, "sk": {"N": "1"}, "ns": {"NS": ["1", "NaN"]}}))


@pytest.mark.parametrize("blob", ["!!!!", "abc", "AAE=x", "ÿÿÿÿ"])
def test_binary_that_is_not_valid_base64_is_refused(blob: str) -> None:
    text = reason(full_line({"pk": {"S": "a"}, "sk": {"N": "1"}, "b": {"B": blob}}))
    assert "not valid base64" in text and "b" in text


def test_a_binary_set_member_that_is_not_base64_is_refused() -> None:
    text = reason(full_line({"pk": {"S": "a"}, "sk": {"N": "1"}, "bs": {"BS": ["AAE=", "@@@"]}}))
    assert "not valid base64" in text


def test_a_binary_that_is_not_a_string_is_refused() -> None:
    assert "base64 string" in reason(full_line({"pk": {"S": "a"}, "sk": {"N": "1"}, "b": {"B": 5}}))


def test_null_false_is_refused() -> None:
    assert "NULL value must be true" in reason(full_line({"pk": {"S": "a"}, "sk": {"N": "1"}, "n": {"NULL": False}}))


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ({"S": 5}, "S value must be a string"),
        ({"BOOL": "true"}, "BOOL value must be true or false"),
        ({"BOOL": 1}, "BOOL value must be true or false"),
        ({"SS": "a"}, "SS value must be a list"),
        ({"SS": ["a", 1]}, "SS members must be strings"),
        ({"L": {}}, "L value must be a list"),
        ({"M": []}, "M value must be an object"),
        ("plain", "exactly one type tag"),
    ],
)
def test_a_value_of_the_wrong_shape_for_its_tag_is_refused(value: Any, words: str) -> None:
    assert words in reason(full_line({"pk": {"S": "a"}, "sk": {"N": "1"}, "x": value}))


def test_a_bad_value_deep_inside_lists_and_maps_is_refused_with_its_path() -> None:
    item = {"pk": {"S": "a"}, "sk": {"N": "1"}, "m": {"M": {"l": {"L": [{"S": "ok"}, {"N": 3}]}}}}
    assert "Item.m.l[1]" in reason(full_line(item))


# --- sizes and write units ----------------------------------------------------------------------------------


def test_write_units_are_kilobytes_rounded_up_and_at_least_one() -> None:
    assert [write_units(s) for s in (0, 1, 1024, 1025, 2048, 409_600)] == [1, 1, 1, 2, 2, 400]


def test_item_size_counts_names_and_values_in_utf8_bytes() -> None:
    assert item_size({"pk": {"S": "abc"}}) == 2 + 3
    assert item_size({"ключ": {"S": "日本"}}) == 8 + 6
    assert item_size({"b": {"B": b64(b"\x00" * 10)}}) == 1 + 10  # decoded bytes, not base64 text
    assert item_size({"t": {"BOOL": True}, "n": {"NULL": True}}) == 2 + 2
    assert item_size({"ss": {"SS": ["ab", "c"]}}) == 2 + 3


def test_item_size_of_numbers_follows_significant_digits() -> None:
    assert item_size({"n": {"N": "12345678901234567890123456789012345678"}}) == 1 + 20
    assert item_size({"n": {"N": "-1.5E-130"}}) == 1 + 2  # two significant digits: sign and exponent are free
    assert item_size({"n": {"N": "0.000123"}}) == item_size({"n": {"N": "123"}})
    assert item_size({"n": {"N": "100"}}) == item_size({"n": {"N": "1"}})


def test_item_size_of_lists_and_maps_includes_their_overhead() -> None:
    flat = item_size({"x": {"S": "ab"}})
    in_list = item_size({"x": {"L": [{"S": "ab"}]}})
    in_map = item_size({"x": {"M": {"k": {"S": "ab"}}}})
    assert in_list > flat
    assert in_map > flat + 1  # the inner name counts too


def test_a_400_kb_string_item_costs_at_least_391_write_units() -> None:
    item = {"pk": {"S": "k"}, "sk": {"N": "1"}, "payload": {"S": "x" * 400_000}}
    record = parse_full(full_line(item))
    assert record.size >= 400_000
    assert write_units(record.size) >= 391


def test_the_sample_near_400_kb_item_counts_its_binary_decoded() -> None:
    big = sample_items(3)[-1]
    record = parse_full(full_line(big))
    assert 390_000 < record.size < 400 * 1024
    assert 381 < write_units(record.size) <= 400
    assert record.size == item_size(big)


def test_a_record_size_equals_item_size_of_its_item() -> None:
    for line in full_records(sample_items(5, large=False)):
        record = parse_full(line.encode())
        assert record.size == item_size(json.loads(line)["Item"])


# --- key_of against botocore's UnprocessedItems --------------------------------------------------------------


def unprocessed_as_botocore_returns_it(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Parse a BatchWriteItem response holding `requests` (wire JSON) with botocore's own parser."""
    model = botocore.session.get_session().get_service_model("dynamodb")
    operation = model.operation_model("BatchWriteItem")
    parser = botocore.parsers.create_parser(model.metadata["protocol"])
    body = json.dumps({"UnprocessedItems": {"T": requests}}).encode()
    assert operation.output_shape is not None
    parsed = parser.parse({"status_code": 200, "headers": {}, "body": body}, operation.output_shape)
    return parsed["UnprocessedItems"]["T"]


def test_a_put_record_and_the_same_item_in_unprocessed_items_have_equal_keys() -> None:
    item = {"pk": {"B": b64(b"\x00\xffkey")}, "sk": {"N": "12345678901234567890123456789012345678"}, "v": {"S": "x"}}
    record = parse_full(full_line(item))
    (returned,) = unprocessed_as_botocore_returns_it([{"PutRequest": {"Item": item}}])
    assert key_of(returned["PutRequest"]["Item"], KEYS) == record.key
    other = {**item, "sk": {"N": "12345678901234567890123456789012345679"}}
    (different,) = unprocessed_as_botocore_returns_it([{"PutRequest": {"Item": other}}])
    assert key_of(different["PutRequest"]["Item"], KEYS) != record.key


def test_a_delete_record_and_the_same_key_in_unprocessed_items_have_equal_keys() -> None:
    key = {"pk": {"S": "ünï"}, "sk": {"N": "-1.5E-130"}}
    record = parse_incremental(json.dumps({"Keys": key}).encode())
    (returned,) = unprocessed_as_botocore_returns_it([{"DeleteRequest": {"Key": key}}])
    assert key_of(returned["DeleteRequest"]["Key"], KEYS) == record.key


def test_key_of_is_hashable_and_ignores_non_key_attributes() -> None:
    a = key_of({"pk": {"S": "a"}, "sk": {"N": "1"}, "x": {"S": "1"}}, KEYS)
    b = key_of({"sk": {"N": "1"}, "pk": {"S": "a"}}, KEYS)
    assert a == b
    assert len({a, b}) == 1
