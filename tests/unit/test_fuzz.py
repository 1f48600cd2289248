"""Bad input, fuzzed: what an export bucket holds can give a clear error or a reject, never a crash.

Property-based (hypothesis): valid DynamoDB JSON records round-trip exactly through the parser; broken lines are
always a `RecordError` (a reject, never another exception); a manifest key never resolves outside `data/`;
fuzzed manifests load or fail with a `RestoreError`; bad gzip (random, truncated, corrupted, a bomb) is a
`DataFileError` naming the file, refused before it fills memory.
"""

from __future__ import annotations

import base64
import contextlib
import decimal
import gzip
import hashlib
import json
import posixpath
import tempfile
import tracemalloc
import zlib
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from ddb_restore.errors import DataFileError, RecordError, RestoreError
from ddb_restore.export import records, sizes
from ddb_restore.export.datafile import MAX_LINE_BYTES, read_lines
from ddb_restore.export.manifest import DataFile, load_export, relative_data_key
from ddb_restore.export.records import RecordParser, item_size, key_of
from ddb_restore.export.storage import LocalFolder
from support.sample import full_records, sample_items, write_export
from support.shapes import as_sent_map

KEYS = ("pk", "sk")
EXPORT_ID = "01700000000000-abcdef12"
OTHER_ID = "01700000099999-99999999"
DATA_NAME = "data/abcdefabcdefabcdefabcdef.json.gz"
TYPE_TAGS = ("S", "N", "B", "BOOL", "NULL", "SS", "NS", "BS", "L", "M")

# The autouse fixture of conftest.py (fake AWS env, a tmp cwd) is function-scoped: it is set up once per test,
# not per example, which is fine here because no example depends on it.
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


def fuzz(max_examples: int) -> settings:
    return settings(FUZZ, max_examples=max_examples)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def b64md5(body: bytes) -> str:
    return b64(hashlib.md5(body).digest())


# --------------------------------------------------------------------------------------------------------------
# Valid DynamoDB JSON

TEXT_CHARS = st.characters(blacklist_categories=("Cs",))  # any Unicode scalar value: no lone surrogates
texts = st.text(TEXT_CHARS, max_size=20)
names = st.one_of(
    st.text(TEXT_CHARS, min_size=1, max_size=12),
    st.sampled_from(
        ["a.b", "with.dot", "attr.with.dots", ".", "..", "a..b", ".lead", "trail.", "ключ", "日本語", "🚀"]
    ),
)

EDGE_NUMBERS = [
    "0",
    "-0",
    "1",
    "-1",
    "12345678901234567890123456789012345678",  # 38 digits
    "-12345678901234567890123456789012345678",
    "9.9999999999999999999999999999999999999E+125",
    "-9.9999999999999999999999999999999999999E+125",
    "1E-130",
    "-1E-130",
    "1.0E-130",
    "0.000000000000000000000000000000000001",
    "1e+125",
    "3.14",
    "-0.5",
]


@st.composite
def decimal_numbers(draw: st.DrawFn) -> str:
    sign = draw(st.sampled_from(["", "-"]))
    digits = draw(st.text("0123456789", min_size=1, max_size=38))
    if len(digits) > 1 and draw(st.booleans()):
        point = draw(st.integers(1, len(digits) - 1))
        digits = f"{digits[:point]}.{digits[point:]}"
    exponent = draw(st.none() | st.integers(-130, 125))
    if exponent is not None:
        plus = "+" if exponent >= 0 and draw(st.booleans()) else ""
        digits += f"{draw(st.sampled_from('eE'))}{plus}{exponent}"
    return sign + digits


numbers = st.one_of(st.sampled_from(EDGE_NUMBERS), decimal_numbers())
binaries = st.one_of(
    st.sampled_from([b"", b"\x00", b"\xff", b"\x00\xff\x00\n\r", bytes(range(256))]), st.binary(max_size=40)
)

scalar_values = st.one_of(
    texts.map(lambda s: {"S": s}),
    numbers.map(lambda n: {"N": n}),
    binaries.map(lambda b: {"B": b64(b)}),
    st.booleans().map(lambda b: {"BOOL": b}),
    st.just({"NULL": True}),
    st.lists(texts, min_size=1, max_size=5, unique=True).map(lambda ss: {"SS": ss}),
    st.lists(numbers, min_size=1, max_size=5, unique=True).map(lambda ns: {"NS": ns}),
    st.lists(binaries, min_size=1, max_size=5, unique=True).map(lambda bs: {"BS": [b64(b) for b in bs]}),
)
values = st.recursive(
    scalar_values,
    lambda children: st.one_of(
        st.lists(children, max_size=4).map(lambda items: {"L": items}),
        st.dictionaries(names, children, max_size=4).map(lambda attrs: {"M": attrs}),
    ),
    max_leaves=20,
)
key_values = st.tuples(texts.filter(bool).map(lambda s: {"S": s}), numbers.map(lambda n: {"N": n}))


