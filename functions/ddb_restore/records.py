"""Export lines → put/delete requests, for DYNAMODB_JSON exports, full and incremental.

The records already are DynamoDB JSON, the wire format of the low-level client, so they are never turned
into Python values and back: N stays the exact string it was (never a float), S, BOOL, NULL, L, M pass
through as they are. The one conversion is B/BS, base64 text in the export, which botocore wants as bytes
(it base64-encodes blobs itself). The same walk validates every value's type tag and shape and computes the
item's DynamoDB size, which the writer needs for the 16 MB batch cap and the write-unit budget.
"""

from __future__ import annotations

import binascii
import json
import re
from base64 import b64decode
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from .errors import RecordError

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

# DynamoDB's number syntax: optional sign, digits with an optional point, optional exponent.
# NaN, Infinity, hex, empty strings and JSON numbers (not strings) are refused here with a clear reason;
# precision and exponent range are left to DynamoDB, whose refusal lands in the rejects output.
_NUMBER = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)  # ASCII: no other scripts' digits


@dataclass(frozen=True, slots=True)
class Record:
    """One write request taken from one line of a data file."""

    op: Op
    item: AttributeMap  # the full item for a put, the key attributes for a delete
    key: tuple[str, ...]  # identity of the item in the table: one batch may not hold a key twice
    size: int  # DynamoDB item size in bytes (for a delete: the key's size)
    line: int  # 1-based line number in its data file
    raw: bytes  # the line as it stood in the file, for the rejects output
    timestamp: int | None = None  # Metadata.WriteTimestampMicros of an incremental record
    wire: bytes = b""  # the write request as DynamoDB's JSON wire format, ready to send (see writer.py)


