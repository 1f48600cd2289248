"""The steps the state machines call, as plain functions (the Lambda handlers are one call each).

- `plan_execution` (parent, first): the same checks and plan as `ddb-restore run`, then one file list per
  export written to the run bucket for the Distributed Map's ItemReader (lists never pass through state), in
  an order spread over the keyspace, and the files at once the Map runs (restore/capacity.py); the plan's
  lines go to the run bucket too, for `ddb-restore start` and `status` to show.
- `prewarm_table` (parent, before the first Map when the input says "prewarm"): one look at the target table's
  warm throughput, asking for the planned rate when it has less (restore/warm.py); the parent waits and
  looks again until it is ready.
- `find_export_superseded` (parent, before an incremental export's Map): the latest-record-wins pass over
  that one export (supersede.py), its result written to the run bucket for the writers. It has its own
  Lambda, sized for it, and runs per export: done in the plan step, every export of a series would have
  shared the plan Lambda's one call.
- `write_file_chunk` (child, in a loop): one chunk of one data file from its cursor until the Lambda's time
  runs low; returns the state for the next call. A file already applied to the table (its done marker in the
  run bucket) is skipped, so re-running a failed restore does not redo finished files.
- `summarize` (parent, after each export): adds up the file results; moves on to the next export only when
  every file of this one is done (order matters for incrementals); writes the report and fails the execution
  when a file failed or rejects exceed the limit, naming where the report and the rejects are.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import TYPE_CHECKING

from ..clock import Clock
from ..errors import DataFileError, InputError, RestoreFailed, RetryBoundExceeded
from ..export.manifest import DataFile, load_export
from ..export.records import make_parser
from ..export.series import order_series
from ..export.storage import S3Folder
from ..export.supersede import Winners, find_superseded
from ..restore import warm
from ..restore.capacity import FilesAtOnce, capacity_lines, choose_files_at_once, planned_rate, prewarm_target
from ..restore.chunk import write_chunk
from ..restore.plan import describe_target, make_plan
from ..restore.rejects import RejectsFile
from ..restore.report import FileResult, build_report
from ..restore.spread import spread_order
from ..retry import RetryPolicy
from ..transform import build_pipeline, parse_spec
from ..write.budget import WriteBudget
from ..write.rate import AdaptiveRate
from ..write.writer import BatchWriter, WriteCounts
from .runstore import RunStore
from .settings import StackSettings
from .state import (
    ChunkState,
    ExportEntry,
    ExportStep,
    FileEntry,
    PlanEvent,
    PlanResult,
    Run,
    RunStep,
    RunTransform,
    Summary,
    SupersededResult,
    WarmResult,
)
from .transformfile import read_transform_file, run_key_names, run_pipeline

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

__all__ = ["plan_execution", "prewarm_table", "find_export_superseded", "write_file_chunk", "summarize"]

# A file whose chunks give up on throttling this many times in a row without any progress is failed.
MAX_STALLS = 3


def _manifest_keys(event: PlanEvent) -> list[str]:
    keys = event.get("manifestKeys") or ([event["manifestKey"]] if event.get("manifestKey") else [])
    if not keys or not all(isinstance(k, str) and k for k in keys):
        raise InputError('the input needs "manifestKey" (a string) or "manifestKeys" (a list of strings)')
    return list(keys)


def _export_prefix(manifest_key: str) -> str:
    name = manifest_key.rsplit("/", 1)[-1]
    if name not in ("manifest-summary.json", "manifest-files.json"):
        raise InputError(f"{manifest_key!r} is not the key of a manifest-summary.json or manifest-files.json")
    return manifest_key[: -len(name)]


def _positive(event: PlanEvent, name: str, default: float | None) -> float | None:
    value = event.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise InputError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def _window(event: PlanEvent, default: int) -> int:
    """The input's reorderWindow: a whole number of records, 0 for file order."""
    value = event.get("reorderWindow")
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InputError(f"reorderWindow must be a whole number of records (0: file order), got {value!r}")
    return value