@st.composite
def items(draw: st.DrawFn) -> dict[str, Any]:
    """An item with the table's key (pk S, sk N) and any other attributes of any type."""
    pk, sk = draw(key_values)
    rest = draw(st.dictionaries(names.filter(lambda n: n not in KEYS), values, max_size=8))
    return {"pk": pk, "sk": sk, **rest}


_DIGITS = decimal.Context(prec=100)


def number_size(text: str) -> int:
    """DynamoDB's size of a number, from decimal's reading of it: 1 byte per two significant digits, plus 1."""
    value = decimal.Decimal(text)
    significant = 0 if value.is_zero() else len(_DIGITS.normalize(value).as_tuple().digits)
    return (significant + 1) // 2 + 1


def dynamodb_size(attributes: dict[str, Any]) -> int:
    """DynamoDB's item size, written plainly from its documented rules (names and strings in UTF-8 bytes,
    binaries decoded, numbers by significant digits, 1 byte for BOOL and NULL, 3 bytes for a list or a map
    plus 1 a list element): the reference for records.py's fast walk."""
    total = 0
    for name, value in attributes.items():
        total += len(name.encode("utf-8"))
        ((tag, inner),) = value.items()
        if tag == "S":
            total += len(inner.encode("utf-8"))
        elif tag == "N":
            total += number_size(inner)
        elif tag == "B":
            total += len(base64.b64decode(inner))
        elif tag in ("BOOL", "NULL"):
            total += 1
        elif tag == "SS":
            total += sum(len(s.encode("utf-8")) for s in inner)
        elif tag == "NS":
            total += sum(number_size(n) for n in inner)
        elif tag == "BS":
            total += sum(len(base64.b64decode(b)) for b in inner)
        elif tag == "L":
            total += 3 + sum(1 + dynamodb_size({"": v}) for v in inner)
        elif tag == "M":
            total += 3 + dynamodb_size(inner)
    return total


def typed(value: Any) -> Any:
    """`value` with every scalar tagged by its type, so that True is not 1 and "1" (an N) is not 1.0."""
    if isinstance(value, dict):
        return {name: typed(v) for name, v in value.items()}
    if isinstance(value, list):
        return [typed(v) for v in value]
    return (type(value).__name__, value)


def encode_line(doc: Any, ascii_only: bool, newline: bool) -> bytes:
    return (json.dumps(doc, ensure_ascii=ascii_only) + ("\n" if newline else "")).encode("utf-8")


def full_parser() -> RecordParser:
    return RecordParser(incremental=False, key_names=KEYS)


def incremental_parser() -> RecordParser:
    return RecordParser(incremental=True, key_names=KEYS)


@fuzz(80)
@given(item=items(), ascii_only=st.booleans(), newline=st.booleans(), line_no=st.integers(1, 10**9))
def test_every_valid_full_export_record_round_trips_exactly(
    item: dict[str, Any], ascii_only: bool, newline: bool, line_no: int
) -> None:
    line = encode_line({"Item": item}, ascii_only, newline)
    record = full_parser().parse(line, line_no)
    expected = as_sent_map(item)
    assert record.op == "put"
    assert typed(record.item) == typed(expected)  # N strings untouched, B and BS as bytes, the rest as it was
    assert record.key == key_of(expected, KEYS)
    assert (record.line, record.raw, record.timestamp) == (line_no, line, None)
    assert record.size == item_size(item) == dynamodb_size(item)


@fuzz(60)
@given(
    new=items(),
    old=st.none() | items(),
    timestamp=st.integers(0, 2**63 - 1),
    deleted=st.booleans(),
    ascii_only=st.booleans(),
)
def test_every_valid_incremental_record_round_trips_exactly(
    new: dict[str, Any], old: dict[str, Any] | None, timestamp: int, deleted: bool, ascii_only: bool
) -> None:
    keys = {"pk": new["pk"], "sk": new["sk"]}
    doc: dict[str, Any] = {"Metadata": {"WriteTimestampMicros": {"N": str(timestamp)}}, "Keys": keys}
    if old is not None:
        doc["OldImage"] = {**old, **keys}
    if not deleted:
        doc["NewImage"] = new
    line = encode_line(doc, ascii_only, True)
    record = incremental_parser().parse(line, 3)
    expected = as_sent_map(keys if deleted else new)
    assert record.op == ("delete" if deleted else "put")
    assert typed(record.item) == typed(expected)
    assert record.key == key_of(as_sent_map(keys), KEYS)
    assert (record.timestamp, record.line, record.raw) == (timestamp, 3, line)
    assert record.size == item_size(keys if deleted else new)
    assert record.size == dynamodb_size(keys if deleted else new)


