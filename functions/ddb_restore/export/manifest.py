"""Read and check an export's manifests: the summary fields, the data-file list, checksums, containment.

Facts (AWS docs, see shared/design.md §2): an export folder `<prefix>/AWSDynamoDB/<exportId>/` holds
`manifest-summary.json`, `manifest-files.json` (JSON Lines, one data file a line) and checksum files
(`*.checksum` in AWS's docs, `*.md5` from older exports and tools, MD5 as hex or base64 inside).
Data-file keys in the manifest are full bucket keys. A full export's lie in its own folder,
`<prefix>/AWSDynamoDB/<exportId>/data/`; an incremental export's in the data folder all exports share,
`<prefix>/AWSDynamoDB/data/` (as AWS writes them; its docs call it "the shared data folder"). Keys are resolved
relative to the folder we were given, so a copied or moved export works; anything else is refused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from ..errors import ChecksumMismatch, ExportLocationError, ManifestError, OutsideExportError, UnsupportedExport
from .storage import Folder

__all__ = ["DataFile", "Export", "load_export", "relative_data_key", "md5_matches"]

FULL_EXPORT = "FULL_EXPORT"
INCREMENTAL_EXPORT = "INCREMENTAL_EXPORT"
READABLE_FORMATS = ("DYNAMODB_JSON", "ION")


@dataclass(frozen=True)
class DataFile:
    """One line of manifest-files.json, its key made relative to the export folder."""

    name: str  # relative to the export folder: "data/<file>", or "../data/<file>" in the shared data folder
    item_count: int
    md5: str  # base64 MD5 of the object, as in the manifest
    manifest_line: int


@dataclass(frozen=True)
class Export:
    folder: Folder
    summary: dict[str, Any]
    files: tuple[DataFile, ...]
    checks: tuple[str, ...] = field(default=())  # what was verified, for the plan

    @property
    def url(self) -> str:
        return self.folder.url()

    @property
    def export_type(self) -> str:
        return str(self.summary.get("exportType") or FULL_EXPORT)

    @property
    def incremental(self) -> bool:
        return self.export_type == INCREMENTAL_EXPORT

    @property
    def output_format(self) -> str:
        return str(self.summary.get("outputFormat") or "DYNAMODB_JSON")

    @property
    def item_count(self) -> int:
        return sum(f.item_count for f in self.files)

    @property
    def billed_size_bytes(self) -> int:
        value = self.summary.get("billedSizeBytes")
        return int(value) if isinstance(value, int) else 0


def md5_matches(data: bytes, expected: str) -> bool:
    """True when `expected` is the MD5 of `data`, written as hex or as base64 (both are seen in the wild)."""
    digest = hashlib.md5(data, usedforsecurity=False).digest()
    text = expected.strip()
    if text.lower() == digest.hex():
        return True
    try:
        return base64.b64decode(text, validate=True) == digest
    except (binascii.Error, ValueError):
        return False


def _checksum_file(folder: Folder, manifest: str, data: bytes) -> str | None:
    """Verify `manifest` against `<stem>.checksum` or `<stem>.md5` when one exists; say which was used."""
    stem = manifest.removesuffix(".json")
    for suffix in (".checksum", ".md5"):
        expected = folder.read_bytes(stem + suffix)
        if expected is None:
            continue
        if not md5_matches(data, expected.decode("ascii", "replace")):
            raise ChecksumMismatch(
                f"{folder.url(manifest)}: does not match {stem + suffix} (the manifest was changed or cut short)"
            )
        return f"{manifest} matches {stem + suffix}"
    return None


def _export_id(summary: dict[str, Any]) -> str | None:
    arn = summary.get("exportArn")
    if isinstance(arn, str) and "/export/" in arn:
        return arn.rsplit("/export/", 1)[1]
    return None


SHARED_DATA = "../data/"  # a data file in the shared data folder, named relative to the export folder


def relative_data_key(key: Any, folder_name: str, export_id: str | None, s3_prefix: Any = ...) -> str | None:
    """The data file's name relative to the export folder, or None when it lies anywhere else.

    Two places are allowed: `<prefix>/AWSDynamoDB/<exportId>/data/<file>` (named `data/<file>`), when the key
    names this export by the folder's name or the summary's export id; and the shared data folder beside it,
    `<prefix>/AWSDynamoDB/data/<file>` (named `../data/<file>`). No `..`, `.`, empty or absolute segments; when the
    summary gives its `s3Prefix` (a string, or null for none), the key must start with that prefix. Anything else
    could make a crafted manifest read another object.
    """
    if not isinstance(key, str) or not key or "\\" in key or "\x00" in key:
        return None
    if any(part in ("", ".", "..") for part in key.split("/")):
        return None
    head, marker, rel = key.rpartition("AWSDynamoDB/")
    if not marker or (head and not head.endswith("/")):
        return None
    if s3_prefix is not ... and head.strip("/") != (s3_prefix if isinstance(s3_prefix, str) else "").strip("/"):
        return None
    parts = rel.split("/")
    if len(parts) == 2 and parts[0] == "data":
        return SHARED_DATA + parts[1]
    if len(parts) == 3 and parts[1] == "data" and parts[0] in filter(None, (folder_name, export_id)):
        return "data/" + parts[2]
    return None


def _parse_files(folder: Folder, data: bytes, export_id: str | None, s3_prefix: Any) -> tuple[DataFile, ...]:
    where = folder.url("manifest-files.json")
    folder_name = folder.url().rstrip("/").replace("\\", "/").rsplit("/", 1)[-1]
    files = []
    for line_no, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except (ValueError, RecursionError) as err:
            raise ManifestError(f"{where}:{line_no}: not JSON ({err})") from None
        if not isinstance(entry, dict):
            raise ManifestError(f"{where}:{line_no}: each line must be a JSON object")
        key, count, md5 = entry.get("dataFileS3Key"), entry.get("itemCount"), entry.get("md5Checksum")
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise ManifestError(f"{where}:{line_no}: itemCount must be a non-negative integer")
        if not isinstance(md5, str) or not md5:
            raise ManifestError(f"{where}:{line_no}: md5Checksum is missing")
        rel = relative_data_key(key, folder_name, export_id, s3_prefix)
        if rel is None:
            raise OutsideExportError(
                f"{where}:{line_no}: data file {key!r} lies outside the export folder {folder.url()} "
                "and its shared data folder ../data/: refused"
            )
        files.append(DataFile(rel, count, md5, line_no))
    if len({f.name for f in files}) != len(files):
        raise ManifestError(f"{where}: names the same data file twice")
    return tuple(files)


def _missing_shared_data(folder: Folder, summary: dict[str, Any]) -> str:
    prefix = summary.get("s3Prefix")
    source = f"s3://{summary.get('s3Bucket') or '<bucket>'}/{prefix.strip('/') + '/' if prefix else ''}AWSDynamoDB/"
    return (
        f"{folder.url()}: its data files are in the shared data folder {folder.url(SHARED_DATA)}, which is missing: "
        f"copy the whole AWSDynamoDB/ folder, not only the export's own (aws s3 sync {source} ./dir/)"
    )


def load_export(folder: Folder) -> Export:
    """Read and check both manifests of the export in `folder`. Nothing is written; data files are not read."""
    summary_bytes = folder.read_bytes("manifest-summary.json")
    if summary_bytes is None:
        raise ManifestError(f"{folder.url()}: no manifest-summary.json here: is this a DynamoDB export folder?")
    checks = [_checksum_file(folder, "manifest-summary.json", summary_bytes)]
    try:
        summary = json.loads(summary_bytes)
    except (ValueError, RecursionError) as err:
        raise ManifestError(f"{folder.url('manifest-summary.json')}: not JSON ({err})") from None
    if not isinstance(summary, dict):
        raise ManifestError(f"{folder.url('manifest-summary.json')}: must be a JSON object")
    fmt = summary.get("outputFormat") or "DYNAMODB_JSON"
    if fmt not in READABLE_FORMATS:
        raise UnsupportedExport(
            f"{folder.url('manifest-summary.json')}: outputFormat {fmt!r} is not supported "
            f"(this version reads {', '.join(READABLE_FORMATS)})"
        )
    export_type = summary.get("exportType") or FULL_EXPORT
    if export_type not in (FULL_EXPORT, INCREMENTAL_EXPORT):
        raise UnsupportedExport(f"{folder.url('manifest-summary.json')}: unknown exportType {export_type!r}")
    files_bytes = folder.read_bytes("manifest-files.json")
    if files_bytes is None:
        raise ManifestError(f"{folder.url()}: manifest-files.json is missing")
    checks.append(_checksum_file(folder, "manifest-files.json", files_bytes))
    files = _parse_files(folder, files_bytes, _export_id(summary), summary.get("s3Prefix", ...))
    if any(f.name.startswith(SHARED_DATA) for f in files) and not folder.has_folder(SHARED_DATA):
        raise ExportLocationError(_missing_shared_data(folder, summary))
    declared = summary.get("itemCount")
    if isinstance(declared, int) and declared != sum(f.item_count for f in files):
        raise ManifestError(
            f"{folder.url()}: manifest-summary.json says itemCount {declared} but manifest-files.json "
            f"adds up to {sum(f.item_count for f in files)}"
        )
    return Export(folder, summary, files, tuple(c for c in checks if c))
