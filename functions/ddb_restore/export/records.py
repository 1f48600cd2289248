"""Export lines → put/delete requests, for DYNAMODB_JSON exports, full and incremental.

The records already are DynamoDB JSON, the wire format of the low-level client, so they are never turned
into Python values and back: N stays the exact string it was (never a float), S, BOOL, NULL, L, M pass
through as they are, and the writer sends each record's own DynamoDB JSON (`Record.wire`). B/BS stay base64
text; only `Record.item`, for the few calls that go through botocore's serialiser, has them as bytes.

Every line is checked (type tags, value shapes, numbers, base64) and sized (DynamoDB's item size: the
writer needs it for the 16 MB batch cap and the write-unit budget) by one walk, sizes.py's `measure`,
written for speed: it is the writer's hottest loop. It only says valid-or-not; a line it refuses is walked
again by `_explain` here, slower, which names the attribute path and the reason for the rejects file.
Lines are decoded and encoded with orjson (several times faster than the json module on these lines, and
stricter: NaN, Infinity, lone surrogates and a BOM are refused as they should be).
"""

from __future__ import annotations

from base64 import b64decode
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from ..errors import RecordError
from .sizes import NUMBER, Invalid, measure, strict_base64

__all__ = [
    "Record",
    "RecordParser",
    "decode_json_line",
    "decoder_for",
    "make_parser",
    "item_size",
    "key_of",
    "write_units",
]

Op = Literal["put", "delete"]
AttributeMap = dict[str, Any]


@dataclass(slots=True)
class Record:
    """One write request taken from one line of a data file. Never changed once parsed, yet not `frozen`: a
    frozen dataclass sets each field through object.__setattr__, several times slower.

    It keeps the request's bytes (`wire`), not the decoded line: the ~100 dicts, lists and strings of a decoded
    item are freed as soon as it is parsed, while they are still in the CPU's cache, instead of 25 records
    later when a batch is sent, and a waiting batch holds a few KB, not ~100 objects a
    record. The few calls that want the attributes (`item`) decode them again from `wire`."""

    op: Op
    key: tuple[str, ...]  # identity of the item in the table: one batch may not hold a key twice
    size: int  # DynamoDB item size in bytes (for a delete: the key's size)
    line: int  # 1-based line number in its data file
    raw: bytes  # the line as it stood in the file, for the rejects output
    wire: bytes  # the write request as DynamoDB's JSON wire format, ready to send (see writer.py)
    timestamp: int | None = None  # Metadata.WriteTimestampMicros of an incremental record

    @property
    def attributes(self) -> AttributeMap:
        """As in the export: the full item for a put, the key attributes for a delete."""
        request = orjson.loads(self.wire)
        return request["PutRequest"]["Item"] if self.op == "put" else request["DeleteRequest"]["Key"]  # type: ignore[no-any-return]

    @property
    def item(self) -> AttributeMap:
        """The attributes as botocore's serialiser takes them (B and BS as bytes), for PutItem/DeleteItem."""
        return _as_sent_map(self.attributes)