# --------------------------------------------------------------------------------------------------------------
# Broken lines: always a RecordError

NAN, INF = float("nan"), float("inf")
BAD_VALUES: list[Any] = [
    # N: a JSON number, not a decimal string; NaN and Infinity in every spelling
    {"N": 1},
    {"N": 1.5},
    {"N": NAN},
    {"N": INF},
    {"N": -INF},
    {"N": "NaN"},
    {"N": "nan"},
    {"N": "Infinity"},
    {"N": "-Infinity"},
    {"N": "inf"},
    {"N": ""},
    {"N": "0x10"},
    {"N": " 1"},
    {"N": "1 "},
    {"N": "1e"},
    {"N": "--1"},
    {"N": "1_000"},
    {"N": "١٢٣"},  # Arabic-Indic digits: Python's \d and int() take them, DynamoDB does not
    {"N": "１２"},  # fullwidth digits, the same
    {"N": None},
    {"N": True},
    {"N": ["1"]},
    # S, BOOL, NULL of the wrong type
    {"S": 1},
    {"S": 1.5},
    {"S": NAN},
    {"S": None},
    {"S": True},
    {"S": ["a"]},
    {"S": {"S": "a"}},
    {"BOOL": "true"},
    {"BOOL": 1},
    {"BOOL": 0},
    {"BOOL": None},
    {"BOOL": NAN},
    {"NULL": False},
    {"NULL": "true"},
    {"NULL": 1},
    {"NULL": None},
    # B: not base64, or not a string
    {"B": "not base64!"},
    {"B": "YQ"},
    {"B": "YQ=="[:3]},
    {"B": 1},
    {"B": None},
    {"B": ["YQ=="]},
    # sets and containers of the wrong shape
    {"SS": "a"},
    {"SS": [1]},
    {"SS": ["a", None]},
    {"NS": ["x"]},
    {"NS": [1]},
    {"NS": "1"},
    {"NS": ["NaN"]},
    {"BS": ["***"]},
    {"BS": "YQ=="},
    {"BS": [1]},
    {"L": {}},
    {"L": "a"},
    {"L": [1]},
    {"L": [{"S": 1}]},
    {"M": []},
    {"M": "a"},
    {"M": {"a": 1}},
    {"M": {"a": {"N": NAN}}},
    # not exactly one type tag
    {},
    {"S": "a", "N": "1"},
    {"s": "a"},
    {"n": "1"},
    {"bool": True},
    {"Null": True},
    # not an attribute value at all
    "a",
    1,
    NAN,
    INF,
    None,
    True,
    [],
    [{"S": "a"}],
]

unknown_tags = st.text(max_size=8).filter(lambda tag: tag not in TYPE_TAGS)
bad_values = st.one_of(
    st.sampled_from(BAD_VALUES),
    st.tuples(unknown_tags, st.one_of(texts, st.integers(), st.none(), st.just([]))).map(lambda t: {t[0]: t[1]}),
)


@st.composite
def wrapped(draw: st.DrawFn, bad: Any) -> Any:
    """`bad` placed inside 0-3 levels of L and M, next to valid values."""
    for _ in range(draw(st.integers(0, 3))):
        siblings = draw(st.lists(values, max_size=2))
        if draw(st.booleans()):
            position = draw(st.integers(0, len(siblings)))
            bad = {"L": siblings[:position] + [bad] + siblings[position:]}
        else:
            bad = {"M": {**{f"ok{i}": v for i, v in enumerate(siblings)}, draw(names): bad}}
    return bad


@st.composite
def items_with_a_bad_value(draw: st.DrawFn) -> dict[str, Any]:
    item = draw(items())
    bad = draw(wrapped(draw(bad_values)))
    name = draw(st.sampled_from([*KEYS, *item])) if draw(st.booleans()) else draw(names)
    item[name] = bad
    return item


@fuzz(300)
@given(item=st.one_of(items(), items_with_a_bad_value()))
def test_the_fast_check_and_the_explaining_one_agree_on_every_item(item: dict[str, Any]) -> None:
    """records.py checks each line with a fast walk (sizes.py) that only says yes or no, and explains a no with a
    slow one: a yes must never hide something the explaining walk refuses, and a no must always get its reason."""
    try:
        size = sizes.measure(item)
    except sizes.Invalid:
        with pytest.raises(RecordError):
            records._explain(item, "Item")  # noqa: SLF001 - the two walks compared, not reachable one by one
    else:
        records._explain(item, "Item")  # noqa: SLF001 - as above
        assert size == dynamodb_size(item)


