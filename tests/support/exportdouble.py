"""A faithful double of DynamoDB's point-in-time recovery and Export to S3, for sync and migrate.

Why: moto's ExportTableToPointInTime writes one data file and no manifests, and no incremental export at all;
dynalite has neither PITR nor exports. `ExportDouble` answers, on every botocore client it is attached to, the
calls sync makes of a source table's account, from what AWS documents (API reference: ExportTableToPointInTime,
DescribeExport, DescribeContinuousBackups, UpdateContinuousBackups; developer guide: the export output format):

- `UpdateContinuousBackups` turns PITR on for a table: the double reads the table then (its state at the start of
  the recovery window, `EarliestRestorableDateTime`) and from then on records every write the table takes through
  an attached client (PutItem, UpdateItem, DeleteItem, BatchWriteItem, TransactWriteItems), with its time, by
  reading the written keys back after the call (so conditions and update expressions count as DynamoDB applied
  them). `DescribeContinuousBackups` says ENABLED or DISABLED.
- `ExportTableToPointInTime` checks what AWS checks — PITR on (PointInTimeRecoveryUnavailableException), the time
  inside the window (InvalidExportTimeException), an incremental window of 15 minutes to 24 hours unless the double
  is built with a shorter `min_window` for tests (ValidationException), the same ClientToken with other parameters
  (ImportConflictException) — and returns the export IN_PROGRESS. `DescribeExport` says IN_PROGRESS until
  `export_seconds` have passed on the double's clock, then writes the export into S3 in AWS's layout
  (support/sample.py's writer: manifest-summary.json, manifest-files.json and their `.checksum` MD5s, gzip data
  files — an incremental's in the shared `AWSDynamoDB/data/` folder) and says COMPLETED with ExportManifest,
  ItemCount and BilledSizeBytes, or FAILED with FailureCode and FailureMessage after `fail_next`.
- A FULL export holds the table's state at ExportTime; an INCREMENTAL export one record per item changed in
  [ExportFromTime, ExportToTime): `Keys`, `NewImage` (absent when the item was deleted), `OldImage` with
  NEW_AND_OLD_IMAGES, and `Metadata.WriteTimestampMicros` of the item's last write in the window.

    double = ExportDouble(s3, clock=clock, min_window=60)
    app = double.attach(boto3.client("dynamodb"))        # the source's own writers: recorded
    app.update_continuous_backups(TableName="Orders", PointInTimeRecoverySpecification={...: True})
    Wiring(dynamodb=lambda *a, **k: double.attach(dynamodb_client(*a, **k)))   # what sync is given

Calls other than these go on to the client's own endpoint (moto, dynalite) untouched.
"""

from __future__ import annotations

import base64
import hashlib
import json
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.awsrequest import AWSResponse

from ddb_restore.clock import Clock

from .sample import full_records, incremental_records, upload_folder, write_export

__all__ = ["ExportDouble", "to_wire", "to_client"]

Item = dict[str, Any]
AWS_MIN_WINDOW = 15 * 60
MAX_WINDOW = 24 * 3600
_ANSWERED = ("ExportTableToPointInTime", "DescribeExport", "DescribeContinuousBackups", "UpdateContinuousBackups")
_WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")


class _Refused(Exception):
    """An error DynamoDB would answer with (HTTP 400, its code and message)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class _Table:
    name: str
    arn: str
    keys: tuple[str, ...]
    since: float  # PITR's EarliestRestorableDateTime
    baseline: dict[str, Item]  # key → item when PITR was turned on
    log: list[tuple[float, str, Item, Item | None]] = field(default_factory=list)  # (time, key, keys, image)
    current: dict[str, Item] = field(default_factory=dict)  # key → item now

    def add(self, moment: float, keys: Item, image: Item | None) -> None:
        key = _key(keys)
        self.log.append((moment, key, keys, image))
        if image is None:
            self.current.pop(key, None)
        else:
            self.current[key] = image

    def state(self, until: float) -> dict[str, Item]:
        """Every item as of `until` (writes before it)."""
        items = dict(self.baseline)
        for moment, key, _, image in self.log:
            if moment >= until:
                break
            if image is None:
                items.pop(key, None)
            else:
                items[key] = image
        return items


@dataclass
class _Export:
    description: dict[str, Any]
    params: dict[str, Any]
    ready_at: float
    failure: tuple[str, str] | None


def to_wire(value: Any) -> Any:
    """A low-level client's attribute value (bytes for B) as DynamoDB JSON on the wire (base64 for B)."""
    if isinstance(value, dict):
        if len(value) == 1 and "B" in value:
            return {"B": base64.b64encode(bytes(value["B"])).decode()}
        if len(value) == 1 and "BS" in value:
            return {"BS": [base64.b64encode(bytes(b)).decode() for b in value["BS"]]}
        return {k: to_wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_wire(v) for v in value]
    return value


