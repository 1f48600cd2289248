"""The sync state machine's two Lambda steps, as plain functions (handlers sync_plan.py and sync_record.py call them).

The state machine (statemachine/sync.asl.json) does what sync/step.py does in one process, with the long waits in
Step Functions instead of a Lambda:

    plan_sync ─► ExportTableToPointInTime (SDK task; Credentials = the source role) ─► Wait + DescribeExport
              ─► the parent state machine, nested (startExecution.sync:2) ─► record_sync

- `plan_sync`: takes the lease (named after the execution, for as long as a sync may run, since no step renews it
  while the export and the restore run), then sync/step.py's `due_request`: the pending export again, a FULL one the
  first time, an INCREMENTAL `[watermark, now)` when the window is long enough, or nothing due (the lease given
  back). The request is written into the state as pending before the SDK task sends it, with its ClientToken: an
  execution retried or started again later gets the same export back instead of a second one.
- `record_sync`: takes the lease back by its holder's name and writes how it ended, as sync_step does: applied (the
  export appended, the watermark to its end, nothing pending), the export FAILED or refused (pending dropped, the
  watermark where it was: the next sync asks for the window again), or interrupted (DescribeExport or the restore
  failed: pending kept, the next sync applies the same export); then gives the lease back.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..clock import Clock
from ..errors import InputError, SyncRefused
from ..sync.apply import Target
from ..sync.exports import ExportTarget
from ..sync.lease import Lease
from ..sync.state import StateStore, SyncState, iso, parse_time
from ..sync.step import SyncJob, applied_entry, drop_pending, due_request, record_applied, watermark_of
from .settings import StackSettings
from .state import SyncOutcome, SyncPlan, SyncPlanEvent, SyncRecordEvent

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

__all__ = ["SyncSettings", "plan_sync", "record_sync"]

OUTCOMES = ("applied", "export failed", "refused", "interrupted")


@dataclass(frozen=True)
class SyncSettings:
    """What the template gives the two sync functions, besides the stack's settings."""

    source_table_arn: str
    export_prefix: str  # ends in "/": exports go to <prefix>AWSDynamoDB/, the state to <prefix>ddb-restore/sync/
    bucket_owner: str  # the stack's account: the bucket must be there (S3BucketOwner of every export)
    source_role_arn: str | None = None
    min_window: float = 900.0
    lease_seconds: float = 6 * 3600.0
    poll_seconds: int = 60
    export_format: str = "DYNAMODB_JSON"

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> SyncSettings:
        source = env.get("SYNC_SOURCE_TABLE_ARN") or ""
        if not source:
            raise InputError("sync is off in this stack: deploy it with SourceTableArn (the table to sync from)")
        return cls(
            source_table_arn=source,
            export_prefix=env.get("EXPORT_PREFIX") or "",
            bucket_owner=env["SYNC_BUCKET_OWNER"],
            source_role_arn=env.get("SYNC_SOURCE_ROLE_ARN") or None,
            min_window=float(env.get("SYNC_MIN_WINDOW") or 900),
            lease_seconds=float(env.get("SYNC_LEASE_SECONDS") or 6 * 3600),
            poll_seconds=int(float(env.get("SYNC_POLL_SECONDS") or 60)),
            export_format=env.get("SYNC_EXPORT_FORMAT") or "DYNAMODB_JSON",
        )


def _job(
    table: str, stack: StackSettings, sync: SyncSettings, s3: S3Client, source: Any, target: Any, clock: Clock
) -> SyncJob:
    return SyncJob(
        source=sync.source_table_arn,
        source_client=source,
        s3=s3,
        exports=ExportTarget(
            bucket=stack.export_bucket,
            prefix=sync.export_prefix,
            export_format=sync.export_format,
            bucket_owner=sync.bucket_owner,
        ),
        target=Target(client=target, table=table, clock=clock),
        min_window=sync.min_window,
    )