def dumps(doc: Any, ascii_only: bool = True) -> bytes:
    return json.dumps(doc, ensure_ascii=ascii_only).encode("utf-8")  # NaN and Infinity as JSON's extensions


@st.composite
def truncated_lines(draw: st.DrawFn) -> bytes:
    """A valid record line cut short at any byte (possibly inside a multi-byte character)."""
    line = dumps({"Item": draw(items())}, draw(st.booleans()))
    cut = line[: draw(st.integers(0, len(line) - 1))]
    return cut + b"\n" if draw(st.booleans()) else cut


@st.composite
def lines_without_keys(draw: st.DrawFn) -> bytes:
    item = draw(items())
    for name in draw(st.lists(st.sampled_from(KEYS), min_size=1, unique=True)):
        del item[name]
    return dumps({"Item": item})


json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True), texts)
non_object_documents = st.recursive(json_scalars, lambda children: st.lists(children, max_size=3), max_leaves=6)

records_without_item = st.one_of(
    st.builds(
        lambda item, key: {key: item}, items(), st.sampled_from(["item", "Items", "ITEM", "NewImage", "Keys", ""])
    ),
    st.just({}),
    st.builds(lambda x: {"Item": x}, non_object_documents),
)

lone_surrogates = st.integers(0xD800, 0xDFFF).map(chr)


@st.composite
def lines_with_lone_surrogates(draw: st.DrawFn) -> bytes:
    """A lone surrogate (not Unicode text, not UTF-8: never in an export) in a string, a name or a set, sent as a
    JSON escape or as the UTF-8-style bytes json.loads lets through."""
    item = draw(items())
    bad = draw(lone_surrogates)
    where = draw(st.sampled_from(["S", "name", "SS", "map key", "key"]))
    if where == "S":
        item["text"] = {"S": f"a{bad}b"}
    elif where == "name":
        item[f"n{bad}"] = {"S": "x"}
    elif where == "SS":
        item["set"] = {"SS": ["ok", bad]}
    elif where == "map key":
        item["map"] = {"M": {bad: {"NULL": True}}}
    else:
        item["pk"] = {"S": bad}
    text = json.dumps({"Item": item}, ensure_ascii=draw(st.booleans()))
    return text.encode("utf-8", "surrogatepass")


broken_full_lines = st.one_of(
    truncated_lines(),
    st.binary(max_size=200),
    items_with_a_bad_value().map(lambda item: dumps({"Item": item})),
    lines_without_keys(),
    records_without_item.map(dumps),
    non_object_documents.map(dumps),
    lines_with_lone_surrogates(),
)


@fuzz(150)
@given(line=broken_full_lines)
@example(line=b'{"Item":{"pk":{"S":"a"},"sk":{"N":NaN}}}')
@example(line=b'{"Item":{"pk":{"S":"a"},"sk":{"N":"1"},"x":{"N":Infinity}}}')
@example(line=b'{"Item":{"pk":{"S":"a"},"sk":{"N":"1"},"x":{"S":"\\ud800"}}}')
@example(line=b'{"Item":{"pk":{"S":"a"},"sk":{"N":"1"},"x":{"S":"\xed\xa0\x80"}}}')
@example(line='{"Item":{"pk":{"S":"a"},"sk":{"N":"1"},"x":{"N":"\u0661"}}}'.encode())
def test_a_broken_full_export_line_is_always_a_record_error(line: bytes) -> None:
    with pytest.raises(RecordError):
        full_parser().parse(line, 1)


ITEM_WITH = b'{"Item":{"pk":{"S":"a"},"sk":{"N":"1"},"x":%s}}'
HOSTILE_LINES = {
    "NaN literal as N": ITEM_WITH % b'{"N":NaN}',
    "Infinity literal as N": ITEM_WITH % b'{"N":-Infinity}',
    "NaN as the whole value": ITEM_WITH % b"NaN",
    "lone surrogate escaped in S": ITEM_WITH % b'{"S":"\\ud800"}',
    "lone surrogate as UTF-8 bytes in S": ITEM_WITH % b'{"S":"\xed\xa0\x80"}',
    "lone surrogate in an attribute name": b'{"Item":{"pk":{"S":"a"},"sk":{"N":"1"},"\\udc00":{"NULL":true}}}',
    "lone surrogate in an SS member": ITEM_WITH % b'{"SS":["\\udfff"]}',
    "lone surrogate in the key": b'{"Item":{"pk":{"S":"\\ud83d"},"sk":{"N":"1"}}}',
    "Arabic-Indic digits as N": ITEM_WITH % '{"N":"\u0661\u0662\u0663"}'.encode(),
    "fullwidth digits as N": ITEM_WITH % '{"N":"\uff11\uff12"}'.encode(),
    "Arabic-Indic digits in an NS": ITEM_WITH % '{"NS":["1","\u0662"]}'.encode(),
}


