"""ION export lines ⇄ the DynamoDB JSON documents the rest of the tool works on.

An ION export holds the same records as a DYNAMODB_JSON export, written as Amazon Ion text: one line per
record, each line the Ion version marker and one struct (`$ion_1_0 {Item:{...}}`). Rather than teach the
parser and writer a second value model, `decode_ion_line` turns such a line into exactly the document
`json.loads` gives for the DYNAMODB_JSON line of the same record, so `RecordParser` validates, sizes and
sends both formats through one path and an ION and a JSON export of one table restore identical tables.

The type mapping is AWS's ("DynamoDB table export output format", Amazon Ion section, in the DynamoDB
Developer Guide): string → S, decimal → N, blob → B, bool → BOOL, list annotated `$dynamodb_SS` /
`$dynamodb_NS` / `$dynamodb_BS` → SS / NS / BS, other list → L, struct → M. The table has no row for NULL;
an Ion null (of any type) is the only Ion value left that can stand for it, so it maps to `{"NULL": true}`.
Ion ints are accepted as N too (exact, like decimals). Everything else an Ion line can hold (floats,
symbols, timestamps, clobs, s-expressions, other annotations, repeated field names) has no DynamoDB meaning
and is refused with a `RecordError`, so a record is rejected with its reason instead of being guessed at.

Numbers are never floats: an Ion decimal is read as `decimal.Decimal` and written back with `str()`, which
keeps every digit and the exponent (`1d+3` → "1E+3", `100.00` → "100.00", `-0d0` → "-0"). Where the Ion
text and AWS's JSON spell a number differently (`6d2` in Ion, "600" in JSON) the two strings are the same
DynamoDB number, which DynamoDB stores in one canonical form, so the restored tables are identical.

`encode_ion_line` is the inverse, for tests, samples and benches.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from amazon.ion import simpleion
from amazon.ion.core import IonType
from amazon.ion.exceptions import IonException
from amazon.ion.simple_types import IonPyDict, IonPyList, IonPyNull
from amazon.ion.simpleion import IonPyValueModel

from ..errors import RecordError

__all__ = ["decode_ion_line", "encode_ion_line"]

AttributeMap = dict[str, Any]

# The top-level fields of a record: full exports write `Item`, incremental ones `Metadata`, `Keys`,
# `OldImage` (NEW_AND_OLD_IMAGES only) and `NewImage` (absent for a delete).
_RECORD_FIELDS = frozenset({"Item", "Metadata", "Keys", "OldImage", "NewImage"})
_SET_ANNOTATIONS = {"$dynamodb_SS": "SS", "$dynamodb_NS": "NS", "$dynamodb_BS": "BS"}
_SET_TAGS = {tag: annotation for annotation, tag in _SET_ANNOTATIONS.items()}
_SET_MEMBER = {"SS": "an Ion string", "NS": "an Ion decimal or int", "BS": "an Ion blob"}

# The C reader keeps one text value (string, blob, clob) in a buffer of 4,096 bytes unless told otherwise,
# and fails a larger one (IERR_BUFFER_TOO_SMALL, IERR_LOOKAHEAD_OVERFLOW). No value can be longer than
# the line holding it, so a longer line gets a buffer as long as itself; short lines keep the default,
# which is cheaper than allocating a large buffer per line.
_DEFAULT_TEXT_BUFFER = 4096

# Unannotated values come back as plain Python types (str, Decimal, bytes, bool, int, list, None), which
# are faster to build and to dispatch on; anything annotated or ambiguous (clob, s-expression, typed null)
# still comes back wrapped with its Ion type and annotations. The pure-Python reader, used when the C
# extension is unavailable, ignores this and wraps every value; `_attribute` handles both.
_VALUE_MODEL = IonPyValueModel.MAY_BE_BARE

# The C reader (amazon-ion 0.15) loops forever on a symbol ID of 2**31 or more (`$2147483648`, as a value,
# field name or annotation) and wraps larger ones around to other symbols. Exports never write symbol IDs,
# but a string may hold such text ("ref $1234567890"), so a line with `$` and ten digits anywhere is read by
# the pure-Python reader instead: slower (seconds for a 400 KB line), but it refuses out-of-range IDs.
_LONG_SYMBOL_ID = re.compile(rb"\$[0-9]{10}")


class _Refused(Exception):
    """A value with no DynamoDB meaning; carries the path to it, filled in while unwinding."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path: list[str] = []

    def where(self) -> str:
        out = ""
        for part in self.path:
            out += part if part.startswith("[") or not out else "." + part
        return out