def _sdk_request(request: dict[str, Any]) -> dict[str, Any]:
    """The pending request (times as epoch seconds, as the state keeps them) with its times as ISO text."""
    sdk = dict(request)
    if "ExportTime" in sdk:
        sdk["ExportTime"] = iso(sdk["ExportTime"])
    window = sdk.get("IncrementalExportSpecification")
    if window:
        sdk["IncrementalExportSpecification"] = {
            **window,
            "ExportFromTime": iso(window["ExportFromTime"]),
            "ExportToTime": iso(window["ExportToTime"]),
        }
    return sdk


def plan_sync(
    event: SyncPlanEvent,
    stack: StackSettings,
    sync: SyncSettings,
    s3: S3Client,
    source: DynamoDBClient,
    target: DynamoDBClient,
    *,
    clock: Clock,
) -> SyncPlan:
    """Take the lease and decide: the export to make (saved as pending), or nothing due (lease given back)."""
    given = event.get("input") or {}
    table = stack.table_from(given.get("table"))
    job = _job(table, stack, sync, s3, source, target, clock)
    store = job.store()
    holder = event["executionName"]
    lease = Lease.take(store, job.source, table, clock, holder=holder, seconds=sync.lease_seconds)
    watermark = lease.state.watermark
    plan: SyncPlan = {
        "due": False,
        "message": "",
        "table": table,
        "stateKey": store.key,
        "holder": holder,
        "watermark": watermark,
        "dueAt": None,
        "sourceRoleArn": sync.source_role_arn,
        "pollSeconds": sync.poll_seconds,
        "export": None,
        "restore": None,
    }
    try:
        request = due_request(job, lease, show=lambda line: None)
    except BaseException:
        lease.release()
        raise
    if isinstance(request, float):
        lease.release()
        plan["dueAt"] = iso(request)
        plan["message"] = (
            f"{table} is current to {watermark}; the next window can be exported at {iso(request)} "
            f"(min window {sync.min_window:,.0f} s): nothing to do now"
        )
        return plan
    kind = str(request["ExportType"])
    plan["due"] = True
    plan["export"] = {"type": kind, "request": _sdk_request(request)}
    plan["restore"] = {
        "bucket": stack.export_bucket,
        "table": table,
        "fromIncremental": kind == "INCREMENTAL_EXPORT",
        "verify": bool(given.get("verify")),
    }
    plan["message"] = f"{kind} export of {job.source} for {table} (watermark {watermark}), state {store.url}"
    return plan


def _described(request: dict[str, Any], export: dict[str, Any]) -> dict[str, Any]:
    """DescribeExport's fields the state keeps, its times taken from the request (the times asked for, to the
    millisecond): the SDK task's output carries them as text, in a form this step need not rely on."""
    described: dict[str, Any] = {
        "ExportArn": export["ExportArn"],
        "ExportType": request["ExportType"],
        "ExportManifest": export["ExportManifest"],
        "ItemCount": export.get("ItemCount"),
    }
    if "ExportTime" in request:
        described["ExportTime"] = datetime.fromtimestamp(float(request["ExportTime"]), UTC)
    else:
        window = request["IncrementalExportSpecification"]
        described["IncrementalExportSpecification"] = {
            name: datetime.fromtimestamp(float(window[name]), UTC) for name in ("ExportFromTime", "ExportToTime")
        }
    return described


def _restore_report(s3: S3Client, restore: dict[str, Any]) -> dict[str, Any]:
    """The nested restore's report (report.json in the run bucket, which the parent's output names)."""
    url = str((restore.get("output") or {}).get("report") or "")
    bucket, _, key = url.removeprefix("s3://").partition("/")
    if not url.startswith("s3://") or not key:
        raise InputError(f"the restore's output names no report ({url!r}): was it a ddb-restore parent execution?")
    return dict(json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))