@pytest.mark.parametrize("line", list(HOSTILE_LINES.values()), ids=list(HOSTILE_LINES))
def test_each_hostile_line_found_by_fuzzing_is_a_record_error(line: bytes) -> None:
    with pytest.raises(RecordError):
        full_parser().parse(line, 1)


@st.composite
def broken_incremental_lines(draw: st.DrawFn) -> bytes:
    new = draw(items())
    keys = {"pk": new["pk"], "sk": new["sk"]}
    kind = draw(st.sampled_from(["bad NewImage", "bad Keys", "no Keys", "keys missing", "NewImage not an object"]))
    doc: dict[str, Any] = {"Metadata": {"WriteTimestampMicros": {"N": "1"}}}
    if kind == "bad NewImage":
        doc.update(Keys=keys, NewImage=draw(items_with_a_bad_value()))
    elif kind == "bad Keys":  # a delete: its Keys are the whole record
        doc["Keys"] = {**keys, draw(st.sampled_from(KEYS)): draw(bad_values)}
    elif kind == "no Keys":
        doc.update(draw(st.sampled_from([{}, {"NewImage": None}, {"OldImage": new}])))
    elif kind == "keys missing":
        del keys[draw(st.sampled_from(KEYS))]
        doc.update(draw(st.sampled_from([{"Keys": keys}, {"Keys": keys, "NewImage": keys}])))
    else:
        doc.update(Keys=keys, NewImage=draw(non_object_documents.filter(lambda x: x is not None)))
    return dumps(doc)


@fuzz(80)
@given(
    line=st.one_of(
        broken_incremental_lines(), truncated_lines(), st.binary(max_size=200), non_object_documents.map(dumps)
    )
)
def test_a_broken_incremental_line_is_always_a_record_error(line: bytes) -> None:
    with pytest.raises(RecordError):
        incremental_parser().parse(line, 1)


@fuzz(40)
@given(depth=st.integers(1, 5000), container=st.sampled_from(["L", "M", "raw"]))
@example(depth=100_000, container="raw")
@example(depth=2_000, container="M")
@example(depth=2_000, container="L")
def test_a_deeply_nested_line_is_a_record_or_a_record_error_never_a_crash(depth: int, container: str) -> None:
    """DynamoDB nests at most 32 levels; deeper lines may be left to DynamoDB to refuse (a reject), but a line
    nested past Python's recursion limit must not escape as a RecursionError and stop the whole run."""
    if container == "raw":
        line = b"[" * depth + b"]" * depth
    else:
        opening = b'{"L":[' if container == "L" else b'{"M":{"a":'
        closing = b"]}" if container == "L" else b"}}"
        line = b'{"Item":{"pk":{"S":"a"},"sk":{"N":"1"},"deep":' + opening * depth + b'{"S":"x"}' + closing * depth
        line += b"}}"
    with contextlib.suppress(RecordError):
        full_parser().parse(line, 1)


# --------------------------------------------------------------------------------------------------------------
# Manifest keys: never outside data/

HOSTILE_SEGMENTS = [
    "",
    ".",
    "..",
    "...",
    "data",
    "AWSDynamoDB",
    EXPORT_ID,
    OTHER_ID,
    "exports",
    "\\",
    "..\\..",
    "data\\..",
    "%2e%2e",
    "\x00",
    "．．",
    "~",
    "s3:",
    "other-bucket",
    "C:",
]
segments = st.one_of(st.sampled_from(HOSTILE_SEGMENTS), st.text(max_size=6))


@st.composite
def hostile_keys(draw: st.DrawFn) -> str:
    parts = draw(st.lists(segments, max_size=8))
    if draw(st.booleans()):  # make the marker likely, so containment past it is exercised
        parts[draw(st.integers(0, len(parts))) : 0] = ["AWSDynamoDB", draw(st.sampled_from([EXPORT_ID, OTHER_ID]))]
    key = "/".join(parts)
    return draw(st.sampled_from(["", "/", "s3://other-bucket/", "../", "\\"])) + key


folder_names = st.one_of(st.sampled_from([EXPORT_ID, OTHER_ID, "renamed", "", ".", ".."]), st.text(max_size=8))
export_ids = st.one_of(st.none(), folder_names)