def write_units(size: int) -> int:
    """Write units one write of an item of `size` bytes costs: 1 KB rounded up, at least 1."""
    return max(1, -(-size // 1024))


def key_of(item: AttributeMap, key_names: tuple[str, ...]) -> tuple[str, ...]:
    """An item's identity in the table, from its key attributes as sent (B as bytes), hashable.

    The same function names a record going out and an item coming back in `UnprocessedItems` (which botocore
    parses back to the same shapes), so the two can be matched.
    """
    return tuple(repr(item.get(name)) for name in key_names)


def _blob(value: Any, where: str) -> bytes:
    if not isinstance(value, str):
        raise RecordError(f"{where}: B value must be a base64 string, got {type(value).__name__}")
    try:
        return strict_base64(value)
    except ValueError as err:  # binascii.Error is one
        raise RecordError(f"{where}: B value is not valid base64 ({err})") from None


def _number(value: Any, where: str) -> None:
    if not isinstance(value, str) or not NUMBER.fullmatch(value):
        raise RecordError(f"{where}: N value must be a decimal number as a string, got {value!r:.40}")


def _explain_value(value: Any, where: str) -> None:
    """RecordError naming the first thing wrong in `value`: the slow twin of sizes.py's walk, run only on a
    value that one refused (tests/test_fuzz.py checks that the two agree)."""
    if not isinstance(value, dict) or len(value) != 1:
        raise RecordError(f"{where}: an attribute value must be an object with exactly one type tag")
    ((tag, inner),) = value.items()
    if tag == "S":
        if not isinstance(inner, str):
            raise RecordError(f"{where}: S value must be a string")
    elif tag == "N":
        _number(inner, where)
    elif tag == "B":
        _blob(inner, where)
    elif tag == "BOOL":
        if not isinstance(inner, bool):
            raise RecordError(f"{where}: BOOL value must be true or false")
    elif tag == "NULL":
        if inner is not True:
            raise RecordError(f"{where}: NULL value must be true")
    elif tag in ("SS", "NS", "BS", "L"):
        if not isinstance(inner, list):
            raise RecordError(f"{where}: {tag} value must be a list")
        if tag == "SS" and not all(isinstance(s, str) for s in inner):
            raise RecordError(f"{where}: SS members must be strings")
        for i, member in enumerate(inner):
            if tag == "NS":
                _number(member, where)
            elif tag == "BS":
                _blob(member, where)
            elif tag == "L":
                _explain_value(member, f"{where}[{i}]")
    elif tag == "M":
        if not isinstance(inner, dict):
            raise RecordError(f"{where}: M value must be an object")
        _explain(inner, where)
    else:
        raise RecordError(f"{where}: unknown attribute type {tag!r}")


def _explain(attributes: Any, where: str) -> None:
    if not isinstance(attributes, dict):
        raise RecordError(f"{where}: must be an object of attributes")
    for name, value in attributes.items():
        _explain_value(value, f"{where}.{name}" if where else name)


def _checked_size(attributes: Any, where: str) -> int:
    """Size of a valid map of attributes; RecordError with the path and the reason for an invalid one."""
    try:
        return measure(attributes)
    except Invalid:
        _explain(attributes, where)
        raise RecordError(f"{where}: not valid DynamoDB JSON") from None  # _explain found nothing: never seen


def item_size(item: AttributeMap) -> int:
    """DynamoDB size in bytes of an item given in DynamoDB JSON (as in the export)."""
    return _checked_size(item, "")


def _as_sent(value: AttributeMap) -> AttributeMap:
    """A valid attribute value as botocore's serialiser takes it: B and BS as bytes, the rest as it is."""
    ((tag, inner),) = value.items()
    if tag == "B":
        return {"B": b64decode(inner)}
    if tag == "BS":
        return {"BS": [b64decode(b) for b in inner]}
    if tag == "L":
        return {"L": [_as_sent(element) for element in inner]}
    if tag == "M":
        return {"M": _as_sent_map(inner)}
    return value


def _as_sent_map(attributes: AttributeMap) -> AttributeMap:
    return {name: _as_sent(value) for name, value in attributes.items()}


def _wire(op: Op, attributes: AttributeMap) -> bytes:
    """A validated item (or key) as the request member DynamoDB's JSON protocol carries: the export's own
    DynamoDB JSON (B already base64), so the writer sends it without botocore serialising it again."""
    try:
        body = orjson.dumps(attributes)
    except orjson.JSONEncodeError as err:  # orjson nests 254 levels; DynamoDB 32: refuse it here, clearly
        raise RecordError(f"nested too deeply to be a DynamoDB item ({err})") from None
    if op == "put":
        return b'{"PutRequest":{"Item":' + body + b"}}"
    return b'{"DeleteRequest":{"Key":' + body + b"}}"


def decode_json_line(line: bytes) -> Any:
    """One DYNAMODB_JSON data-file line → its document."""
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError as err:
        if "UTF-8" in err.msg:  # invalid bytes, or a surrogate encoded as UTF-8
            raise RecordError(f"line is not UTF-8 ({err.msg})") from None
        raise RecordError(f"not JSON ({err.msg} at column {err.colno})") from None


def decoder_for(output_format: str) -> Callable[[bytes], Any]:
    """The line decoder of an export's `outputFormat`: both give the same DynamoDB JSON documents."""
    if output_format == "ION":
        from .ion import decode_ion_line

        return decode_ion_line
    return decode_json_line


def make_parser(
    output_format: str, incremental: bool, key_names: tuple[str, ...], *, revert: bool = False
) -> RecordParser:
    """The parser of an export's format and kind (both drivers build theirs here)."""
    return RecordParser(incremental=incremental, key_names=key_names, decode=decoder_for(output_format), revert=revert)


class RecordParser:
    """Turns the lines of one export's data files into `Record`s.

    `incremental` selects the record shape (`Item` for a full export; `Keys`/`NewImage` for an incremental
    one), `key_names` the table's key attributes (hash first), used to name each record's item. `decode`
    turns a line into its document (JSON here; ION in ion.py gives the very same documents). With `revert`,
    an incremental record undoes its change instead: `OldImage` is put back, or `Keys` deleted when the
    item did not exist before the window.
    """

    def __init__(
        self,
        *,
        incremental: bool,
        key_names: tuple[str, ...],
        decode: Callable[[bytes], Any] = decode_json_line,
        revert: bool = False,
    ) -> None:
        self.incremental = incremental
        self.key_names = key_names
        self.decode = decode
        self.revert = revert

    def parse(self, line: bytes, line_no: int) -> Record:
        """Parse one line; raise RecordError with the reason when the line is not a valid record."""
        try:
            return self.parse_document(self.decode(line), line_no, line)
        except RecursionError:  # DynamoDB allows 32 levels; a line nested hundreds deep is not a record
            raise RecordError("nested too deeply to be a DynamoDB item") from None
        except UnicodeEncodeError:  # a lone surrogate (\ud800) from an ION line: UTF-8 cannot hold it
            raise RecordError("a string holds a lone UTF-16 surrogate: not valid Unicode") from None

    def parse_document(self, doc: Any, line_no: int, raw: bytes) -> Record:
        """A decoded line → its Record (RecordError with the reason when it is not a valid record)."""
        if not isinstance(doc, dict):
            raise RecordError("a record must be a JSON object")
        if self.revert:
            return self._revert(doc, line_no, raw)
        if self.incremental:
            return self._incremental(doc, line_no, raw)
        if "Item" not in doc:
            raise RecordError("a full-export record must hold an 'Item' object")
        item = doc["Item"]
        size = _checked_size(item, "Item")
        return Record("put", self._key(item, "Item"), size, line_no, raw, _wire("put", item))

    def _incremental(self, doc: dict[str, Any], line_no: int, line: bytes) -> Record:
        return self._change(doc, "NewImage", line_no, line)

    def _revert(self, doc: dict[str, Any], line_no: int, line: bytes) -> Record:
        return self._change(doc, "OldImage", line_no, line)

    def _change(self, doc: dict[str, Any], image: str, line_no: int, line: bytes) -> Record:
        """An incremental record: put `image` when the record has it, else delete its `Keys`."""
        timestamp = self._timestamp(doc.get("Metadata"))
        item = doc.get(image)
        if item is not None:
            size = _checked_size(item, image)
            return Record("put", self._key(item, image), size, line_no, line, _wire("put", item), timestamp)
        if "Keys" not in doc:
            raise RecordError(f"an incremental record must hold 'Keys' or '{image}'")
        keys = doc["Keys"]
        size = _checked_size(keys, "Keys")
        return Record("delete", self._key(keys, "Keys"), size, line_no, line, _wire("delete", keys), timestamp)

    @staticmethod
    def _timestamp(metadata: Any) -> int | None:
        try:
            return int(metadata["WriteTimestampMicros"]["N"])
        except (TypeError, KeyError, ValueError):
            return None

    def _key(self, attributes: AttributeMap, where: str) -> tuple[str, ...]:
        try:
            # key_of's strings, built directly: B keys as bytes (the form botocore parses UnprocessedItems
            # into, which key_of must match); S and N values are already as sent.
            return tuple([repr(_as_sent(v) if "B" in v else v) for v in map(attributes.__getitem__, self.key_names)])
        except KeyError as err:
            raise RecordError(f"{where} lacks the table's key attribute {err.args[0]!r}") from None
