"""Build DynamoDB exports on disk, the way Export to S3 lays them out: for the demo, the tests and the benches.

`sample_items` gives items that use every attribute type and the edge cases a restore must keep byte for byte
(38-digit numbers, exponents, binary with NUL and 0xFF, sets, empty strings, nested lists and maps, names
with dots, unicode, an item near 400 KB). `write_export` writes them as a full or incremental export folder.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "sample_items",
    "summary_document",
    "write_export",
    "full_records",
    "incremental_records",
    "upload_folder",
    "create_sample_table",
    "SAMPLE_KEY_SCHEMA",
    "SAMPLE_KEY_ATTRIBUTES",
]

Item = dict[str, Any]

# The key of every sample item: pk (S) + sk (N).
SAMPLE_KEY_SCHEMA = [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]
SAMPLE_KEY_ATTRIBUTES = [
    {"AttributeName": "pk", "AttributeType": "S"},
    {"AttributeName": "sk", "AttributeType": "N"},
]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def sample_items(count: int = 200, *, large: bool = True) -> list[Item]:
    """`count` items keyed by pk (S) and sk (N), covering every DynamoDB type and edge case."""
    items: list[Item] = []
    for i in range(count):
        item: Item = {
            "pk": {"S": f"user#{i % 37:03d}"},
            "sk": {"N": str(i)},
            "name": {"S": f"name {i} — ünïcødé 日本語 🚀"},
            "big": {"N": "1234567890123456789012345678901234567" + str(i % 10)},
            "tiny": {"N": "-1.5E-130" if i % 2 else "9.9999999999999999999999999999999999999E+125"},
            "price": {"N": f"{i}.{i % 100:02d}"},
            "blob": {"B": _b64(bytes([0, 255, i % 256, 0, 10, 13]))},
            "flag": {"BOOL": i % 2 == 0},
            "nothing": {"NULL": True},
            "empty": {"S": ""},
            "emptyblob": {"B": ""},
            "tags": {"SS": sorted({f"t{i % 5}", "x", "ÿ"})},
            "scores": {"NS": sorted({str(i), "0.5", "-3", "1E+3"})},
            "blobs": {"BS": [_b64(b"\x00"), _b64(b"\xff\xfe"), _b64(bytes([i % 256 or 1]) * 3)]},
            "list": {"L": [{"S": "a"}, {"N": "1"}, {"L": []}, {"M": {}}, {"NULL": True}, {"BOOL": False}]},
            "map": {
                "M": {
                    "nested": {"M": {"deep": {"L": [{"M": {"k": {"S": "v"}}}, {"B": _b64(b"\x00\x01")}]}}},
                    "with.dot": {"S": "dots in names are fine"},
                }
            },
            "attr.with.dots": {"S": "top-level dotted name"},
            "ключ": {"S": "unicode attribute name"},
        }
        items.append(item)
    if large and count:
        # Near DynamoDB's 400 KB item limit: about 395 KB of string and binary.
        items[-1]["payload"] = {"S": "x" * 200_000}
        items[-1]["payload_bin"] = {"B": _b64(bytes(range(256)) * 760)}
    return items


def full_records(items: Iterable[Item]) -> list[str]:
    return [json.dumps({"Item": item}, ensure_ascii=False) for item in items]


# An empty partition as AWS writes it: a 20-byte gzip of no records (MD5 FjvgqIxwymKf1RbbqtrZag==).
EMPTY_GZIP = bytes.fromhex("1f8b08000000000000ff03000000000000000000")
# AWS bills an incremental export at least 10 MB and says so in billedSizeBytes, whatever it holds.
INCREMENTAL_BILLED_MINIMUM = 10_000_000


def _gzip(lines: Sequence[str], empty_number: int) -> bytes:
    """A data file's bytes; empty ones alternate AWS's 20-byte gzip and the zero-byte object older tools leave."""
    if not lines:
        return EMPTY_GZIP if empty_number % 2 == 0 else b""
    return gzip.compress("".join(line + "\n" for line in lines).encode("utf-8"), mtime=0)


def _key_prefix(prefix: str) -> str:
    """Keys under an export's S3Prefix: "p/" for "p", "" for none (AWS writes `AWSDynamoDB/` at the top)."""
    return f"{prefix}/" if prefix else ""