@fuzz(150)
@given(key=st.one_of(hostile_keys(), st.text()), folder_name=folder_names, export_id=export_ids)
@example(key=f"AWSDynamoDB/{EXPORT_ID}/data/../../x", folder_name=EXPORT_ID, export_id=None)
@example(key=f"/AWSDynamoDB/{EXPORT_ID}/data/x", folder_name=EXPORT_ID, export_id=None)
@example(key=f"p/AWSDynamoDB/{OTHER_ID}/data/x", folder_name=EXPORT_ID, export_id=EXPORT_ID)
@example(key=f"p/AWSDynamoDB/{EXPORT_ID}/data\\..\\..\\x", folder_name=EXPORT_ID, export_id=None)
@example(key="AWSDynamoDB/../x/data/f", folder_name="renamed", export_id="../x")
def test_a_manifest_key_never_resolves_outside_data(key: str, folder_name: str, export_id: str | None) -> None:
    rel = relative_data_key(key, folder_name, export_id)
    if rel is None:
        return
    assert isinstance(rel, str)
    shared = rel.startswith("../data/")
    name = rel.removeprefix("../").removeprefix("data/")
    assert rel == (f"../data/{name}" if shared else f"data/{name}")
    assert name not in ("", ".", "..") and "/" not in name and "\\" not in name and "\x00" not in name
    assert posixpath.normpath(rel) == rel and not PurePosixPath(rel).is_absolute()
    assert ".." not in key.split("/")
    # It came from the key, right after this export's folder (AWSDynamoDB/<folder or export id>/data/) or in the
    # data folder all exports share (AWSDynamoDB/data/).
    if shared:
        assert key.endswith(f"AWSDynamoDB/data/{name}")
    else:
        assert any(key.endswith(f"AWSDynamoDB/{x}/{rel}") for x in (folder_name, export_id) if x)
    with tempfile.TemporaryDirectory() as tmp:
        export_folder = Path(tmp).resolve() / "AWSDynamoDB" / "export"
        expected = (export_folder.parent if shared else export_folder) / "data"
        assert (export_folder / rel).resolve().parent == expected


safe_segments = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="/\\\x00"), min_size=1, max_size=12
).filter(lambda s: s not in (".", "..", "AWSDynamoDB"))


@fuzz(150)
@given(
    prefix=st.lists(safe_segments, max_size=4),
    export_id=st.one_of(st.from_regex(r"\A[0-9]{14}-[0-9a-f]{8}\Z"), safe_segments),
    name=safe_segments,
)
def test_a_well_formed_key_gives_its_name_under_data(prefix: list[str], export_id: str, name: str) -> None:
    key = "".join(f"{p}/" for p in prefix) + f"AWSDynamoDB/{export_id}/data/{name}"
    assume(export_id != "renamed-folder")
    assert relative_data_key(key, export_id, None) == f"data/{name}"
    assert relative_data_key(key, export_id, export_id) == f"data/{name}"
    assert relative_data_key(key, "renamed-folder", export_id) == f"data/{name}"  # a moved or copied export


# --------------------------------------------------------------------------------------------------------------
# Fuzzed manifests: they load, with every file under data/, or fail with a RestoreError

SAMPLE_RECORDS = full_records(sample_items(6, large=False))


class DeepJson(bytes):
    """JSON arrays nested `depth` deep: past any recursion limit. Its repr stays short in hypothesis' reports."""

    depth: int

    def __new__(cls, depth: int = 100_000) -> DeepJson:
        line = super().__new__(cls, b"[" * depth + b"]" * depth)
        line.depth = depth
        return line

    def __repr__(self) -> str:
        return f"DeepJson({self.depth})"


DEEP_JSON = DeepJson()


@st.composite
def manifest_keys(draw: st.DrawFn, real: list[str]) -> Any:
    return draw(
        st.one_of(
            st.sampled_from(real),
            st.sampled_from(real).map(lambda k: k.replace("/data/", "/data/../../")),
            st.sampled_from(real).map(lambda k: "/" + k),
            st.sampled_from(real).map(lambda k: k.replace(EXPORT_ID, OTHER_ID)),
            st.sampled_from(real).map(lambda k: "s3://other-bucket/" + k),
            st.sampled_from(real).map(lambda k: k.replace("/", "\\")),
            hostile_keys(),
            st.text(max_size=30),
            st.one_of(st.none(), st.integers(), st.booleans(), st.lists(st.text(max_size=3), max_size=2)),
        )
    )


garbage_manifest_lines = st.one_of(
    st.binary(max_size=40),
    non_object_documents.map(dumps),
    st.sampled_from([b"", b"   ", b"{", b"null", b"NaN", b'{"itemCount": NaN}', DEEP_JSON]),
)