def _annotations(value: Any) -> tuple[str, ...]:
    return tuple(str(getattr(token, "text", token)) for token in getattr(value, "ion_annotations", ()))


def _number(value: Decimal) -> str:
    # Ion decimals have no NaN or infinity, but a Decimal could in principle; DynamoDB has neither.
    if not value.is_finite():
        raise _Refused(f"{value} is not a DynamoDB number")
    return str(value)


def _fields(struct: Any) -> list[tuple[str, Any]]:
    """A struct's (name, value) pairs, refusing what a DynamoDB map cannot hold: a repeated or nameless field.

    Ion allows repeated field names (the reader keeps them all); JSON parsing would silently keep the last,
    but which one DynamoDB JSON meant is unknowable, so the record is refused.
    """
    pairs: list[tuple[str, Any]] = list(struct.items())
    names = {name for name, _ in pairs}
    if len(names) != len(pairs) or None in names:  # both readers give a str, or None for `$0`
        seen: set[str] = set()
        for name, _ in pairs:
            if not isinstance(name, str):
                raise _Refused("a field without a name (symbol $0)")
            if name in seen:
                raise _Refused(f"field {name!r} appears more than once; an attribute name must be unique")
            seen.add(name)
    return pairs


def _attribute_map(struct: Any) -> AttributeMap:
    out: AttributeMap = {}
    for name, value in _fields(struct):
        try:
            out[name] = _attribute(value)
        except _Refused as refused:
            refused.path.insert(0, name)
            raise
    return out


def _list(values: Any) -> list[Any]:
    out = []
    for i, value in enumerate(values):
        try:
            out.append(_attribute(value))
        except _Refused as refused:
            refused.path.insert(0, f"[{i}]")
            raise
    return out


def _set(tag: str, members: Any) -> dict[str, list[Any]]:
    """A `$dynamodb_SS/NS/BS`-annotated list: every member must convert to the set's one scalar type."""
    want = tag[0]  # SS members are S values, NS members N, BS members B
    out: list[Any] = []
    for i, member in enumerate(members):
        try:
            inner = _attribute(member).get(want)
            if inner is None:
                raise _Refused(f"a {_SET_TAGS[tag]} member must be {_SET_MEMBER[tag]}, got {_describe(member)}")
        except _Refused as refused:
            refused.path.insert(0, f"[{i}]")
            raise
        out.append(inner)
    return {tag: out}


_BARE_TYPES: dict[type, IonType] = {
    str: IonType.STRING,
    Decimal: IonType.DECIMAL,
    int: IonType.INT,
    bool: IonType.BOOL,
    bytes: IonType.BLOB,
    float: IonType.FLOAT,
    list: IonType.LIST,
    dict: IonType.STRUCT,
}


def _ion_type(value: Any) -> IonType | None:
    """The Ion type of a value as the reader returned it, bare (plain Python) or wrapped (IonPy*)."""
    kind = getattr(value, "ion_type", None)
    if kind is not None:
        return kind
    if value is None:
        return IonType.NULL
    return _BARE_TYPES.get(type(value))  # bare symbols (SymbolToken) and timestamps are not listed: None


def _describe(value: Any) -> str:
    """How an error names a value: its Ion type, with its annotations if any (`an Ion string annotated x`)."""
    kind = _ion_type(value)
    if value is None or isinstance(value, IonPyNull):
        name = "null" if kind in (None, IonType.NULL) else f"null.{kind.name.lower()}"
    elif kind is None:
        name = {"SymbolToken": "symbol", "Timestamp": "timestamp"}.get(type(value).__name__, type(value).__name__)
    else:
        name = {"sexp": "s-expression"}.get(kind.name.lower(), kind.name.lower())
    annotations = _annotations(value)
    return f"an Ion {name}" + (f" annotated {'::'.join(annotations)}" if annotations else "")


