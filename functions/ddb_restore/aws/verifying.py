"""The verify steps of the parent state machine (`"verify": true`), as plain functions; each handler is one call.

- `plan_verify` (after the last export is applied): the final state of the whole series (verify/expected.py:
  the latest record of each key an incremental export touches), written to the run bucket as sorted arrays,
  and the Map's items: one per data file with records, one per Scan segment of the table.
- `verify_chunk` (in the Map's loop): one chunk of one item from its cursor until the Lambda's time runs low:
  a file's final records read back with BatchGetItem and compared, or a segment counted with
  Scan(Select=COUNT). Each finished chunk writes its tally to `verify/parts/`; a chunk that gives up leaves
  nothing, and is called again from the same cursor (reads change nothing).
- `summarize_verify`: adds the parts up into `verify.json` (the fields of `ddb-restore verify --report`) and
  returns the one line; the ASL fails the execution (`VerifyFailed`) unless the status is "equal".
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from ..clock import Clock
from ..errors import DataFileError, RetryBoundExceeded
from ..export.manifest import DataFile, load_export
from ..export.records import make_parser
from ..export.storage import S3Folder
from ..retry import RetryPolicy
from ..verify.count import count_segment, key_from_json, key_to_json
from ..verify.expected import FinalState, final_state, series_offsets
from ..verify.filecheck import check_file
from ..verify.readback import ReadBack
from ..verify.report import build_report, summary_line
from ..verify.tally import Tally
from ..write.budget import WriteBudget
from .runstore import RunStore
from .settings import StackSettings
from .state import VerifyChunkState, VerifyItem, VerifyPlan, VerifyStep, VerifySummary

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

__all__ = ["plan_verify", "verify_chunk", "summarize_verify", "MAX_SEGMENTS", "SEGMENT_BYTES"]

MAX_SEGMENTS = 100  # Scan segments of the count, at most (one Map item each)
SEGMENT_BYTES = 1 << 30  # one segment per GiB of the full export
MAX_STALLS = 3  # chunks of one item in a row that give up without moving: the item fails


def plan_verify(event: VerifyStep, settings: StackSettings, s3: S3Client, *, clock: Clock) -> VerifyPlan:
    """The series' final state and the Map's items, written to the run bucket; the verify's plan."""
    run = event["run"]
    bucket = settings.check_bucket(run["exportBucket"])
    key_names = tuple(run["keyNames"])
    exports = [load_export(S3Folder(s3, bucket, e["prefix"])) for e in run["exports"]]
    parsers = [make_parser(e.output_format, e.incremental, key_names) for e in exports]
    state = final_state(exports, parsers)
    store = RunStore(s3, run["runBucket"], run["runId"])
    final_key = store.key("verify/final-state.bin")
    s3.put_object(Bucket=store.bucket, Key=final_key, Body=state.to_bytes())
    items: list[VerifyItem] = []
    for export_index, (export, offset) in enumerate(zip(exports, series_offsets(exports), strict=True)):
        for file_index, file in enumerate(export.files):
            if file.item_count:
                items.append(
                    {
                        "index": len(items),
                        "kind": "file",
                        "export": export_index,
                        "seriesFile": offset + file_index,
                        "name": file.name,
                        "itemCount": file.item_count,
                        "md5": file.md5,
                    }
                )
    # A Lambda counts ~1 GB of table well inside one call; more segments only for larger tables.
    table_bytes = sum(e.billed_size_bytes for e in exports if not e.incremental)
    segments = max(1, min(MAX_SEGMENTS, int(run["maxConcurrency"]), -(-table_bytes // SEGMENT_BYTES)))
    for segment in range(segments):
        items.append({"index": len(items), "kind": "segment", "segment": segment, "segments": segments})
    items_key = store.key("verify/items.json")
    store.put_json(items_key, items)
    max_rcu = run.get("maxRcu")
    return {
        "itemsKey": items_key,
        "finalKey": final_key,
        "items": len(items),
        # The budget is shared fairly by the items that run at once, as the writers share maxWcu.
        "itemRcu": max_rcu / min(int(run["maxConcurrency"]), len(items)) if max_rcu else None,
        "startedAt": clock.time(),
    }


@lru_cache(maxsize=2)
def _final_state_at(s3: S3Client, bucket: str, key: str) -> FinalState:
    return FinalState.from_bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def _item_name(run: Any, item: VerifyItem) -> str:
    if item["kind"] == "segment":
        return f"Scan segment {item['segment']} of {item['segments']}"
    return f"s3://{run['exportBucket']}/{run['exports'][item['export']]['prefix']}{item['name']}"


def verify_chunk(
    event: VerifyChunkState,
    settings: StackSettings,
    s3: S3Client,
    dynamodb: DynamoDBClient,
    remaining_ms: Callable[[], int],
    *,
    clock: Clock,
) -> VerifyChunkState:
    """One chunk of one verify item; returns the item's next state: cursor (or startKey), done, status."""
    run, plan, item = event["run"], event["verify"], event["item"]
    settings.check_bucket(run["exportBucket"])
    table = settings.check_table(run["table"])
    store = RunStore(s3, run["runBucket"], run["runId"])
    key_names = tuple(run["keyNames"])
    cursor = int(event.get("cursor") or 0)
    reserve_ms = settings.chunk_reserve_seconds * 1000
    tally = Tally(key_names)
    budget = WriteBudget(rcu * 2, clock=clock, start_full=False) if (rcu := plan.get("itemRcu")) else None
    # Give up on a batch well before the Lambda's time runs out, so the chunk always returns.
    retry = RetryPolicy(clock=clock, max_total=max(1.0, settings.chunk_reserve_seconds / 2))
    state: VerifyChunkState = {**event, "done": False, "status": "running", "error": None}
    part: dict[str, Any] = {"index": item["index"], "cursor": cursor}
    try:
        if item["kind"] == "segment":
            counted, start = count_segment(
                dynamodb,
                table,
                item["segment"],
                item["segments"],
                consistent=False,
                budget=budget,
                retry=retry,
                tally=tally,
                start=key_from_json(event.get("startKey")),
                should_stop=lambda: remaining_ms() < reserve_ms,
            )
            part["count"] = counted
            state.update({"cursor": cursor + 1, "startKey": key_to_json(start), "done": start is None})
        else:
            export = run["exports"][item["export"]]
            reader = ReadBack(dynamodb, table, key_names, tally, budget=budget, retry=retry)
            checked = check_file(
                S3Folder(s3, run["exportBucket"], export["prefix"]),
                DataFile(item["name"], int(item["itemCount"]), item["md5"], 0),
                item["seriesFile"],
                make_parser(export.get("format", "DYNAMODB_JSON"), bool(export["incremental"]), key_names),
                _final_state_at(s3, store.bucket, plan["finalKey"]),
                reader,
                start_line=cursor,
                should_stop=lambda lines: remaining_ms() < reserve_ms or 0 < settings.chunk_max_records <= lines,
            )
            part["expected"] = checked.expected
            state.update({"cursor": checked.line, "done": checked.done})
        state.update({"status": "done" if state["done"] else "running", "stalls": 0})
    except (RetryBoundExceeded, DataFileError) as err:
        transient = isinstance(err, RetryBoundExceeded) or err.transient
        stalls = int(event.get("stalls") or 0) + 1
        where = "" if isinstance(err, DataFileError) else f"{_item_name(run, item)}: "  # a DataFileError names it
        state.update({"stalls": stalls, "error": f"{where}{err}"})
        if transient and stalls < MAX_STALLS:
            return state  # called again from the same cursor; this chunk's tally is dropped with it
        state.update({"done": True, "status": "failed"})
        part["error"] = state["error"]
    part.update({"done": state["done"], "tally": tally.as_dict()})
    store.put_json(store.key(f"verify/parts/{item['index']:06d}.{cursor}.json"), part)
    return state


def summarize_verify(event: VerifyStep, s3: S3Client, *, clock: Clock) -> VerifySummary:
    """The parts added up into `verify.json`; the status, its URL and the one line (with the cause to fail)."""
    run, plan = event["run"], event["verify"]
    store = RunStore(s3, run["runBucket"], run["runId"])
    items: list[VerifyItem] = store.get_json(plan["itemsKey"]) or []
    tally = Tally(tuple(run["keyNames"]))
    expected = table_count = 0
    finished: set[int] = set()
    errors: list[str] = []
    for part in store.documents("verify/parts/"):
        tally.merge(part["tally"])
        expected += part.get("expected", 0)
        table_count += part.get("count", 0)
        if part.get("error"):
            errors.append(part["error"])
        elif part.get("done"):
            finished.add(part["index"])
    errors += [f"{_item_name(run, i)}: no result (its Map item failed)" for i in items if i["index"] not in finished]
    errors = sorted(set(errors))
    report = build_report(
        table=run["table"],
        exports=[f"s3://{run['exportBucket']}/{e['prefix']}" for e in run["exports"]],
        tally=tally,
        table_count=table_count,
        expected=expected,
        sample=None,
        exact=False,
        duration_s=clock.time() - float(plan["startedAt"]),
    )
    if errors:
        report.update({"status": "incomplete", "errors": errors})
    store.put_json(store.key("verify.json"), report)
    url = store.url("verify.json")
    line = summary_line(report)
    if errors:
        line = f"verify incomplete: {len(errors)} of {len(items)} items not checked (first: {errors[0]}); {line}"
    summary = f"{line}; report {url}"
    cause = None if report["status"] == "equal" else f"{report['status']}: {summary}"
    return {"status": report["status"], "report": url, "summary": summary, "cause": cause}