def to_client(value: Any) -> Any:
    """DynamoDB JSON from the wire (base64 for B) as a low-level client takes it (bytes)."""
    if isinstance(value, dict):
        if len(value) == 1 and "B" in value:
            return {"B": base64.b64decode(value["B"])}
        if len(value) == 1 and "BS" in value:
            return {"BS": [base64.b64decode(b) for b in value["BS"]]}
        return {k: to_client(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_client(v) for v in value]
    return value


def _when(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _iso(seconds: float) -> str:
    return _when(seconds).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class ExportDouble:
    """PITR and exports of the tables written through attached clients; thread-safe."""

    def __init__(
        self,
        s3: Any,
        *,
        clock: Clock,
        min_window: float = AWS_MIN_WINDOW,
        export_seconds: float = 30.0,
        files: int = 3,
    ) -> None:
        self.s3 = s3
        self.clock = clock
        self.min_window = min_window
        self.export_seconds = export_seconds
        self.files = files
        self.started: list[dict[str, Any]] = []  # every ExportTableToPointInTime request that made an export
        self._tables: dict[str, _Table] = {}  # by table name
        self._exports: dict[str, _Export] = {}  # by export ARN
        self._tokens: dict[str, str] = {}  # client token → export ARN
        self._failures: list[tuple[str, str]] = []
        self._last_micros = 0
        self._lock = threading.RLock()

    # ---- wiring ----------------------------------------------------------------------------------------

    def attach(self, client: Any) -> Any:
        """Answer PITR and export calls on `client` and record the writes it makes; returns the client."""
        events = client.meta.events
        for op in _ANSWERED:
            events.register(f"before-call.dynamodb.{op}", self._answer(client, op))
        for op in _WRITES:
            events.register(f"before-call.dynamodb.{op}", self._remember_body)
            events.register(f"after-call.dynamodb.{op}", self._record(client, op))
        return client

    def fail_next(self, code: str = "UNKNOWN", message: str = "the export failed (injected by the test)") -> None:
        """The next export started ends FAILED with this FailureCode and FailureMessage."""
        with self._lock:
            self._failures.append((code, message))

    def _answer(self, client: Any, op: str) -> Any:
        def handler(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
            body = json.loads(params.get("body") or b"{}")
            try:
                with self._lock:
                    parsed = getattr(self, f"_{op}")(client, body)
            except _Refused as refused:
                error = {
                    "Error": {"Code": refused.code, "Message": str(refused)},
                    "ResponseMetadata": {"HTTPStatusCode": 400, "RequestId": uuid.uuid4().hex},
                }
                return AWSResponse(params.get("url", ""), 400, {}, None), error
            return AWSResponse(params.get("url", ""), 200, {}, None), {**parsed, "ResponseMetadata": {}}

        return handler

    @staticmethod
    def _remember_body(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        body = params.get("body") or b"{}"
        context["export_double_body"] = json.loads(body)

    def _record(self, client: Any, op: str) -> Any:
        def handler(http_response: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
            body = context.get("export_double_body")
            if http_response.status_code >= 300 or body is None:
                return
            for table_name, keys_of in _written(op, body, parsed):
                with self._lock:
                    table = self._tables.get(table_name)
                    if table is None:
                        continue
                    keys = {k: keys_of[k] for k in table.keys}
                    got = client.get_item(TableName=table_name, Key=to_client(keys), ConsistentRead=True)
                    image = to_wire(got["Item"]) if "Item" in got else None
                    if op == "BatchWriteItem" and table.current.get(_key(keys)) == image:
                        continue  # an unprocessed request: not written
                    table.add(self._stamp(), keys, image)

        return handler

    def _stamp(self) -> float:
        """The time of a write: the clock's, made strictly increasing (a fake clock stands still)."""
        micros = max(int(self.clock.time() * 1_000_000), self._last_micros + 1)
        self._last_micros = micros
        return micros / 1_000_000

    # ---- the answered calls (under the lock) -------------------------------------------------------------

    def _table(self, client: Any, name_or_arn: str) -> _Table | None:
        name = name_or_arn.rsplit("/", 1)[-1] if name_or_arn.startswith("arn:") else name_or_arn
        if name not in self._tables:
            try:
                client.describe_table(TableName=name)
            except client.exceptions.ResourceNotFoundException:
                raise _Refused("TableNotFoundException", f"Table not found: {name_or_arn}") from None
        return self._tables.get(name)

    def _UpdateContinuousBackups(self, client: Any, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        name = body["TableName"]
        on = body["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"]
        if on and self._table(client, name) is None:
            desc = client.describe_table(TableName=name)["Table"]
            keys = tuple(k["AttributeName"] for k in sorted(desc["KeySchema"], key=lambda k: k["KeyType"] != "HASH"))
            baseline = {}
            for page in client.get_paginator("scan").paginate(TableName=name, ConsistentRead=True):
                for item in page["Items"]:
                    wire = to_wire(item)
                    baseline[_key({k: wire[k] for k in keys})] = wire
            self._tables[name] = _Table(name, desc["TableArn"], keys, self._stamp(), baseline, current=dict(baseline))
        elif not on:
            self._tables.pop(name.rsplit("/", 1)[-1], None)
        return self._DescribeContinuousBackups(client, {"TableName": name})

    def _DescribeContinuousBackups(self, client: Any, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        table = self._table(client, body["TableName"])
        pitr: dict[str, Any] = {"PointInTimeRecoveryStatus": "ENABLED" if table else "DISABLED"}
        if table:
            pitr.update(
                EarliestRestorableDateTime=_when(table.since),
                LatestRestorableDateTime=_when(self.clock.time()),
                RecoveryPeriodInDays=35,
            )
        return {
            "ContinuousBackupsDescription": {
                "ContinuousBackupsStatus": "ENABLED",
                "PointInTimeRecoveryDescription": pitr,
            }
        }

    def _ExportTableToPointInTime(self, client: Any, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        token = body.get("ClientToken")
        if token and token in self._tokens:
            known = self._exports[self._tokens[token]]
            if known.params != body:
                raise _Refused(
                    "ImportConflictException",
                    "The request with this ClientToken was made before with different parameters",
                )
            return {"ExportDescription": self._describe(known)}
        table = self._table(client, body["TableArn"])
        if table is None:
            raise _Refused(
                "PointInTimeRecoveryUnavailableException",
                "Point in time recovery has not yet been enabled for this source table.",
            )
        now = self.clock.time()
        export_type = body.get("ExportType", "FULL_EXPORT")
        spec = body.get("IncrementalExportSpecification") or {}
        if export_type == "FULL_EXPORT":
            moment = float(body.get("ExportTime", now))
            if not table.since <= moment <= now:
                raise _Refused(
                    "InvalidExportTimeException",
                    "The specified ExportTime is outside of the point in time recovery window.",
                )
        else:
            start, end = float(spec["ExportFromTime"]), float(spec.get("ExportToTime", now))
            if start < table.since or end > now:
                raise _Refused(
                    "InvalidExportTimeException",
                    "The specified ExportFromTime or ExportToTime is outside of the point in time recovery window.",
                )
            if not self.min_window <= end - start <= MAX_WINDOW:
                raise _Refused(
                    "ValidationException",
                    f"The incremental export period must be at least {self.min_window:g} seconds and at most 24 hours",
                )
        export_id = f"{int(now * 1000):014d}-{uuid.uuid4().hex[:8]}"
        arn = f"{table.arn}/export/{export_id}"
        prefix = (body.get("S3Prefix") or "").strip("/")
        description: dict[str, Any] = {
            "ExportArn": arn,
            "ExportStatus": "IN_PROGRESS",
            "StartTime": _when(now),
            "TableArn": table.arn,
            "TableId": hashlib.md5(table.arn.encode()).hexdigest(),
            "S3Bucket": body["S3Bucket"],
            "S3SseAlgorithm": body.get("S3SseAlgorithm", "AES256"),
            "ExportFormat": body.get("ExportFormat", "DYNAMODB_JSON"),
            "ExportType": export_type,
        }
        if prefix:
            description["S3Prefix"] = prefix
        for name in ("ClientToken", "S3BucketOwner", "S3SseKmsKeyId"):
            if body.get(name):
                description[name] = body[name]
        if export_type == "FULL_EXPORT":
            description["ExportTime"] = _when(moment)
        else:
            description["IncrementalExportSpecification"] = {
                "ExportFromTime": _when(start),
                "ExportToTime": _when(end),
                "ExportViewType": spec.get("ExportViewType", "NEW_AND_OLD_IMAGES"),
            }
        failure = self._failures.pop(0) if self._failures else None
        export = _Export(description, body, now + self.export_seconds, failure)
        self._exports[arn] = export
        if token:
            self._tokens[token] = arn
        self.started.append(body)
        return {"ExportDescription": self._describe(export)}

    def _DescribeExport(self, client: Any, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        export = self._exports.get(body["ExportArn"])
        if export is None:
            raise _Refused("ExportNotFoundException", f"Export not found: {body['ExportArn']}")
        return {"ExportDescription": self._describe(export)}

    def _describe(self, export: _Export) -> dict[str, Any]:
        """The description as of now: the export is written to S3 the first time it is seen past its time."""
        desc = export.description
        if desc["ExportStatus"] == "IN_PROGRESS" and self.clock.time() >= export.ready_at:
            desc["EndTime"] = _when(export.ready_at)
            if export.failure:
                desc.update(ExportStatus="FAILED", FailureCode=export.failure[0], FailureMessage=export.failure[1])
            else:
                self._write(export)
                desc["ExportStatus"] = "COMPLETED"
        return dict(desc)

    def _write(self, export: _Export) -> None:
        """Write the export's files into S3 as AWS lays them out; fill in the manifest key and the counts."""
        desc = export.description
        table = self._tables[desc["TableArn"].rsplit("/", 1)[-1]]
        export_id = desc["ExportArn"].rsplit("/", 1)[-1]
        prefix = desc.get("S3Prefix", "")
        fields: dict[str, Any] = {
            "startTime": _iso(desc["StartTime"].timestamp()),
            "endTime": _iso(desc["EndTime"].timestamp()),
            "tableId": desc["TableId"],
            "s3Bucket": desc["S3Bucket"],
            "s3SseAlgorithm": desc["S3SseAlgorithm"],
            "s3SseKmsKeyId": desc.get("S3SseKmsKeyId"),
        }
        incremental = None
        if desc["ExportType"] == "FULL_EXPORT":
            moment = desc["ExportTime"].timestamp()
            records = full_records(table.state(moment).values())
            fields["exportTime"] = _iso(moment)
        else:
            spec = desc["IncrementalExportSpecification"]
            start, end = spec["ExportFromTime"].timestamp(), spec["ExportToTime"].timestamp()
            records = self._changes(table, start, end, spec["ExportViewType"])
            incremental = {
                "exportFromTime": _iso(start),
                "exportToTime": _iso(end),
                "outputView": spec["ExportViewType"],
            }
        with tempfile.TemporaryDirectory() as tmp:
            folder = write_export(
                Path(tmp),
                records,
                export_id=export_id,
                prefix=prefix,
                table_arn=table.arn,
                files=self.files,
                empty_files=1,
                incremental=incremental,
                checksum="checksum-b64",
                output_format=desc["ExportFormat"],
                fields=fields,
            )
            summary = json.loads((folder / "manifest-summary.json").read_text())
            upload_folder(self.s3, Path(tmp), desc["S3Bucket"], "")
        desc.update(
            ExportManifest=f"{prefix + '/' if prefix else ''}AWSDynamoDB/{export_id}/manifest-summary.json",
            ItemCount=summary["itemCount"],
            BilledSizeBytes=summary["billedSizeBytes"],
        )

    @staticmethod
    def _changes(table: _Table, start: float, end: float, view: str) -> list[str]:
        """One record per key written in [start, end): its state at the start (old) and at the end (new)."""
        last: dict[str, tuple[float, Item]] = {}
        for moment, key, keys, _ in table.log:
            if start <= moment < end:
                last[key] = (moment, keys)
        before, after = table.state(start), table.state(end)
        changes = [(keys, before.get(key), after.get(key)) for key, (_, keys) in last.items()]
        lines = incremental_records(
            changes, table.keys, micros=[int(round(moment * 1_000_000)) for moment, _ in last.values()]
        )
        if view == "NEW_IMAGE":
            lines = [json.dumps({k: v for k, v in json.loads(line).items() if k != "OldImage"}) for line in lines]
        return lines


def _key(keys: Item) -> str:
    return json.dumps(keys, sort_keys=True)


def _written(op: str, body: dict[str, Any], parsed: dict[str, Any]) -> list[tuple[str, Item]]:
    """(table, an item or key holding the key attributes) of each write a successful call made."""
    if op == "PutItem":
        return [(body["TableName"], body["Item"])]
    if op in ("UpdateItem", "DeleteItem"):
        return [(body["TableName"], body["Key"])]
    if op == "TransactWriteItems":
        out = []
        for entry in body["TransactItems"]:
            for kind, request in entry.items():
                if kind in ("Put", "Update", "Delete"):
                    out.append((request["TableName"], request.get("Item") or request["Key"]))
        return out
    out = []
    for table, requests in body["RequestItems"].items():
        for request in requests:
            if "PutRequest" in request:
                out.append((table, request["PutRequest"]["Item"]))
            else:
                out.append((table, request["DeleteRequest"]["Key"]))
    return out  # unprocessed requests read back unchanged and are left out (_record)