def plan_execution(
    event: PlanEvent, settings: StackSettings, s3: S3Client, dynamodb: DynamoDBClient, *, clock: Clock
) -> PlanResult:
    """Check the export(s) and the table; write the file lists; return the run's state for the parent."""
    bucket = settings.check_bucket(event.get("bucket") or settings.export_bucket)
    table_name = settings.table_from(event.get("table"))
    run_id = re.sub(r"[^A-Za-z0-9_.-]", "_", str(event.get("executionName") or f"run-{int(clock.time())}"))
    max_wcu = _positive(event, "maxWcu", settings.max_wcu)
    given_concurrency = _positive(event, "maxConcurrency", None)
    max_rejects = int(event.get("maxRejects", settings.max_rejects))

    loaded = [load_export(S3Folder(s3, bucket, _export_prefix(key))) for key in _manifest_keys(event)]
    exports = order_series(
        loaded, allow_gaps=bool(event.get("allowGaps")), from_incremental=bool(event.get("fromIncremental"))
    )
    table = describe_target(dynamodb, table_name)
    steps = parse_spec(event.get("transform"))
    file_key = event.get("transformKey") or None
    user, etag = read_transform_file(s3, bucket, file_key) if file_key else (None, None)
    transform = build_pipeline(steps, user, table)
    if transform and event.get("verify"):
        raise InputError('"verify" compares the table with the exports as they are: it cannot check a transformed copy')
    run_transform: RunTransform | None = (
        {"builtins": event.get("transform") or {}, "fileKey": file_key, "fileETag": etag, "keyTypes": table.key_types}
        if transform
        else None
    )
    plan = make_plan(exports, table, max_wcu, transform)
    busiest = max((sum(f.item_count > 0 for f in e.files) for e in exports), default=1)
    if given_concurrency:
        at_once = FilesAtOnce(int(given_concurrency), "maxConcurrency from the input")
    else:
        at_once = choose_files_at_once(
            busiest,
            max_wcu,
            table.capacity,
            cap=settings.max_concurrency,
            cap_name="the stack's DefaultMaxConcurrency",
            per_file_wcu=settings.file_wcu,
        )
    concurrency = at_once.count
    rate = planned_rate(max_wcu, table.capacity, concurrency, settings.file_wcu)
    prewarm = bool(event.get("prewarm"))
    lines = [
        *plan.lines(),
        f"files at once: {concurrency:,} ({at_once.reason}), in an order spread over the keyspace",
        *capacity_lines(table.name, table.capacity, max_wcu, rate, prewarm=prewarm),
    ]
    store = RunStore(s3, settings.run_bucket, run_id)
    store.put_json(store.plan_key(), lines)
    described: list[ExportEntry] = []
    for index, export in enumerate(exports):
        # Spread order: the files the Map runs at once (any run of consecutive ones) lie far apart in the keyspace.
        files: list[FileEntry] = [
            {"name": f.name, "itemCount": f.item_count, "md5": f.md5} for f in spread_order(export.files)
        ]
        store.put_json(store.files_key(index), files)
        assert isinstance(export.folder, S3Folder)
        described.append(
            {
                "index": index,
                "prefix": export.folder.prefix,
                "exportId": export.folder.prefix.rstrip("/").rsplit("/", 1)[-1],
                "incremental": export.incremental,
                "format": export.output_format,
                "filesKey": store.files_key(index),
                "supersededKey": None,  # set by find_export_superseded for an incremental export
                "files": len(files),
                "items": export.item_count,
            }
        )
    return {
        "run": {
            "runId": run_id,
            "runBucket": settings.run_bucket,
            "exportBucket": bucket,
            "table": table.name,
            "tableIdentity": table.identity,
            "keyNames": list(table.key_names),
            "maxWcu": max_wcu,
            # The budget is shared fairly by the files that run at once: each child writes at its share.
            "fileWcu": max_wcu / max(1, min(concurrency, busiest)) if max_wcu else None,
            "fileRate": rate / max(1, min(concurrency, busiest)),
            "maxConcurrency": concurrency,
            "prewarmWcu": prewarm_target(table.capacity, rate) if prewarm else None,
            "prewarmPollSeconds": settings.prewarm_poll_seconds,
            "maxRejects": max_rejects,
            "startedAt": clock.time(),
            "exportCount": len(exports),
            "exports": described,
            "verify": bool(event.get("verify")),  # then the verify steps (verifying.py) follow the last export
            "maxRcu": _positive(event, "maxRcu", None),
            "transform": run_transform,
            "reorderWindow": _window(event, settings.reorder_window),
        },
        "current": described[0],
        "plan": lines,
    }


def prewarm_table(event: RunStep, settings: StackSettings, dynamodb: DynamoDBClient) -> WarmResult:
    """One look at the run's table: ready when its warm throughput is ACTIVE at the planned rate (see warm.py)."""
    run = event["run"]
    wanted = run.get("prewarmWcu")
    if not wanted:
        raise InputError("the run has no prewarmWcu: the plan found nothing to pre-warm")
    state = warm.step(dynamodb, settings.check_table(run["table"]), int(wanted))
    return {"ready": state.ready, "status": state.line}