def summary_document(
    export_id: str,
    prefix: str,
    *,
    item_count: int,
    billed_bytes: int,
    table_arn: str = "arn:aws:dynamodb:us-east-1:111122223333:table/Source",
    bucket: str = "source-export-bucket",
    output_format: str = "DYNAMODB_JSON",
    incremental: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """manifest-summary.json of an export under `<prefix>/AWSDynamoDB/<export_id>/`, with the fields AWS writes."""
    summary: dict[str, Any] = {
        "version": "2023-08-01" if incremental else "2020-06-30",
        "exportArn": f"{table_arn}/export/{export_id}",
        "startTime": "2024-05-01T10:00:00.000Z",
        "endTime": "2024-05-01T10:05:00.000Z",
        "tableArn": table_arn,
        "tableId": "00000000-0000-0000-0000-000000000000",
        "exportTime": "2024-05-01T10:00:00.000Z",
        "s3Bucket": bucket,
        "s3Prefix": prefix or None,
        "s3SseAlgorithm": "AES256",
        "s3SseKmsKeyId": None,
        "manifestFilesS3Key": f"{_key_prefix(prefix)}AWSDynamoDB/{export_id}/manifest-files.json",
        "billedSizeBytes": billed_bytes,
        "itemCount": item_count,
        "outputFormat": output_format,
    }
    if incremental:
        summary.update({"exportType": "INCREMENTAL_EXPORT", **incremental})
        summary.pop("exportTime", None)
    return summary


def write_export(
    root: Path,
    records: Sequence[str],
    *,
    export_id: str = "01700000000000-abcdef12",
    prefix: str = "exports",
    table_arn: str = "arn:aws:dynamodb:us-east-1:111122223333:table/Source",
    files: int = 4,
    empty_files: int = 1,
    incremental: dict[str, Any] | None = None,
    checksum: str = "md5-hex",
    output_format: str = "DYNAMODB_JSON",
    fields: dict[str, Any] | None = None,
) -> Path:
    """Write an export folder `root/<prefix>/AWSDynamoDB/<export_id>/` holding `records` (JSON lines), as AWS does.

    `incremental`, when given, is merged into the summary (exportFromTime, exportToTime, outputView) and
    marks the export incremental: its data files then go to the shared `root/<prefix>/AWSDynamoDB/data/`, and its
    billedSizeBytes is at least AWS's 10 MB minimum. Empty files alternate AWS's 20-byte gzip and zero-byte objects.
    `checksum` picks the manifest checksum file: "md5-hex" (manifest-files.md5,
    hex), "checksum-b64" (manifest-files.checksum, base64) or "none". `output_format` "ION" writes the same
    records as Amazon Ion text (`.ion.gz`), as an ION export would. `fields` overrides summary fields (times,
    bucket: what tests/support/exportdouble.py knows of the export it writes); `prefix` "" means no S3Prefix.
    Returns the export folder.
    """
    if output_format == "ION":
        from ddb_restore.export.ion import encode_ion_line

        records = [encode_ion_line(json.loads(record)) for record in records]
    extension = ".ion.gz" if output_format == "ION" else ".json.gz"
    folder = root / prefix / "AWSDynamoDB" / export_id
    data_folder = folder.parent / "data" if incremental else folder / "data"
    folder.mkdir(parents=True, exist_ok=True)
    data_folder.mkdir(exist_ok=True)
    (folder / "_started").write_bytes(b"")
    key_prefix = f"{_key_prefix(prefix)}AWSDynamoDB/" + ("" if incremental else f"{export_id}/")
    shards: list[list[str]] = [[] for _ in range(files)]
    for i, record in enumerate(records):
        shards[i % max(1, files - empty_files)].append(record)
    manifest_lines = []
    empties = 0
    for n, shard in enumerate(shards):
        body = _gzip(shard, empties)
        empties += not shard
        name = f"{hashlib.sha1(f'{export_id}{n}'.encode()).hexdigest()[:26]}{extension}"
        (data_folder / name).write_bytes(body)
        manifest_lines.append(
            json.dumps(
                {
                    "itemCount": len(shard),
                    "md5Checksum": _b64(hashlib.md5(body).digest()),
                    "etag": hashlib.md5(body).hexdigest(),
                    "dataFileS3Key": f"{key_prefix}data/{name}",
                }
            )
        )
    manifest_files = ("\n".join(manifest_lines) + "\n").encode()
    (folder / "manifest-files.json").write_bytes(manifest_files)
    summary = summary_document(
        export_id,
        prefix,
        item_count=len(records),
        billed_bytes=max(sum(len(r) for r in records), INCREMENTAL_BILLED_MINIMUM if incremental else 0),
        table_arn=table_arn,
        output_format=output_format,
        incremental=incremental,
    )
    summary.update(fields or {})
    summary_bytes = json.dumps(summary, indent=2).encode()
    (folder / "manifest-summary.json").write_bytes(summary_bytes)
    digest = hashlib.md5(manifest_files).digest()
    if checksum == "md5-hex":
        (folder / "manifest-files.md5").write_text(digest.hex())
        (folder / "manifest-summary.md5").write_text(hashlib.md5(summary_bytes).hexdigest())
    elif checksum == "checksum-b64":
        (folder / "manifest-files.checksum").write_text(_b64(digest))
        (folder / "manifest-summary.checksum").write_text(_b64(hashlib.md5(summary_bytes).digest()))
    return folder


def upload_folder(client: Any, folder: Path, bucket: str, key_prefix: str) -> None:
    """Copy every file under `folder` to `s3://bucket/key_prefix...`, as `aws s3 sync` would."""
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            client.put_object(
                Bucket=bucket, Key=key_prefix + path.relative_to(folder).as_posix(), Body=path.read_bytes()
            )


def incremental_records(
    changes: Iterable[tuple[Item, Item | None, Item | None]],
    key_names: Sequence[str],
    *,
    first_micros: int = 0,
    micros: Sequence[int] | None = None,
) -> list[str]:
    """Incremental-export lines (NEW_AND_OLD_IMAGES) from (key, old image, new image) triples.

    A new image of None is a delete; an old image of None is an insert. Write times are `first_micros` + the
    record's position, or `micros` (one per record) when given.
    """
    lines = []
    for n, (key, old, new) in enumerate(changes):
        stamp = micros[n] if micros is not None else first_micros + n
        record: dict[str, Any] = {
            "Metadata": {"WriteTimestampMicros": {"N": str(stamp)}},
            "Keys": {k: key[k] for k in key_names},
        }
        if old is not None:
            record["OldImage"] = old
        if new is not None:
            record["NewImage"] = new
        lines.append(json.dumps(record, ensure_ascii=False))
    return lines


def create_sample_table(client: Any, name: str, **extra: Any) -> str:
    """A table for the sample items (pk S + sk N, on demand), ACTIVE on return; `extra` adds GSIs or
    attribute definitions. The demo, the benches and the tests restore into it."""
    client.create_table(
        TableName=name,
        KeySchema=SAMPLE_KEY_SCHEMA,
        AttributeDefinitions=extra.pop("AttributeDefinitions", SAMPLE_KEY_ATTRIBUTES),
        BillingMode="PAY_PER_REQUEST",
        **extra,
    )
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 50})
    return name
