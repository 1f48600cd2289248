"""Where an export lives: a local folder (as `aws s3 sync` leaves it) or an S3 prefix.

Everything else reads an export through `Folder`, by names relative to the export folder, so a copied or
moved export works and nothing outside it can be named (export/manifest.py holds the containment rule). The one
name that leaves the folder is `../data/<file>`: an incremental export's data file, in the data folder that all
exports under the same `AWSDynamoDB/` share.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol
from urllib.parse import urlparse

from botocore.exceptions import BotoCoreError, ClientError

from ..errors import ExportLocationError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["Folder", "LocalFolder", "S3Folder", "locate_export", "locate_exports", "MANIFEST_NAMES"]

MANIFEST_NAMES = ("manifest-summary.json", "manifest-files.json")
_READ_BUFFER = 256 * 1024  # a local data file's read buffer (see LocalFolder.open)


class Folder(Protocol):
    """An export folder: read small files whole, stream large ones."""

    def url(self, name: str = "") -> str:
        """A name a user recognises (path or s3:// URL) for `name` inside the folder."""
        ...

    def read_bytes(self, name: str) -> bytes | None:
        """The whole object, or None when it does not exist."""
        ...

    def open(self, name: str) -> BinaryIO:
        """A stream of the object's bytes; raises FileNotFoundError when it does not exist."""
        ...

    def subfolders(self) -> list[Folder]:
        """The folders directly inside this one, sorted by name."""
        ...

    def has_folder(self, name: str) -> bool:
        """True when the folder `name` (e.g. "../data") exists and holds something."""
        ...


def _parent_name(name: str) -> str | None:
    """For "../x", "x" (the name in the parent folder); None for a name inside the folder."""
    return name[3:] if name.startswith("../") else None


@dataclass(frozen=True)
class LocalFolder:
    path: Path

    def _path(self, name: str) -> Path:
        in_parent = _parent_name(name)
        return self.path.parent / in_parent if in_parent is not None else self.path / name

    def url(self, name: str = "") -> str:
        return str(self._path(name)) if name else str(self.path)

    def read_bytes(self, name: str) -> bytes | None:
        try:
            return self._path(name).read_bytes()
        except FileNotFoundError:
            return None

    def open(self, name: str) -> BinaryIO:
        # gzip reads its input 8 KB at a time: a 256 KB buffer makes that one read call of the file per 256 KB
        # instead of per 8 KB.
        return open(self._path(name), "rb", buffering=_READ_BUFFER)  # noqa: SIM115 - the caller closes it

    def subfolders(self) -> list[Folder]:
        return [LocalFolder(p) for p in sorted(self.path.iterdir()) if p.is_dir()]

    def has_folder(self, name: str) -> bool:
        path = self._path(name)
        return path.is_dir() and any(path.iterdir())


@dataclass(frozen=True)
class S3Folder:
    client: S3Client
    bucket: str
    prefix: str  # "" or ending in "/"

    def _key(self, name: str) -> str:
        in_parent = _parent_name(name)
        if in_parent is None:
            return self.prefix + name
        parent = self.prefix.rstrip("/").rpartition("/")[0]
        return f"{parent}/{in_parent}" if parent else in_parent

    def url(self, name: str = "") -> str:
        return f"s3://{self.bucket}/{self._key(name)}"

    def read_bytes(self, name: str) -> bytes | None:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(name))["Body"].read()
        except self.client.exceptions.NoSuchKey:
            return None

    def open(self, name: str) -> BinaryIO:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(name))["Body"]
        except self.client.exceptions.NoSuchKey:
            raise FileNotFoundError(self.url(name)) from None
        return body  # type: ignore[return-value]  # a StreamingBody reads like a binary file

    def subfolders(self) -> list[Folder]:
        found: list[Folder] = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix, Delimiter="/"):
            found += [S3Folder(self.client, self.bucket, p["Prefix"]) for p in page.get("CommonPrefixes", [])]
        return sorted(found, key=lambda f: f.prefix)  # type: ignore[attr-defined]

    def has_folder(self, name: str) -> bool:
        try:
            listed = self.client.list_objects_v2(
                Bucket=self.bucket, Prefix=self._key(name).rstrip("/") + "/", MaxKeys=1
            )
        except (ClientError, BotoCoreError):  # cannot tell (no s3:ListBucket?): reading each file will say
            return True
        return bool(listed.get("KeyCount"))


def locate_export(arg: str, s3_client_factory: object = None) -> Folder:
    """Turn an EXPORT argument into its folder.

    Accepted: a local folder holding `manifest-summary.json`, or the path of either manifest in it;
    `s3://bucket/.../AWSDynamoDB/<exportId>/`, or the s3:// URL of either manifest in it.
    `s3_client_factory` is called (no arguments) only for an s3:// argument.
    """
    if arg.startswith("s3://"):
        parsed = urlparse(arg)
        if not parsed.netloc:
            raise ExportLocationError(f"{arg}: an s3:// URL needs a bucket name")
        key = parsed.path.lstrip("/")
        if key.rsplit("/", 1)[-1] in MANIFEST_NAMES:
            key = key.rsplit("/", 1)[0] + "/" if "/" in key else ""
        elif key and not key.endswith("/"):
            key += "/"
        if not callable(s3_client_factory):
            raise ExportLocationError(f"{arg}: no S3 client to read it with")
        return S3Folder(s3_client_factory(), parsed.netloc, key)
    path = Path(os.path.expanduser(arg))
    if path.name in MANIFEST_NAMES and path.is_file():
        path = path.parent
    if not path.is_dir():
        raise ExportLocationError(f"{arg}: no such folder (give an export folder, a manifest, or an s3:// URL)")
    return LocalFolder(path)


def locate_exports(arg: str, s3_client_factory: object = None) -> list[Folder]:
    """The export folders an EXPORT argument names: one export, or a series folder holding several.

    A series folder is one whose subfolders (or whose `AWSDynamoDB/` subfolder's subfolders) are exports,
    as a continuous-incremental-export job leaves them under its prefix.
    """
    folder = locate_export(arg, s3_client_factory)
    if folder.read_bytes("manifest-summary.json") is not None:
        return [folder]
    candidates = folder.subfolders()
    nested = [f for f in candidates if f.url().rstrip("/").endswith("AWSDynamoDB")]
    if nested:
        candidates = nested[0].subfolders()
    exports = [f for f in candidates if f.read_bytes("manifest-summary.json") is not None]
    if not exports:
        raise ExportLocationError(f"{arg}: no manifest-summary.json here nor in its subfolders: not an export")
    return exports