def find_export_superseded(event: ExportStep, settings: StackSettings, s3: S3Client) -> SupersededResult:
    """The superseded-record table of the run's current export (`event`: the parent's `run` and `current`),
    written to the run bucket. Returns the export's entry naming it (`supersededKey`, None when every key of
    the export occurs once) and how many keys it holds."""
    run, export = event["run"], event["current"]
    bucket = settings.check_bucket(run["exportBucket"])
    loaded = load_export(S3Folder(s3, bucket, export["prefix"]))
    parser = make_parser(loaded.output_format, loaded.incremental, run_key_names(run))
    winners = find_superseded(loaded, parser)
    key = None
    if winners:
        store = RunStore(s3, run["runBucket"], run["runId"])
        key = store.key(f"exports/{export['index']}/superseded.json")
        store.put_json(key, [[list(k), v] for k, v in winners.items()])
    return {"current": {**export, "supersededKey": key}, "keys": len(winners)}


def _file_url(run: Run, export: ExportEntry, name: str) -> str:
    return f"s3://{run['exportBucket']}/{export['prefix']}{name}"


def write_file_chunk(
    event: ChunkState,
    settings: StackSettings,
    s3: S3Client,
    dynamodb: DynamoDBClient,
    remaining_ms: Callable[[], int],
    *,
    clock: Clock,
) -> ChunkState:
    """Write one chunk of one file; return the child's next state: cursor, counts, done, status."""
    run, export, file = event["run"], event["export"], event["file"]
    settings.check_bucket(run["exportBucket"])
    table = settings.check_table(run["table"])
    store = RunStore(s3, run["runBucket"], run["runId"])
    cursor = int(event.get("cursor") or 0)
    counts = WriteCounts(**(event.get("counts") or {}))
    url = _file_url(run, export, file["name"])
    done_key = store.done_key(run.get("tableIdentity") or table, export["exportId"], file["name"])
    state: ChunkState = {**event, "done": False, "status": "running", "error": None}

    if cursor == 0 and store.get_json(done_key) is not None:
        # Applied to this table by an earlier run: nothing to write (its counts are in that run's report).
        state.update(
            {
                "done": True,
                "status": "done",
                "alreadyDone": True,
                "counts": counts.as_dict(),
                "chunkCounts": counts.as_dict(),
            }
        )
        _record_result(store, export, url, file, state, cursor, counts)
        return state

    key_names = tuple(run["keyNames"])
    data_file = DataFile(file["name"], int(file["itemCount"]), file["md5"], 0)
    reserve_ms = settings.chunk_reserve_seconds * 1000
    with TemporaryDirectory() as tmp:
        rejects = RejectsFile(Path(tmp) / "rejects.jsonl")
        writer = BatchWriter(
            dynamodb,
            table,
            key_names,
            reject=lambda line, reason, raw: rejects.add(url, line, reason, raw),
            budget=WriteBudget(file_wcu, clock=clock, start_full=False) if (file_wcu := run.get("fileWcu")) else None,
            # The rate the previous chunk reached (rate.py): this one does not start cold.
            rate=(
                rate := AdaptiveRate(clock=clock, rate=event.get("rate"), ceiling=file_wcu, share=run.get("fileRate"))
            ),
            # Give up on a batch well before the Lambda's time runs out, so the cursor is always returned.
            retry=RetryPolicy(clock=clock, max_total=max(1.0, settings.chunk_reserve_seconds / 2)),
        )

        def should_stop(lines: int) -> bool:
            return remaining_ms() < reserve_ms or 0 < settings.chunk_max_records <= lines

        parser = make_parser(export.get("format", "DYNAMODB_JSON"), bool(export["incremental"]), run_key_names(run))
        winners = _winners(store, export.get("supersededKey"))
        try:
            chunk = write_chunk(
                S3Folder(s3, run["exportBucket"], export["prefix"]),
                data_file,
                parser,
                writer,
                cursor,
                should_stop,
                winners,
                run_pipeline(run, s3),
                run.get("reorderWindow", settings.reorder_window),
            )
            state.update(
                {"cursor": chunk.line, "done": chunk.done, "status": "done" if chunk.done else "running", "stalls": 0}
            )
        except (RetryBoundExceeded, DataFileError) as err:
            new_cursor = err.cursor if err.cursor is not None else cursor
            transient = isinstance(err, RetryBoundExceeded) or getattr(err, "transient", False)
            stalls = int(event.get("stalls") or 0) + 1 if new_cursor == cursor else 0
            reason = err.reason if isinstance(err, DataFileError) else str(err)
            state.update({"cursor": new_cursor, "stalls": stalls, "error": f"after line {new_cursor}: {reason}"})
            if not transient or stalls >= MAX_STALLS:
                state.update({"done": True, "status": "failed"})
        rejects.close()
        if rejects.count:
            s3.upload_file(str(rejects.path), run["runBucket"], store.rejects_key(file["name"], cursor))
    counts.add(writer.counts)
    state["counts"] = counts.as_dict()
    state["chunkCounts"] = writer.counts.as_dict()
    if rate.rate is not None:
        state["rate"] = round(rate.rate, 1)
    if state.get("done"):
        _record_result(store, export, url, file, state, state["cursor"], counts)
        if state.get("status") == "done":
            store.put_json(done_key, {"runId": run["runId"], "file": url, **counts.as_dict()})
    return state


