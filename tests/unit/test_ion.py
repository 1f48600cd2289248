"""ION export lines decode to exactly the documents their DYNAMODB_JSON lines give; bad lines fail clearly."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from decimal import Decimal
from typing import Any

import pytest
from amazon.ion import simpleion

from ddb_restore.errors import RecordError
from ddb_restore.export.ion import decode_ion_line, encode_ion_line
from ddb_restore.export.records import RecordParser, item_size
from support.sample import incremental_records, sample_items

KEYS = ("pk", "sk")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def round_trip(doc: dict[str, Any]) -> dict[str, Any]:
    line = encode_ion_line(doc)
    assert line.startswith("$ion_1_0 ") and "\n" not in line  # one record per line, as AWS writes it
    return decode_ion_line((line + "\n").encode())  # as read from a data file, newline included


def incremental_docs() -> list[dict[str, Any]]:
    """Insert, update, delete, re-insert and a NEW_IMAGE-style record, as DYNAMODB_JSON documents."""
    a, b, c = sample_items(3, large=False)
    a2 = {**a, "name": {"S": "changed"}, "extra": {"NS": ["1", "2.50"]}}
    key = lambda item: {k: item[k] for k in KEYS}  # noqa: E731
    lines = incremental_records(
        [(key(a), None, a), (key(a), a, a2), (key(b), b, None), (key(b), None, b), (key(c), c, c)],
        KEYS,
        first_micros=1_700_000_000_000_000,
    )
    docs = [json.loads(line) for line in lines]
    docs.append({"Metadata": {"WriteTimestampMicros": {"N": "1700000000000009"}}, "Keys": key(c), "NewImage": c})
    return docs


# --- round trips -----------------------------------------------------------------------------------------


def test_sample_items_round_trip_exactly() -> None:
    items = sample_items(60)
    assert any(len(json.dumps(item)) > 390_000 for item in items)  # the item near 400 KB is among them
    for item in items:
        assert round_trip({"Item": item}) == {"Item": item}


def test_incremental_records_round_trip_exactly() -> None:
    for doc in incremental_docs():
        assert round_trip(doc) == doc


# Numbers keep their exact text: Decimal(n) holds every digit and the exponent, simpleion writes it as an Ion
# decimal, and str() of the decoded Decimal spells it the same way.
EXACT_NUMBERS = [
    "0",
    "-0",  # Ion keeps the sign of a decimal zero
    "1",
    "-3",
    "0.5",
    "100.00",  # trailing zeros kept: Ion decimals keep their precision
    "0.00",
    "12345678901234567890123456789012345678",  # 38 digits, DynamoDB's maximum precision
    "-12345678901234567890123456789012345678",
    "1.2345678901234567890123456789012345678E+125",
    "9.9999999999999999999999999999999999999E+125",
    "1E+125",
    "1E-130",
    "-1.5E-130",
    "1E+3",
    "123.456",
]


@pytest.mark.parametrize("number", EXACT_NUMBERS)
def test_numbers_keep_every_digit(number: str) -> None:
    doc = {"Item": {"pk": {"S": "a"}, "sk": {"N": "1"}, "n": {"N": number}, "ns": {"NS": [number, "7"]}}}
    assert round_trip(doc) == doc  # and decode refuses Ion floats, so no float was written


# Spellings Decimal does not keep verbatim come back as the same number in Python's canonical spelling,
# which DynamoDB treats as the same value (it stores numbers normalized), with the same item size.
@pytest.mark.parametrize(
    ("written", "decoded"),
    [("1e3", "1E+3"), ("1E3", "1E+3"), (".5", "0.5"), ("5.", "5"), ("007", "7"), ("0.0000001", "1E-7")],
)
def test_other_number_spellings_decode_to_an_equal_number(written: str, decoded: str) -> None:
    out = round_trip({"Item": {"n": {"N": written}}})
    assert out == {"Item": {"n": {"N": decoded}}}
    assert Decimal(decoded) == Decimal(written)
    assert item_size(out["Item"]) == item_size({"n": {"N": written}})


def test_empty_values_and_empty_containers_are_preserved() -> None:
    doc = {"Item": {"s": {"S": ""}, "b": {"B": ""}, "l": {"L": []}, "m": {"M": {}}, "": {"S": "empty name"}}}
    assert round_trip(doc) == doc


# --- lines written by hand, as AWS documents the format ----------------------------------------------------


def test_aws_documented_example_decodes() -> None:
    # The example of the Developer Guide ("DynamoDB table export output format", Amazon Ion), on one line.
    line = (
        b'$ion_1_0 {Item:{Authors:$dynamodb_SS::["Author1","Author2"],Dimensions:"8.5 x 11.0 x 1.5",'
        b'ISBN:"333-3333333333",Id:103.,InPublication:false,PageCount:6d2,Price:2d3,ProductCategory:"Book",'
        b'Title:"Book 103 Title"}}\n'
    )
    doc = decode_ion_line(line)
    assert doc == {
        "Item": {
            "Authors": {"SS": ["Author1", "Author2"]},
            "Dimensions": {"S": "8.5 x 11.0 x 1.5"},
            "ISBN": {"S": "333-3333333333"},
            "Id": {"N": "103"},
            "InPublication": {"BOOL": False},
            "PageCount": {"N": "6E+2"},
            "Price": {"N": "2E+3"},
            "ProductCategory": {"S": "Book"},
            "Title": {"S": "Book 103 Title"},
        }
    }
    # The guide's DYNAMODB_JSON example of the same item says "600" and "2000": the same DynamoDB numbers.
    assert Decimal(doc["Item"]["PageCount"]["N"]) == Decimal("600")
    assert Decimal(doc["Item"]["Price"]["N"]) == Decimal("2000")


def test_every_type_by_hand() -> None:
    line = (
        '$ion_1_0 {Item:{pk:"a",sk:1.,n:-1.5d-130,i:42,big:123456789012345678901234567890123456789,'
        'b:{{AP8=}},eb:{{}},e:"",t:true,f:false,z:null,zs:null.string,zl:null.list,'
        'ss:$dynamodb_SS::["x",""],ns:$dynamodb_NS::[1.,2d0,-0.5,7],bs:$dynamodb_BS::[{{AA==}},{{}}],'
        "l:[\"s\",1.5,[],{},null,{{AQ==}}],m:{'with.dot':{deep:[true]}},'ключ':\"日本語 🚀\"}}"
    ).encode()
    assert decode_ion_line(line) == {
        "Item": {
            "pk": {"S": "a"},
            "sk": {"N": "1"},
            "n": {"N": "-1.5E-130"},
            "i": {"N": "42"},
            "big": {"N": "123456789012345678901234567890123456789"},
            "b": {"B": b64(b"\x00\xff")},
            "eb": {"B": ""},
            "e": {"S": ""},
            "t": {"BOOL": True},
            "f": {"BOOL": False},
            "z": {"NULL": True},
            "zs": {"NULL": True},
            "zl": {"NULL": True},
            "ss": {"SS": ["x", ""]},
            "ns": {"NS": ["1", "2", "-0.5", "7"]},
            "bs": {"BS": [b64(b"\x00"), ""]},
            "l": {"L": [{"S": "s"}, {"N": "1.5"}, {"L": []}, {"M": {}}, {"NULL": True}, {"B": b64(b"\x01")}]},
            "m": {"M": {"with.dot": {"M": {"deep": {"L": [{"BOOL": True}]}}}}},
            "ключ": {"S": "日本語 🚀"},
        }
    }


def test_incremental_records_by_hand() -> None:
    put = (
        b'$ion_1_0 {Metadata:{WriteTimestampMicros:1700000000000000},Keys:{pk:"a",sk:1.},'
        b'OldImage:{pk:"a",sk:1.,v:"old"},NewImage:{pk:"a",sk:1.,v:"new"}}'
    )
    assert decode_ion_line(put) == {
        "Metadata": {"WriteTimestampMicros": {"N": "1700000000000000"}},
        "Keys": {"pk": {"S": "a"}, "sk": {"N": "1"}},
        "OldImage": {"pk": {"S": "a"}, "sk": {"N": "1"}, "v": {"S": "old"}},
        "NewImage": {"pk": {"S": "a"}, "sk": {"N": "1"}, "v": {"S": "new"}},
    }
    # However the Ion spells the timestamp integer (decimal, exponent), the N is plain digits.
    delete = b'$ion_1_0 {Metadata:{WriteTimestampMicros:17000000000000.01d2},Keys:{pk:"a",sk:1.},NewImage:null}'
    assert decode_ion_line(delete) == {
        "Metadata": {"WriteTimestampMicros": {"N": "1700000000000001"}},
        "Keys": {"pk": {"S": "a"}, "sk": {"N": "1"}},
        "NewImage": None,  # as a JSON null: RecordParser treats it as absent, a delete
    }


# --- bad input ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b'{"Item":{"pk":{"S":"a"}', "not Ion (IERR_"),
        (b"$ion_1_0 {Item:{pk:", "not Ion (IERR_"),
        (b"$ion_1_0 {Item:{n:1.5e0}}", "Item.n: an Ion float (1.5) is not a DynamoDB number"),
        (b"$ion_1_0 {Item:{n:nan}}", "Item.n: an Ion float"),
        (b"$ion_1_0 {Item:{s:abc}}", "Item.s: an Ion symbol has no DynamoDB type"),
        (b"$ion_1_0 {Item:{t:2024-05-01T10:00:00Z}}", "Item.t: an Ion timestamp has no DynamoDB type"),
        (b'$ion_1_0 {Item:{c:{{"text"}}}}', "Item.c: an Ion clob has no DynamoDB type"),
        (b"$ion_1_0 {Item:{l:[1,(a b)]}}", "Item.l[1]: an Ion s-expression has no DynamoDB type"),
        (b"$ion_1_0 {Item:{x:$dynamodb_XS::[1]}}", "Item.x: unexpected annotation on an Ion list annotated"),
        (b'$ion_1_0 {Item:{x:foo::"s"}}', "Item.x: unexpected annotation on an Ion string annotated foo"),
        (b"$ion_1_0 {Item:{x:$dynamodb_SS::{a:1}}}", "Item.x: unexpected annotation on an Ion struct"),
        (b"$ion_1_0 {Item:{x:$dynamodb_SS::$dynamodb_NS::[1]}}", "Item.x: unexpected annotation"),
        (b"$ion_1_0 {Item:{m:{s:$dynamodb_SS::[1.]}}}", "Item.m.s[0]: a $dynamodb_SS member must be an Ion str"),
        (b"$ion_1_0 {Item:{s:$dynamodb_NS::[null]}}", "Item.s[0]: a $dynamodb_NS member must be an Ion decimal"),
        (b'$ion_1_0 {Item:{s:$dynamodb_BS::["x"]}}', "Item.s[0]: a $dynamodb_BS member must be an Ion blob"),
        (b"$ion_1_0 {Item:{a:1.,a:2.}}", "Item: field 'a' appears more than once"),
        (b"$ion_1_0 {Item:{$0:1.}}", "Item: a field without a name"),
        (b'$ion_1_0 {Item:{pk:"a"}} {Item:{pk:"b"}}', "line holds 2 Ion values"),
        (b"$ion_1_0", "line holds no Ion value"),
        (b"", "line holds no Ion value"),
        (b"$ion_1_0 null", "a record must be an unannotated Ion struct, got an Ion null"),
        (b"$ion_1_0 [1]", "a record must be an unannotated Ion struct, got an Ion list"),
        (b"$ion_1_0 x::{Item:{}}", "a record must be an unannotated Ion struct"),
        (b"$ion_1_0 {Thing:{}}", "unknown record field 'Thing'"),
        (b"$ion_1_0 {Item:[1.]}", "Item: must be an Ion struct of attributes, got an Ion list"),
        (b"$ion_1_0 {Metadata:{WriteTimestampMicros:1.5},Keys:{}}", "Metadata: WriteTimestampMicros must be an int"),
        (b'$ion_1_0 {Item:{"\xff":1.}}', "line is not UTF-8"),  # the C reader would crash the process here
        (b'$ion_1_0 {Item:{a:"\xc3"}}', "line is not UTF-8"),
        (b"$ion_1_0 {Item:{a:" + b"[" * 2000 + b"]" * 2000 + b"}}", "not Ion (Container nesting exceeded"),
    ],
)
def test_bad_lines_are_refused_with_a_reason(line: bytes, reason: str) -> None:
    with pytest.raises(RecordError) as caught:
        decode_ion_line(line)
    assert reason in str(caught.value)


def test_long_symbol_ids_are_refused_and_do_not_hang() -> None:
    """amazon-ion 0.15's C reader loops forever on a symbol ID ≥ 2**31: such lines go to the Python reader.

    Run in a child process so a regression fails the test instead of hanging the suite.
    """
    script = (
        "from ddb_restore.export.ion import decode_ion_line\n"
        "from ddb_restore.errors import RecordError\n"
        "for line in (b'{Item:{a:$2147483648}}', b'{Item:{$2345678901:1.}}', b'{Item:{a:$4294967296::1.}}'):\n"
        "    try:\n"
        "        decode_ion_line(line)\n"
        "    except RecordError as err:\n"
        "        assert 'Out of range SID' in str(err), err\n"
        "    else:\n"
        "        raise AssertionError(line)\n"
        'print(decode_ion_line(b\'{Item:{a:"pay $2147483648 now",n:1.50,s:$dynamodb_SS::["$99999999999"]}}\'))\n'
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    expected = {"Item": {"a": {"S": "pay $2147483648 now"}, "n": {"N": "1.50"}, "s": {"SS": ["$99999999999"]}}}
    assert done.stdout.strip() == repr(expected)


def test_encode_refuses_what_is_not_a_dynamodb_value() -> None:
    for attribute in (
        {"N": "abc"},
        {"N": "NaN"},
        {"N": 1.5},
        {"B": "not base64!"},
        {"X": "1"},
        {"S": "a", "N": "1"},
        {"BOOL": "false"},
        {"S": 1},
    ):
        with pytest.raises(RecordError):
            encode_ion_line({"Item": {"a": attribute}})


# --- size ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [{"S": "é" + "x" * 395_000}, {"B": b64(bytes(range(256)) * 1_525)}],  # ~395 KB string, ~390 KB blob
    ids=["string-395KB", "blob-390KB"],
)
def test_item_near_400_kb(payload: dict[str, Any]) -> None:
    doc = {"Item": {"pk": {"S": "big"}, "sk": {"N": "1"}, "payload": payload}}
    line = (encode_ion_line(doc) + "\n").encode()
    assert len(line) > 390_000  # far past the C reader's default 4 KB text buffer
    assert decode_ion_line(line) == doc  # its speed is a benchmark's business, not a test's


def test_many_attributes_and_long_lines_of_small_values() -> None:
    item = {"pk": {"S": "wide"}, "sk": {"N": "1"}}
    item.update({f"attr{i:05d}": {"N": f"{i}.{i % 7}"} if i % 2 else {"S": f"v{i}"} for i in range(5_000)})
    doc = {"Item": item}
    assert len(encode_ion_line(doc)) > 4096 * 10
    assert round_trip(doc) == doc


def test_pure_python_reader_gives_the_same_documents(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the C extension, simpleion wraps every value (IonPy*): the mapping must not depend on it."""
    monkeypatch.setattr(simpleion, "c_ext", False)
    for item in sample_items(5, large=False):
        assert round_trip({"Item": item}) == {"Item": item}
    for doc in incremental_docs():
        assert round_trip(doc) == doc
    for line in (b"{Item:{n:1.5e0}}", b"{Item:{s:abc}}", b'{Item:{c:{{"x"}}}}', b"{Item:{a:1.,a:2.}}", b"{Item:x}"):
        with pytest.raises(RecordError):
            decode_ion_line(line)


# --- into RecordParser -------------------------------------------------------------------------------------


def test_decoded_documents_parse_to_the_same_records_as_json() -> None:
    full = [{"Item": item} for item in sample_items(40)]
    cases = [(False, False, full), (True, False, incremental_docs()), (True, True, incremental_docs())]
    for incremental, revert, docs in cases:
        json_parser = RecordParser(incremental=incremental, key_names=KEYS, revert=revert)
        ion_parser = RecordParser(incremental=incremental, key_names=KEYS, revert=revert, decode=decode_ion_line)
        for n, doc in enumerate(docs, 1):
            json_line = (json.dumps(doc, ensure_ascii=False) + "\n").encode()
            ion_line = (encode_ion_line(doc) + "\n").encode()
            expected = json_parser.parse(json_line, n)
            for record in (
                ion_parser.parse_document(decode_ion_line(ion_line), n, ion_line),
                ion_parser.parse(ion_line, n),
            ):
                assert (record.op, record.item, record.key, record.size, record.line, record.timestamp) == (
                    expected.op,
                    expected.item,
                    expected.key,
                    expected.size,
                    expected.line,
                    expected.timestamp,
                )
                assert record.raw == ion_line