def _failure(event: SyncRecordEvent) -> str:
    outcome = event["outcome"]
    export = event.get("export") or {}
    if outcome == "export failed":
        return (
            f"export {export.get('ExportArn')} {export.get('ExportStatus')}: {export.get('FailureCode', '')} "
            f"{export.get('FailureMessage', '')}".rstrip()
        )
    error = event.get("error") or {}
    name, cause = str(error.get("Error") or "error"), str(error.get("Cause") or "")
    # A failed nested execution's cause is its description (JSON, with its own Error and Cause); a Lambda's, its
    # error payload (JSON, errorMessage): the innermost message is the one that says what to do.
    for _ in range(3):
        try:
            parsed = json.loads(cause)
        except ValueError:
            break
        if not isinstance(parsed, dict):
            break
        if "errorMessage" in parsed:
            cause = str(parsed["errorMessage"])
            break
        name, cause = str(parsed.get("Error") or name), str(parsed.get("Cause") or "")
    return f"{name}: {cause}".strip()


def _recorded(state: SyncState | None, event: SyncRecordEvent) -> SyncOutcome | None:
    """This step's own work, when a retried call finds it done (the export it applied is the state's last one)."""
    export_arn = (event.get("export") or {}).get("ExportArn")
    if event["outcome"] != "applied" or not state or not state.exports or state.exports[-1]["exportArn"] != export_arn:
        return None
    last = state.exports[-1]
    return {
        "status": "applied",
        "message": f"{state.table}: export {last['exportId']} was recorded already; watermark {state.watermark}",
        "table": state.table,
        "watermarkBefore": watermark_of(state.exports[-2]) if len(state.exports) > 1 else None,
        "watermarkAfter": state.watermark,
        "exportArn": export_arn,
        "itemsPut": last["itemsPut"],
        "itemsDeleted": last["itemsDeleted"],
        "verify": None,
    }


def record_sync(
    event: SyncRecordEvent, stack: StackSettings, sync: SyncSettings, s3: S3Client, *, clock: Clock
) -> SyncOutcome:
    """Write how the sync ended into the state and give the lease back; the outcome (status applied or failed)."""
    plan, outcome = event["plan"], event["outcome"]
    if outcome not in OUTCOMES:
        raise InputError(f"outcome {outcome!r} is not one of {OUTCOMES}")
    store = StateStore(s3, stack.export_bucket, plan["stateKey"])
    try:
        lease = Lease.resume(store, plan["holder"], clock, seconds=sync.lease_seconds)
    except SyncRefused:
        recorded = _recorded(StateStore(s3, store.bucket, store.key).load(), event)
        if recorded is None:
            raise
        return recorded  # a retried call: its lease was given back after the export was recorded
    state = lease.state
    before = state.watermark
    result: SyncOutcome = {
        "status": "failed",
        "message": "",
        "table": plan["table"],
        "watermarkBefore": before,
        "watermarkAfter": before,
        "exportArn": (event.get("export") or {}).get("ExportArn"),
        "itemsPut": 0,
        "itemsDeleted": 0,
        "verify": None,
    }
    try:
        recorded = _recorded(state, event)
        if recorded:
            return recorded  # a retried call: recorded before the lease was given back
        if outcome == "applied":
            if state.pending is None:
                raise SyncRefused(f"{store.url} has no pending export: another sync recorded it since this one began")
            report = _restore_report(s3, event.get("restore") or {})
            entry = applied_entry(_described(state.pending["request"], event.get("export") or {}), report)
            after = record_applied(lease, entry)
            lag = clock.time() - parse_time(after)
            result["status"], result["watermarkAfter"] = "applied", after
            result["itemsPut"], result["itemsDeleted"] = entry["itemsPut"], entry["itemsDeleted"]
            result["verify"] = ((event.get("restore") or {}).get("output") or {}).get("verifySummary")
            result["message"] = (
                f"{plan['table']} synced from {sync.source_table_arn}: {entry['exportType']} export "
                f"{entry['exportId']} applied ({entry['itemsPut']:,} put, {entry['itemsDeleted']:,} deleted); "
                f"watermark {before} → {after}, lag {lag:,.0f} s"
                + (f"; {result['verify']}" if result["verify"] else "")
            )
            return result
        if outcome in ("export failed", "refused"):
            drop_pending(lease)
            then = "the next sync asks for the window again"
        else:
            then = "the export stays pending: the next sync applies it again (writes are idempotent)"
        result["message"] = f"{plan['table']}: {_failure(event)}; the watermark stays at {before}: {then}"
        return result
    finally:
        lease.release()