@lru_cache(maxsize=4)
def _winners_at(s3: S3Client, bucket: str, key: str) -> Winners:
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return {tuple(k): int(v) for k, v in json.loads(body)}


def _winners(store: RunStore, key: str | None) -> Winners:
    """The export's superseded-record table (see supersede.py), read once per Lambda container."""
    return _winners_at(store.s3, store.bucket, key) if key else {}


def _record_result(
    store: RunStore,
    export: ExportEntry,
    url: str,
    file: FileEntry,
    state: ChunkState,
    line: int,
    counts: WriteCounts,
) -> None:
    result = FileResult(
        export=url[: -len(file["name"])],
        file=url,
        item_count=int(file["itemCount"]),
        status=state.get("status", "running"),
        line=line,
        error=state.get("error") if state.get("status") != "done" else None,
        counts=counts,
    )
    store.put_json(
        store.result_key(export["index"], file["name"]),
        {**result.as_dict(), "alreadyDone": bool(state.get("alreadyDone"))},
    )


def summarize(
    event: ExportStep, s3: S3Client, notify: Callable[[str, str], None] | None = None, *, clock: Clock
) -> Summary:
    """After export `current.index`: go on to the next export, or write the report and end the run."""
    run, current = event["run"], event["current"]
    store = RunStore(s3, run["runBucket"], run["runId"])
    results: list[FileResult] = []
    for described in run["exports"][: current["index"] + 1]:
        listed: list[FileEntry] = store.get_json(described["filesKey"]) or []
        found = {r["file"]: FileResult.from_dict(r) for r in store.results(described["index"])}
        for file in listed:
            url = _file_url(run, described, file["name"])
            results.append(
                found.get(url)
                or FileResult(
                    url[: -len(file["name"])],
                    url,
                    file["itemCount"],
                    "failed",
                    error="no result: its child execution failed (see the Map Run)",
                )
            )
    last_failed = any(r.status != "done" for r in results)
    following = run["exports"][current["index"] + 1 :]
    if following and not last_failed:
        return {"next": True, "current": following[0], "status": "running", "report": None, "summary": None}
    for described in following:
        for file in store.get_json(described["filesKey"]) or []:
            url = _file_url(run, described, file["name"])
            results.append(
                FileResult(
                    url[: -len(file["name"])],
                    url,
                    file["itemCount"],
                    "skipped",
                    error="not started: an earlier export did not finish",
                )
            )
    report = build_report(
        table=run["table"],
        exports=[f"s3://{run['exportBucket']}/{e['prefix']}" for e in run["exports"]],
        results=results,
        duration_s=clock.time() - float(run["startedAt"]),
        rejects_file=f"s3://{run['runBucket']}/{store.key('rejects/')}",
        max_rejects=int(run["maxRejects"]),
    )
    store.put_json(store.report_key(), report)
    report_url = store.url("report.json")
    summary = (
        f"{report['status']}: {report['items_put']:,} put, {report['items_deleted']:,} deleted, "
        f"{report['items_rejected']:,} rejected of {report['items_expected']:,} records in "
        f"{report['files_done']}/{report['files']} files, {report['throttle_retries']:,} of "
        f"{report['write_calls']:,} write calls throttled ({report['throttled_share']:.1%}); report {report_url}"
    )
    if notify:
        notify(
            f"ddb-restore {report['status']}: {run['table']}",
            json.dumps({"summary": summary, **report}, indent=2)[:250_000],
        )
    if report["status"] != "succeeded":
        where = f"; rejects under {report['rejects_file']}" if report["items_rejected"] else ""
        raise RestoreFailed(f"{summary}; first error: {report['errors'][0]}{where}")
    return {"next": False, "current": current, "status": report["status"], "report": report_url, "summary": summary}
