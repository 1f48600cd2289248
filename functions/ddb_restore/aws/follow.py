"""Starting and following a restore in AWS: the parent state machine, its Map Runs, the run's report.

`ddb-restore start` and `ddb-restore status` call these. Progress comes from the Map Runs' item counts (one
item per data file) and from the per-file results in the run bucket (each fetched once, when its file ends).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..clock import Clock
from ..errors import ExportLocationError, RestoreError
from ..export.storage import MANIFEST_NAMES, locate_exports
from .runstore import RunStore

__all__ = ["stack_outputs", "manifest_key", "expand_exports", "start_restore", "Snapshot", "snapshot", "follow"]


def stack_outputs(cloudformation: Any, stack_name: str) -> dict[str, str]:
    try:
        stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    except cloudformation.exceptions.ClientError as err:
        raise RestoreError(f"stack {stack_name!r} cannot be read: {err}") from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    for needed in ("ParentStateMachineArn", "RunBucketName"):
        if needed not in outputs:
            raise RestoreError(f"stack {stack_name!r} has no output {needed}: is it a ddb-restore stack?")
    return outputs


def manifest_key(export: str) -> tuple[str, str]:
    """(bucket, manifest key) of an s3:// EXPORT argument; a folder means its manifest-summary.json."""
    if not export.startswith("s3://"):
        raise ExportLocationError(f"{export}: a restore in AWS reads the export from S3: give its s3:// URL")
    bucket, _, key = export[5:].partition("/")
    if not bucket:
        raise ExportLocationError(f"{export}: an s3:// URL needs a bucket name")
    if not key.endswith(("manifest-summary.json", "manifest-files.json")):
        key = (key.rstrip("/") + "/" if key else "") + "manifest-summary.json"
    return bucket, key


def expand_exports(exports: list[str], s3: Any) -> list[str]:
    """A series folder (s3://.../AWSDynamoDB/ holding several exports) → the manifest URL of each export in it."""
    expanded: list[str] = []
    for export in exports:
        if not export.startswith("s3://") or export.endswith(MANIFEST_NAMES):
            expanded.append(export)
        else:
            expanded += [folder.url("manifest-summary.json") for folder in locate_exports(export, lambda: s3)]
    return expanded


def start_restore(sfn: Any, state_machine_arn: str, exports: list[str], options: dict[str, Any], clock: Clock) -> str:
    """Start the parent state machine; return the execution ARN (the execution is named after `clock`'s time)."""
    keys = [manifest_key(e) for e in exports]
    buckets = {b for b, _ in keys}
    if len(buckets) != 1:
        raise ExportLocationError("all exports of one restore must be in the same bucket")
    payload: dict[str, Any] = {"bucket": buckets.pop(), "manifestKeys": [k for _, k in keys]}
    payload.update({k: v for k, v in options.items() if v is not None})
    now = clock.time()
    name = "restore-" + time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + f"-{int(now * 1000) % 1000:03d}"
    return str(
        sfn.start_execution(stateMachineArn=state_machine_arn, name=name, input=json.dumps(payload))["executionArn"]
    )


@dataclass
class Snapshot:
    status: str
    files_total: int = 0
    files_succeeded: int = 0
    files_failed: int = 0
    files_running: int = 0
    items_done: int = 0
    report: dict[str, Any] | None = None
    verify: dict[str, Any] | None = None  # verify.json, when the execution was started with "verify": true
    plan: list[str] | None = None  # the plan's lines, once the plan step has written them
    error: str | None = None
    cause: str | None = None
    seen: dict[str, dict[str, Any]] = field(default_factory=dict)

    def line(self) -> str:
        return (
            f"{self.status}: files {self.files_succeeded + self.files_failed}/{self.files_total} finished "
            f"({self.files_failed} failed, {self.files_running} running), {self.items_done:,} records in finished files"
        )


# The parent's Map of data files (its "Label", which a Map Run's ARN carries: ...:mapRun:<machine>/<label>:<id>).
FILES_MAP_LABEL = "ApplyExport"


def _map_label(map_run_arn: str) -> str:
    return map_run_arn.rsplit("/", 1)[-1].split(":", 1)[0]


def _run_bucket(sfn: Any, arn: str) -> str | None:
    """The run bucket, from the plan step's output in the execution's history."""
    for event in sfn.get_execution_history(executionArn=arn, maxResults=50)["events"]:
        details = event.get("taskSucceededEventDetails") or event.get("stateExitedEventDetails") or {}
        if '"runBucket"' in details.get("output", ""):
            output = json.loads(details["output"])
            run = output.get("run") or output.get("Payload", {}).get("run") or {}
            if run.get("runBucket"):
                return str(run["runBucket"])
    return None


def snapshot(sfn: Any, s3: Any, arn: str, previous: Snapshot | None = None) -> Snapshot:
    """The execution's state now: status, Map Run counts, records in finished files, report when done."""
    execution = sfn.describe_execution(executionArn=arn)
    snap = Snapshot(status=execution["status"], seen=previous.seen if previous else {})
    for map_run in sfn.list_map_runs(executionArn=arn).get("mapRuns", []):
        if _map_label(map_run["mapRunArn"]) != FILES_MAP_LABEL:
            continue  # verify's Map: its items are files and Scan segments read back, not files written
        counts = sfn.describe_map_run(mapRunArn=map_run["mapRunArn"])["itemCounts"]
        snap.files_total += counts.get("total", 0)
        snap.files_succeeded += counts.get("succeeded", 0)
        snap.files_failed += counts.get("failed", 0) + counts.get("timedOut", 0) + counts.get("aborted", 0)
        snap.files_running += counts.get("running", 0) + counts.get("pending", 0)
    bucket = _run_bucket(sfn, arn)
    if bucket:
        store = RunStore(s3, bucket, execution["name"])
        snap.plan = previous.plan if previous and previous.plan else store.get_json(store.plan_key())
        paginator = s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=store.key("results/")):
            for obj in page.get("Contents", []):
                if obj["Key"] not in snap.seen:
                    snap.seen[obj["Key"]] = store.get_json(obj["Key"]) or {}
        snap.items_done = sum(
            r.get("items_put", 0) + r.get("items_deleted", 0) + r.get("items_rejected", 0) for r in snap.seen.values()
        )
        if snap.status != "RUNNING":
            snap.report = store.get_json(store.report_key())
            snap.verify = store.get_json(store.key("verify.json"))
    snap.error, snap.cause = execution.get("error"), execution.get("cause")
    return snap


def follow(
    sfn: Any,
    s3: Any,
    arn: str,
    show: Callable[[Snapshot], None],
    *,
    clock: Clock,
    interval: float = 5.0,
    show_plan: Callable[[list[str]], None] = lambda lines: None,
) -> Snapshot:
    """Poll until the execution ends, showing each snapshot (and the plan's lines, once); return the last one."""
    snap = snapshot(sfn, s3, arn)
    shown = _show_plan_once(snap, None, show_plan)
    show(snap)
    while snap.status == "RUNNING":
        clock.sleep(interval)
        snap = snapshot(sfn, s3, arn, snap)
        shown = _show_plan_once(snap, shown, show_plan)
        show(snap)
    return snap


def _show_plan_once(
    snap: Snapshot, shown: list[str] | None, show_plan: Callable[[list[str]], None]
) -> list[str] | None:
    if snap.plan and not shown:
        show_plan(snap.plan)
        return snap.plan
    return shown