@st.composite
def fuzzed_entry(draw: st.DrawFn, original: dict[str, Any], real: list[dict[str, Any]]) -> dict[str, Any]:
    """A real manifest entry with one field changed, removed or added."""
    entry = dict(original)
    field = draw(st.sampled_from(["dataFileS3Key", "dataFileS3Key", "itemCount", "md5Checksum", "drop", "extra"]))
    if field == "dataFileS3Key":
        entry[field] = draw(manifest_keys([e["dataFileS3Key"] for e in real]))
    elif field == "itemCount":
        entry[field] = draw(
            st.one_of(
                st.integers(-3, 10**30),
                st.booleans(),
                st.floats(allow_nan=True, allow_infinity=True),
                st.text(max_size=4),
                st.none(),
            )
        )
    elif field == "md5Checksum":
        entry[field] = draw(st.one_of(st.text(max_size=30), st.none(), st.integers()))
    elif field == "drop":
        entry.pop(draw(st.sampled_from(sorted(original))), None)
    else:
        entry[draw(st.text(max_size=5))] = draw(json_scalars)
    return entry


@st.composite
def fuzzed_manifests(draw: st.DrawFn, real: list[dict[str, Any]]) -> tuple[list[bytes], Any]:
    """manifest-files.json made of real entries in any order, up to three of them changed, maybe a real entry
    twice or a garbage line; and what becomes of the summary's exportArn (the export id keys are matched to)."""
    entries = list(draw(st.permutations(real)))[: draw(st.integers(0, len(real)))]
    for _ in range(draw(st.integers(0, 3))):
        if entries:
            at = draw(st.integers(0, len(entries) - 1))
            entries[at] = draw(fuzzed_entry(entries[at], real))
    if not draw(st.integers(0, 9)):
        entries.append(draw(st.sampled_from(real)))
    lines = [dumps(entry, draw(st.booleans())) for entry in entries]
    if not draw(st.integers(0, 4)):
        lines.insert(draw(st.integers(0, len(lines))), draw(garbage_manifest_lines))
    arn: Any = "keep"
    if not draw(st.integers(0, 3)):
        arn = draw(
            st.one_of(
                st.just("drop"),
                st.sampled_from(
                    [f"arn:aws:dynamodb:us-east-1:1:table/T/export/{x}" for x in ("..", "../..", OTHER_ID, "")]
                ),
                st.text(max_size=20),
                st.integers(),
            )
        )
    return lines, arn


def _real_entries() -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_export(Path(tmp), SAMPLE_RECORDS, export_id=EXPORT_ID, files=3, empty_files=1)
        return [json.loads(line) for line in (folder / "manifest-files.json").read_text().splitlines()]


REAL_ENTRIES = _real_entries()  # the manifest entries of the export each example starts from


@fuzz(100)
@given(fuzzed=fuzzed_manifests(REAL_ENTRIES), summary_count=st.sampled_from(["keep", "drop", "sum"]))
@example(fuzzed=([DEEP_JSON], "keep"), summary_count="drop")
def test_a_fuzzed_manifest_loads_inside_data_or_fails_with_a_restore_error(
    fuzzed: tuple[list[bytes], Any], summary_count: str
) -> None:
    lines, arn = fuzzed
    manifest = b"".join(line + b"\n" for line in lines)
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_export(Path(tmp), SAMPLE_RECORDS, export_id=EXPORT_ID, files=3, empty_files=1)
        for checksum in [*folder.glob("*.md5"), *folder.glob("*.checksum")]:
            checksum.unlink()
        (folder / "manifest-files.json").write_bytes(manifest)
        summary = json.loads((folder / "manifest-summary.json").read_text())
        if arn == "drop":
            del summary["exportArn"]
        elif arn != "keep":
            summary["exportArn"] = arn
        if summary_count == "drop":
            del summary["itemCount"]
        elif summary_count == "sum":  # so that the success path is reached, not only the count check
            counts = []
            for line in lines:
                with contextlib.suppress(ValueError, AttributeError, RecursionError):
                    counts.append(json.loads(line).get("itemCount"))
            summary["itemCount"] = sum(c for c in counts if isinstance(c, int) and not isinstance(c, bool))
        (folder / "manifest-summary.json").write_text(json.dumps(summary))
        try:
            export = load_export(LocalFolder(folder))
        except RestoreError as err:
            assert str(err)
            return
        root = folder.resolve()
        for file in export.files:
            assert file.name.startswith("data/"), file
            assert ".." not in file.name.split("/"), file
            assert (root / file.name).resolve().parent == root / "data", file
            assert isinstance(file.item_count, int) and file.item_count >= 0