def _attribute(value: Any) -> dict[str, Any]:
    """One Ion value → one DynamoDB JSON attribute value."""
    # Fast path: the bare types the C reader gives for unannotated values (checked by exact type, so that
    # bool is not taken for int, nor a wrapped value for its base class).
    kind = type(value)
    if kind is str:
        return {"S": value}
    if kind is Decimal:
        return {"N": _number(value)}
    if kind is bytes:
        return {"B": base64.b64encode(value).decode("ascii")}
    if kind is bool:
        return {"BOOL": value}
    if kind is IonPyDict and not value.ion_annotations:
        return {"M": _attribute_map(value)}
    if kind is list:
        return {"L": _list(value)}
    if kind is int:
        return {"N": str(value)}
    if value is None:
        return {"NULL": True}
    return _wrapped(value)


def _wrapped(value: Any) -> dict[str, Any]:
    """A value the reader wrapped (IonPy*): annotated, typed null, clob, s-expression, or no C extension."""
    annotations = _annotations(value)
    ion_type = _ion_type(value)
    if annotations:
        if len(annotations) == 1 and annotations[0] in _SET_ANNOTATIONS and ion_type is IonType.LIST:
            return _set(_SET_ANNOTATIONS[annotations[0]], value)
        raise _Refused(
            f"unexpected annotation on {_describe(value)}: "
            "DynamoDB exports annotate only lists, with $dynamodb_SS, $dynamodb_NS or $dynamodb_BS"
        )
    if isinstance(value, IonPyNull):
        return {"NULL": True}
    if ion_type is IonType.STRUCT:
        return {"M": _attribute_map(value)}
    if ion_type is IonType.STRING:
        return {"S": str(value)}
    if ion_type is IonType.DECIMAL:
        return {"N": _number(value)}
    if ion_type is IonType.INT:
        return {"N": str(int(value))}
    if ion_type is IonType.BLOB:
        return {"B": base64.b64encode(value).decode("ascii")}
    if ion_type is IonType.BOOL:
        return {"BOOL": bool(value)}
    if ion_type is IonType.LIST:
        return {"L": _list(value)}
    if ion_type is IonType.FLOAT:
        raise _Refused(f"an Ion float ({value!r}) is not a DynamoDB number: exports write numbers as decimals")
    raise _Refused(f"{_describe(value)} has no DynamoDB type")


def _metadata(value: Any) -> AttributeMap:
    """Incremental `Metadata`: as an attribute map, with `WriteTimestampMicros` as an integer string.

    `RecordParser` orders records of one key by `int(WriteTimestampMicros)`, so whatever way the Ion text
    spells that integer (`1700000000000000`, `1700000000000000.`, `17d14`), the N string is plain digits.
    """
    metadata = _attribute_map(value)
    stamp = metadata.get("WriteTimestampMicros")
    if stamp is not None:
        try:
            micros = Decimal(stamp["N"])
            if micros != micros.to_integral_value():
                raise InvalidOperation
        except (KeyError, TypeError, InvalidOperation):
            raise _Refused(f"WriteTimestampMicros must be an integer, got {stamp!r:.60}") from None
        metadata["WriteTimestampMicros"] = {"N": str(int(micros))}
    return metadata