def write_units(size: int) -> int:
    """Write units one write of an item of `size` bytes costs: 1 KB rounded up, at least 1."""
    return max(1, -(-size // 1024))


def key_of(item: AttributeMap, key_names: tuple[str, ...]) -> tuple[str, ...]:
    """An item's identity in the table, from its key attributes as sent (B as bytes), hashable.

    The same function names a record going out and an item coming back in `UnprocessedItems` (which botocore
    parses back to the same shapes), so the two can be matched.
    """
    return tuple(repr(item.get(name)) for name in key_names)


def _number_size(text: str) -> int:
    """DynamoDB's size of a number: about one byte per two significant digits, plus one."""
    mantissa = text.lstrip("-").split("e")[0].split("E")[0].replace(".", "").strip("0")
    return (len(mantissa) + 1) // 2 + 1


def _blob(value: Any, where: str) -> bytes:
    if not isinstance(value, str):
        raise RecordError(f"{where}: B value must be a base64 string, got {type(value).__name__}")
    try:
        return b64decode(value, validate=True)
    except (binascii.Error, ValueError) as err:
        raise RecordError(f"{where}: B value is not valid base64 ({err})") from None


def _number(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _NUMBER.fullmatch(value):
        raise RecordError(f"{where}: N value must be a decimal number as a string, got {value!r:.40}")
    return value


def _convert(value: Any, where: str) -> tuple[Any, int]:
    """Validate one attribute value; return it ready for botocore (B as bytes) and its DynamoDB size."""
    if not isinstance(value, dict) or len(value) != 1:
        raise RecordError(f"{where}: an attribute value must be an object with exactly one type tag")
    ((tag, inner),) = value.items()
    if tag == "S":
        if not isinstance(inner, str):
            raise RecordError(f"{where}: S value must be a string")
        return value, len(inner.encode("utf-8"))
    if tag == "N":
        return value, _number_size(_number(inner, where))
    if tag == "B":
        data = _blob(inner, where)
        return {"B": data}, len(data)
    if tag == "BOOL":
        if not isinstance(inner, bool):
            raise RecordError(f"{where}: BOOL value must be true or false")
        return value, 1
    if tag == "NULL":
        if inner is not True:
            raise RecordError(f"{where}: NULL value must be true")
        return value, 1
    if tag in ("SS", "NS", "BS"):
        if not isinstance(inner, list):
            raise RecordError(f"{where}: {tag} value must be a list")
        if tag == "SS":
            if not all(isinstance(s, str) for s in inner):
                raise RecordError(f"{where}: SS members must be strings")
            return value, sum(len(s.encode("utf-8")) for s in inner)
        if tag == "NS":
            return value, sum(_number_size(_number(n, where)) for n in inner)
        blobs = [_blob(b, where) for b in inner]
        return {"BS": blobs}, sum(len(b) for b in blobs)
    if tag == "L":
        if not isinstance(inner, list):
            raise RecordError(f"{where}: L value must be a list")
        out, size = [], 3
        for i, element in enumerate(inner):
            converted, element_size = _convert(element, f"{where}[{i}]")
            out.append(converted)
            size += element_size + 1
        return {"L": out}, size
    if tag == "M":
        if not isinstance(inner, dict):
            raise RecordError(f"{where}: M value must be an object")
        converted_map, size = _convert_map(inner, where)
        return {"M": converted_map}, size + 3
    raise RecordError(f"{where}: unknown attribute type {tag!r}")


def _convert_map(attributes: Any, where: str) -> tuple[AttributeMap, int]:
    if not isinstance(attributes, dict):
        raise RecordError(f"{where}: must be an object of attributes")
    out: AttributeMap = {}
    size = 0
    for name, value in attributes.items():
        size += len(name) if name.isascii() else len(name.encode("utf-8"))
        # Fast path for the common scalars, valid as they stand (the writer's hottest loop, see bench/):
        # no call, no path string. Anything else, or anything wrong, takes _convert and its clear reasons.
        if type(value) is dict and len(value) == 1:
            inner = value.get("S")
            if type(inner) is str:
                out[name] = value
                size += len(inner) if inner.isascii() else len(inner.encode("utf-8"))
                continue
            inner = value.get("N")
            if type(inner) is str and _NUMBER.fullmatch(inner):
                out[name] = value
                size += _number_size(inner)
                continue
        converted, value_size = _convert(value, f"{where}.{name}" if where else name)
        out[name] = converted
        size += value_size
    return out, size


def item_size(item: AttributeMap) -> int:
    """DynamoDB size in bytes of an item given in DynamoDB JSON (as in the export)."""
    return _convert_map(item, "")[1]


def _wire(op: Op, attributes: AttributeMap) -> bytes:
    """A validated item (or key) as the request member DynamoDB's JSON protocol carries: the export's own
    DynamoDB JSON (B already base64), so the writer sends it without botocore serialising it again."""
    body = json.dumps(attributes, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if op == "put":
        return b'{"PutRequest":{"Item":' + body + b"}}"
    return b'{"DeleteRequest":{"Key":' + body + b"}}"


def decode_json_line(line: bytes) -> Any:
    """One DYNAMODB_JSON data-file line → its document."""
    try:
        return json.loads(line)
    except UnicodeDecodeError:
        raise RecordError("line is not UTF-8") from None
    except json.JSONDecodeError as err:
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
    return RecordParser(
        incremental=incremental, key_names=key_names, decode=decoder_for(output_format), revert=revert
    )


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
        except UnicodeEncodeError:  # json.loads lets lone surrogates (\ud800) through; UTF-8 cannot hold them
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
        item, size = _convert_map(doc["Item"], "Item")
        return Record("put", item, self._key(item, "Item"), size, line_no, raw, None, _wire("put", doc["Item"]))

    def _incremental(self, doc: dict[str, Any], line_no: int, line: bytes) -> Record:
        return self._change(doc, "NewImage", line_no, line)

    def _revert(self, doc: dict[str, Any], line_no: int, line: bytes) -> Record:
        return self._change(doc, "OldImage", line_no, line)

    def _change(self, doc: dict[str, Any], image: str, line_no: int, line: bytes) -> Record:
        """An incremental record: put `image` when the record has it, else delete its `Keys`."""
        timestamp = self._timestamp(doc.get("Metadata"))
        if doc.get(image) is not None:
            item, size = _convert_map(doc[image], image)
            wire = _wire("put", doc[image])
            return Record("put", item, self._key(item, image), size, line_no, line, timestamp, wire)
        if "Keys" not in doc:
            raise RecordError(f"an incremental record must hold 'Keys' or '{image}'")
        keys, size = _convert_map(doc["Keys"], "Keys")
        wire = _wire("delete", doc["Keys"])
        return Record("delete", keys, self._key(keys, "Keys"), size, line_no, line, timestamp, wire)

    @staticmethod
    def _timestamp(metadata: Any) -> int | None:
        try:
            return int(metadata["WriteTimestampMicros"]["N"])
        except (TypeError, KeyError, ValueError):
            return None

    def _key(self, attributes: AttributeMap, where: str) -> tuple[str, ...]:
        for name in self.key_names:
            if name not in attributes:
                raise RecordError(f"{where} lacks the table's key attribute {name!r}")
        return key_of(attributes, self.key_names)
