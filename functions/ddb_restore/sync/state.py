"""A sync's state: one small JSON object in the export bucket, `<prefix>ddb-restore/sync/<target table>.json`.

It names the source table and the target, lists the exports applied so far, and holds the watermark: the
`exportTime` of the full export or the `exportToTime` of the last incremental applied. Watermark and list change only
once an export was applied completely. The same object holds the lease (lease.py) and the export a sync started but
has not applied yet (`pending`: its client token and the exact request, so a later sync asks for the same export
again and DynamoDB hands back the one already made, not a second one).

Every write is conditional on the ETag read (S3 `If-Match`, or `If-None-Match: *` for a new object): two syncs
can never both write what each read.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from ..errors import SyncRefused

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["SyncState", "StateStore", "state_key", "iso", "parse_time"]

VERSION = 1


def state_key(prefix: str, table: str) -> str:
    return f"{prefix}ddb-restore/sync/{table}.json"


def iso(seconds: float) -> str:
    """Milliseconds, as DynamoDB keeps export times: a watermark read back is the time it was written from."""
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@dataclass
class SyncState:
    source: str  # the source table's ARN
    table: str  # the target table
    watermark: str | None = None  # ISO time the target is current to; None before the first full export
    exports: list[dict[str, Any]] = field(default_factory=list)  # applied, oldest first
    pending: dict[str, Any] | None = None  # {"clientToken", "request", "exportArn"?}: started, not applied
    lease: dict[str, Any] | None = None  # {"holder", "expires"}: see lease.py

    def as_json(self) -> bytes:
        return json.dumps({"version": VERSION, **asdict(self)}, indent=2).encode() + b"\n"

    @classmethod
    def from_json(cls, data: bytes, where: str) -> SyncState:
        try:
            doc = json.loads(data)
            doc.pop("version")
            return cls(**doc)
        except (ValueError, TypeError, KeyError, AttributeError) as err:
            raise SyncRefused(f"{where}: not a ddb-restore sync state ({err}): move it away to start over") from None


@dataclass
class StateStore:
    """Reads and conditionally writes the state object; `etag` is what the last read or write saw."""

    s3: S3Client
    bucket: str
    key: str
    etag: str | None = None

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def load(self) -> SyncState | None:
        try:
            got = self.s3.get_object(Bucket=self.bucket, Key=self.key)
        except self.s3.exceptions.NoSuchKey:
            self.etag = None
            return None
        self.etag = got["ETag"]
        return SyncState.from_json(got["Body"].read(), self.url)

    def save(self, state: SyncState) -> None:
        """Write `state` if the object is still what we last saw; SyncRefused when another sync wrote it since."""
        body = state.as_json()
        try:
            if self.etag:
                put = self.s3.put_object(Bucket=self.bucket, Key=self.key, Body=body, IfMatch=self.etag)
            else:
                put = self.s3.put_object(Bucket=self.bucket, Key=self.key, Body=body, IfNoneMatch="*")
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") not in ("PreconditionFailed", "ConditionalRequestConflict"):
                raise
            raise SyncRefused(
                f"{self.url} was written by another sync since this one read it (its lease had expired?): "
                "this sync stops; run it again"
            ) from None
        self.etag = put["ETag"]
