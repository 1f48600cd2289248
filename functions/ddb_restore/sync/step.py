"""One sync step: bring the target up to date from the source's own exports, or say when it can be.

    lease ─► (pending export? the same request again) or (no watermark: PITR check, FULL at now)
          or (now − watermark ≥ min window: INCREMENTAL [watermark, now)) ─► state: pending ─► export
          ─► DescribeExport until done ─► apply (and verify) ─► state: watermark, exports applied ─► lease back

A FAILED export drops the pending request and leaves the watermark: the next step asks for the window again
(from the same watermark to its own now). A failed or interrupted apply keeps the pending request: the next step
gets the same export back by its client token and applies it again from the start (puts and deletes are
idempotent), so no window is lost or applied twice over a later one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..errors import SyncRefused
from ..restore.plan import describe_target
from .apply import Target, apply_export, load_manifest, verify_exports
from .exports import ExportTarget, check_pitr, full_request, incremental_request, millis, start_export, wait_export
from .lease import Lease
from .state import StateStore, SyncState, iso, parse_time, state_key

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

__all__ = [
    "SyncJob",
    "StepResult",
    "sync_step",
    "due_request",
    "applied_entry",
    "record_applied",
    "watermark_of",
    "drop_pending",
    "applied_exports",
]


@dataclass(frozen=True)
class SyncJob:
    source: str  # the source table's ARN
    source_client: DynamoDBClient  # with the source role's credentials when given
    s3: S3Client
    exports: ExportTarget
    target: Target
    min_window: float = 900.0
    verify: bool = False
    poll: float = 10.0

    def store(self) -> StateStore:
        return StateStore(self.s3, self.exports.bucket, state_key(self.exports.prefix, self.target.table))


@dataclass
class StepResult:
    status: str  # "applied", "not due", "failed"
    watermark_before: str | None
    watermark_after: str | None
    due_at: float | None = None  # when not due: the earliest time the next step can run
    export: dict[str, Any] | None = None
    restore: dict[str, Any] | None = None
    verify: dict[str, Any] | None = None
    errors: list[str] = field(default_factory=list)

    def lag(self, now: float) -> float | None:
        return now - parse_time(self.watermark_after) if self.watermark_after else None

    def report(self, job: SyncJob, now: float) -> dict[str, Any]:
        return {
            "status": self.status,
            "source": job.source,
            "table": job.target.table,
            "state": job.store().url,
            "watermark_before": self.watermark_before,
            "watermark_after": self.watermark_after,
            "lag_s": round(lag, 3) if (lag := self.lag(now)) is not None else None,
            "next_step_at": iso(self.due_at) if self.due_at else None,
            "export": self.export,
            "restore": self.restore,
            "verify": self.verify,
            "errors": self.errors,
        }


def _request(job: SyncJob, state: SyncState, now: float) -> dict[str, Any] | float:
    """The export to ask for now, or the time the window will be long enough."""
    if state.watermark is None:
        check_pitr(job.source_client, job.source)
        return full_request(job.source, job.target.table, job.exports, now)
    start = parse_time(state.watermark)
    if now - start < job.min_window:
        return start + job.min_window
    return incremental_request(job.source, job.target.table, job.exports, start, now)


def due_request(job: SyncJob, lease: Lease, show: Callable[[str], None] = print) -> dict[str, Any] | float:
    """The ExportTableToPointInTime request to send now, or the time the next window can be exported.

    The export a sync started but did not apply (`pending`) comes first, the same request again; a new one is
    written into the state as pending before it is sent, so a sync that dies after sending finds it by its token.
    """
    describe_target(job.target.client, job.target.table)  # before an export is paid for
    state = lease.state
    if state.pending is None:
        request = _request(job, state, millis(job.target.clock.time()))
        if isinstance(request, float):
            return request
        state.pending = {"clientToken": request["ClientToken"], "request": request}
        lease.save()
    else:
        show(f"resuming the export this target's last sync started (client token {state.pending['clientToken']})")
    return dict(state.pending["request"])


def applied_entry(described: dict[str, Any], report: dict[str, Any]) -> dict[str, Any]:
    """What the state keeps of an applied export: `described` as DescribeExport gives it (times as datetimes),
    `report` the restore's (its put and delete counts)."""
    entry: dict[str, Any] = {
        "exportArn": described["ExportArn"],
        "exportId": described["ExportArn"].rsplit("/", 1)[-1],
        "exportType": described.get("ExportType", "FULL_EXPORT"),
        "manifest": described["ExportManifest"],
        "itemCount": described.get("ItemCount"),
        "itemsPut": report["items_put"],
        "itemsDeleted": report["items_deleted"],
    }
    if entry["exportType"] == "FULL_EXPORT":
        entry["exportTime"] = iso(described["ExportTime"].timestamp())
    else:
        window = described["IncrementalExportSpecification"]
        entry["exportFromTime"] = iso(window["ExportFromTime"].timestamp())
        entry["exportToTime"] = iso(window["ExportToTime"].timestamp())
    return entry