def test_a_manifest_line_nested_past_the_recursion_limit_is_a_restore_error() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_export(Path(tmp), SAMPLE_RECORDS, export_id=EXPORT_ID, checksum="none")
        (folder / "manifest-files.json").write_bytes(DEEP_JSON + b"\n")
        with pytest.raises(RestoreError):
            load_export(LocalFolder(folder))


def test_a_manifest_summary_nested_past_the_recursion_limit_is_a_restore_error() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_export(Path(tmp), SAMPLE_RECORDS, export_id=EXPORT_ID, checksum="none")
        (folder / "manifest-summary.json").write_bytes(b'{"a":' + DEEP_JSON + b"}")
        with pytest.raises(RestoreError):
            load_export(LocalFolder(folder))


# --------------------------------------------------------------------------------------------------------------
# Bad gzip: a DataFileError naming the file, in bounded memory


def put_data_file(root: Path, body: bytes, count: int, md5: str | None = None) -> tuple[LocalFolder, DataFile]:
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / DATA_NAME).write_bytes(body)
    return LocalFolder(root), DataFile(DATA_NAME, count, b64md5(body) if md5 is None else md5, 1)


def data_file_error(folder: LocalFolder, file: DataFile) -> DataFileError:
    with pytest.raises(DataFileError) as info:
        for _ in read_lines(folder, file):
            pass
    err = info.value
    assert err.file == folder.url(file.name)
    assert str(err).startswith(folder.url(file.name))
    return err


# What the lines hold does not matter to the gzip layer: any bytes, one newline each.
record_lines = st.lists(st.binary(max_size=120).map(lambda b: b.replace(b"\n", b"") + b"\n"), min_size=1, max_size=8)


@fuzz(100)
@given(body=st.one_of(st.binary(min_size=1, max_size=300), st.binary(max_size=300).map(lambda b: b"\x1f\x8b\x08" + b)))
def test_random_bytes_as_a_data_file_are_a_data_file_error_naming_it(body: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder, file = put_data_file(Path(tmp), body, 1)
        data_file_error(folder, file)


@fuzz(100)
@given(lines=record_lines, data=st.data())
def test_a_truncated_gzip_data_file_is_a_data_file_error_naming_it(lines: list[bytes], data: st.DataObject) -> None:
    whole = gzip.compress(b"".join(lines), mtime=0)
    body = whole[: data.draw(st.integers(0, len(whole) - 1), label="cut")]
    with tempfile.TemporaryDirectory() as tmp:
        folder, file = put_data_file(Path(tmp), body, len(lines))  # the MD5 of what is there: only the cut is wrong
        data_file_error(folder, file)


@fuzz(100)
@given(lines=record_lines, data=st.data())
def test_a_corrupted_gzip_data_file_is_a_data_file_error_naming_it_or_reads_unchanged(
    lines: list[bytes], data: st.DataObject
) -> None:
    whole = bytearray(gzip.compress(b"".join(lines), mtime=0))
    at = data.draw(st.integers(10, len(whole) - 1), label="at")  # past the header's free fields (mtime, OS)
    whole[at] ^= data.draw(st.integers(1, 255), label="xor")
    with tempfile.TemporaryDirectory() as tmp:
        folder, file = put_data_file(Path(tmp), bytes(whole), len(lines))  # the MD5 of the corrupted file
        try:
            read = [line for _, line in read_lines(folder, file)]
        except DataFileError as err:
            assert err.file == folder.url(file.name) and str(err).startswith(err.file)
        else:  # a change gzip cannot see (the padding bits after the last block) must leave the data as it was
            assert read == lines


def gzip_bomb(path: Path, size: int = 200 * 1024 * 1024) -> int:
    """`size` bytes of zeros, no newline, gzipped to `path` in 1 MB steps; returns the compressed size."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: a gzip stream
    block = bytes(1024 * 1024)
    with path.open("wb") as out:
        for _ in range(size // len(block)):
            out.write(compressor.compress(block))
        out.write(compressor.flush())
    return path.stat().st_size


def test_a_gzip_bomb_is_refused_by_the_line_cap_in_bounded_memory(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    compressed = gzip_bomb(tmp_path / DATA_NAME)
    assert compressed < 1024 * 1024  # 200 MB of zeros in well under 1 MB: a bomb
    folder, file = LocalFolder(tmp_path), DataFile(DATA_NAME, 1, "AAAAAAAAAAAAAAAAAAAAAA==", 1)
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        err = data_file_error(folder, file)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert err.line == 1 and str(MAX_LINE_BYTES) in err.reason, err
    assert peak - baseline < 64 * 1024 * 1024, f"peak memory grew by {(peak - baseline) / 2**20:.0f} MB"