def decode_ion_line(line: bytes) -> dict[str, Any]:
    """One line of an ION export data file → the document its DYNAMODB_JSON line would give (`json.loads`).

    Full exports give `{"Item": {...}}`, incremental ones `{"Metadata": {...}, "Keys": {...},
    "OldImage": {...}, "NewImage": {...}}`. Raises RecordError with the reason for a line that is not Ion
    text holding exactly one record struct, or that holds a value with no DynamoDB type.
    """
    # Validate UTF-8 here: the C reader crashes the process (segfault) on invalid UTF-8 in a field name.
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        raise RecordError("line is not UTF-8") from None
    try:
        if _LONG_SYMBOL_ID.search(line):
            values = simpleion.load_python(io.BytesIO(line), single_value=False)
        else:
            limit = None if len(line) <= _DEFAULT_TEXT_BUFFER else len(line)
            values = simpleion.loads(line, single_value=False, value_model=_VALUE_MODEL, text_buffer_size_limit=limit)
    except (IonException, ValueError) as err:
        raise RecordError(f"not Ion ({str(err).strip() or type(err).__name__})") from None
    except RecursionError:
        raise RecordError("not Ion (values nested too deep)") from None
    if len(values) != 1:
        what = "no Ion value" if not values else f"{len(values)} Ion values"
        raise RecordError(f"line holds {what}; an ION export line holds exactly one record")
    (record,) = values
    if _ion_type(record) is not IonType.STRUCT or isinstance(record, IonPyNull) or _annotations(record):
        raise RecordError(f"a record must be an unannotated Ion struct, got {_describe(record)}")
    doc: dict[str, Any] = {}
    try:
        for name, value in _fields(record):
            if name not in _RECORD_FIELDS:
                raise _Refused(f"unknown record field {name!r} (expected {', '.join(sorted(_RECORD_FIELDS))})")
            if value is None or (isinstance(value, IonPyNull) and not _annotations(value)):
                doc[name] = None  # as JSON null: RecordParser treats it as absent
                continue
            if _ion_type(value) is not IonType.STRUCT or _annotations(value):
                refused = _Refused(f"must be an Ion struct of attributes, got {_describe(value)}")
                refused.path.append(name)
                raise refused
            try:
                doc[name] = _metadata(value) if name == "Metadata" else _attribute_map(value)
            except _Refused as refused:
                refused.path.insert(0, name)
                raise
    except _Refused as refused:
        where = refused.where()
        raise RecordError(f"{where}: {refused.reason}" if where else refused.reason) from None
    except RecursionError:  # only the pure-Python reader lets nesting this deep through
        raise RecordError("values nested too deep for DynamoDB (at most 32 levels)") from None
    return doc


def _to_ion(value: Any, where: str) -> Any:
    """One DynamoDB JSON attribute value → the Python value simpleion writes as its Ion counterpart."""
    if not isinstance(value, dict) or len(value) != 1:
        raise RecordError(f"{where}: an attribute value must be an object with exactly one type tag")
    ((tag, inner),) = value.items()
    if tag == "S" and isinstance(inner, str):
        return inner
    if tag == "N":
        return _decimal(inner, where)
    if tag == "B":
        return _bytes(inner, where)
    if tag == "BOOL" and isinstance(inner, bool):
        return inner
    if tag == "NULL" and inner is True:
        return None
    if tag in ("S", "BOOL", "NULL"):
        raise RecordError(f"{where}: {tag} value {inner!r:.40} is not of its type")
    if tag in _SET_TAGS:
        convert = {"SS": lambda s: s, "NS": lambda n: _decimal(n, where), "BS": lambda b: _bytes(b, where)}[tag]
        return IonPyList.from_value(IonType.LIST, [convert(m) for m in inner], annotations=(_SET_TAGS[tag],))
    if tag == "L":
        return [_to_ion(element, f"{where}[{i}]") for i, element in enumerate(inner)]
    if tag == "M":
        return {name: _to_ion(v, f"{where}.{name}") for name, v in inner.items()}
    raise RecordError(f"{where}: unknown attribute type {tag!r}")


def _decimal(text: Any, where: str) -> Decimal:
    # Decimal(str) is exact (every digit and the exponent kept); simpleion writes it as an Ion decimal.
    try:
        if not isinstance(text, str):  # Decimal(1.1) would take a float's binary expansion for its digits
            raise TypeError
        number = Decimal(text)
    except (InvalidOperation, TypeError, ValueError):
        raise RecordError(f"{where}: N value must be a decimal number as a string, got {text!r:.40}") from None
    if not number.is_finite():
        raise RecordError(f"{where}: N value must be finite, got {text!r:.40}")
    return number


def _bytes(text: Any, where: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise RecordError(f"{where}: B value is not valid base64") from None


def encode_ion_line(doc: dict[str, Any]) -> str:
    """A DynamoDB JSON record document → its line in an ION export (`$ion_1_0 {...}`, no newline).

    The inverse of `decode_ion_line`, written the way AWS documents the format: N as Ion decimals (built with
    `Decimal(n)`, never a float), B as blobs, sets as `$dynamodb_*`-annotated lists, NULL as `null`.
    """
    record: dict[str, Any] = {}
    for name, attributes in doc.items():
        if attributes is None:
            record[name] = None
        elif not isinstance(attributes, dict):
            raise RecordError(f"{name}: must be an object of attributes")
        else:
            record[name] = {attr: _to_ion(value, f"{name}.{attr}") for attr, value in attributes.items()}
    text: str = simpleion.dumps(record, binary=False)
    return text