def watermark_of(entry: dict[str, Any]) -> str:
    """Where an applied export leaves the target: its exportToTime (incremental) or exportTime (full)."""
    return str(entry.get("exportToTime") or entry["exportTime"])


def record_applied(lease: Lease, entry: dict[str, Any]) -> str:
    """The export applied (and verified when asked): into the list, the watermark to its end, nothing pending;
    the new watermark."""
    state = lease.state
    state.exports.append(entry)
    state.watermark = watermark_of(entry)
    state.pending = None
    lease.save()
    return state.watermark


def drop_pending(lease: Lease) -> None:
    """The pending export FAILED or was refused: the next sync asks for its window again, from the same watermark."""
    lease.state.pending = None
    lease.save()


def _plain(value: Any) -> Any:
    """A description as JSON can hold it: times as ISO text."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k != "ResponseMetadata"}
    return iso(value.timestamp()) if isinstance(value, datetime) else value


def sync_step(job: SyncJob, show: Callable[[str], None] = print) -> StepResult:
    """Take the lease, make and apply the export that is due (or the one pending), give the lease back."""
    clock = job.target.clock
    lease = Lease.take(job.store(), job.source, job.target.table, clock)
    state = lease.state
    result = StepResult("failed", state.watermark, state.watermark)
    try:
        request = due_request(job, lease, show)
        if isinstance(request, float):
            result.status, result.due_at = "not due", request
            return result
        try:
            described = start_export(job.source_client, request)
        except SyncRefused:
            drop_pending(lease)  # DynamoDB refused the request: a later step must not send it again
            raise
        assert state.pending is not None
        if state.pending.get("exportArn") != described["ExportArn"]:
            state.pending["exportArn"] = described["ExportArn"]
            lease.save()
        show(f"export {described['ExportArn']} ({described.get('ExportType', 'FULL_EXPORT')})")
        described = wait_export(
            job.source_client, described["ExportArn"], clock, poll=job.poll, show=show, keep_alive=lease.keep_alive
        )
        result.export = _plain(described)
        if described["ExportStatus"] != "COMPLETED":
            drop_pending(lease)
            result.errors.append(
                f"export {described['ExportArn']} {described['ExportStatus']}: {described.get('FailureCode', '')} "
                f"{described.get('FailureMessage', '')}; the watermark stays at {state.watermark}: "
                "the next sync asks for the window again"
            )
            return result
        export = load_manifest(job.s3, job.exports.bucket, described["ExportManifest"])
        result.restore = apply_export(export, job.target, lease.keep_alive)
        if result.restore["status"] != "succeeded":
            result.errors += result.restore["errors"]
            result.errors.append("the export stays pending: the next sync applies it again (writes are idempotent)")
            return result
        if job.verify:
            result.verify = verify_exports([export], job.target, exact=False)
            if result.verify["status"] != "equal":
                result.errors.append(f"{job.target.table} differs from export {export.url} (see the report's verify)")
                return result
        watermark = record_applied(lease, applied_entry(described, result.restore))
        result.status, result.watermark_after = "applied", watermark
        return result
    finally:
        lease.release()


def applied_exports(job: SyncJob) -> list[Any]:
    """Every export the state says was applied, oldest first, loaded from the bucket (for a verify of them all)."""
    state = job.store().load()
    entries = state.exports if state else []
    return [load_manifest(job.s3, job.exports.bucket, entry["manifest"]) for entry in entries]
