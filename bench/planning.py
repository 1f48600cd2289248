"""Planning (issue 6, part 4): a manifest of 10,000 data files and 100 million items, planned in seconds.

A simulated full export: manifest-files.json lists FILES data files whose itemCounts add up to ITEMS (the
summary says the same, both manifests have their .md5 files); only the first data file exists (FIRST real
items, pk S / sk N); the others are named in the manifest and do not exist anywhere, so any step that read
one would fail: planning must read the manifests and the first file's first records, nothing else.
Timed:
  (a) in this process: `load_export` (both manifests parsed and checked), `describe_target` against
      bench/sink.py, `make_plan` (the first records sampled, the estimate), `Plan.lines()`;
  (b) `ddb-restore run EXPORT --table T --workers 4` against the sink, as a subprocess: from its start to the
      sink's first BatchWriteItem (the sink stamps it with CLOCK_MONOTONIC, which both processes share), and to
      the plan's last line on stdout; baseline, in the same run: the same first file as a one-file export;
  (c) the parent state machine's Plan step: `ddb_restore.aws.steps.plan_execution` under moto (the manifests and
      the first file in an S3 bucket, a table in moto's DynamoDB), run in a child process of its own: wall
      time, tracemalloc's peak during the call (moto's in-process S3 and DynamoDB included: an upper bound),
      the child's peak RSS (VmHWM: Python, boto3 and moto included), the JSON size of its return value, of the
      state after the Plan state's ResultSelector and of one child execution's input, against Step Functions'
      256 KB; the size of the file list it writes to the run bucket for the Distributed Map's ItemReader;
  (d) what an INCREMENTAL export of the same size would cost its FindSuperseded step (SupersedeFunction, run
      before that export's files; the local runner calls the same `supersede.find_superseded`, which reads
      every record of an incremental export) timed on a real incremental file of SUPERSEDE records,
      extrapolated to ITEMS.

    .venv/bin/python bench/planning.py [--files 10000] [--items 100000000] [--first 1000] [--supersede 50000]

Targets (issue 6): planning and the first write within 10 s; the Plan step within Lambda's memory (the
template's 512 MB) and time (its 300 s), and its output within Step Functions' 256 KB payload limit.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # support.sample: the export writer

from _common import DDB_RESTORE, TABLE, aws_env, full_lines, run_measured, small_item, table  # noqa: E402
from sink import Sink  # noqa: E402

from support.sample import create_sample_table, summary_document  # noqa: E402

PAYLOAD_LIMIT = 256 * 1024  # Step Functions: the largest input or output of a state, in bytes (UTF-8)
LAMBDA_MEMORY_MB = 512  # template.yaml, Globals.Function.MemorySize (PlanFunction does not override it)
LAMBDA_TIMEOUT_S = 300  # template.yaml, PlanFunction.Timeout
SUPERSEDE_MEMORY_MB = 1769  # template.yaml, SupersedeFunction.MemorySize (one full vCPU)
SUPERSEDE_TIMEOUT_S = 900  # template.yaml, SupersedeFunction.Timeout (Lambda's maximum)
TARGET_FIRST_WRITE_S = 10.0
EXPORT_ID = "01700000000000-plan0001"
PREFIX = "exports"
EXPORT_BUCKET, RUN_BUCKET = "bench-exports", "bench-runs"


# ---- the simulated export ------------------------------------------------------------------------------


def _data_name(export_id: str, n: int) -> str:
    return f"data/{hashlib.sha1(f'{export_id}{n}'.encode()).hexdigest()[:26]}.json.gz"


def build_export(root: Path, files: int, items: int, first: int, *, export_id: str = EXPORT_ID) -> Path:
    """The export folder: `files` manifest lines adding up to `items`, only the first data file written.

    With files == 1 the export is that first file alone, its real count (the baseline of (b))."""
    import gzip

    folder = root / PREFIX / "AWSDynamoDB" / export_id
    (folder / "data").mkdir(parents=True, exist_ok=True)
    key_prefix = f"{PREFIX}/AWSDynamoDB/{export_id}/"
    first_name = _data_name(export_id, 0)
    body = gzip.compress(("\n".join(full_lines(small_item(i) for i in range(first))) + "\n").encode(), mtime=0)
    (folder / first_name).write_bytes(body)
    counts = [first]
    if files > 1:
        rest = items - first
        base, extra = divmod(rest, files - 1)
        counts += [base + (1 if n < extra else 0) for n in range(files - 1)]
    lines = []
    for n, count in enumerate(counts):
        name = first_name if n == 0 else _data_name(export_id, n)
        md5 = hashlib.md5(body).digest() if n == 0 else hashlib.md5(name.encode()).digest()  # the others: made up
        entry = {"itemCount": count, "md5Checksum": base64.b64encode(md5).decode(), "etag": md5.hex()}
        lines.append(json.dumps({**entry, "dataFileS3Key": key_prefix + name}))
    manifest_files = ("\n".join(lines) + "\n").encode()
    (folder / "manifest-files.json").write_bytes(manifest_files)
    total = sum(counts)
    summary = summary_document(export_id, PREFIX, item_count=total, billed_bytes=total * 200, bucket=EXPORT_BUCKET)
    summary_bytes = json.dumps(summary, indent=2).encode()
    (folder / "manifest-summary.json").write_bytes(summary_bytes)
    (folder / "manifest-files.md5").write_text(hashlib.md5(manifest_files).hexdigest())
    (folder / "manifest-summary.md5").write_text(hashlib.md5(summary_bytes).hexdigest())
    return folder


# ---- (a) in this process -------------------------------------------------------------------------------


def plan_in_process(folder: Path, endpoint: str, repeat: int) -> dict[str, Any]:
    from ddb_restore.export.manifest import load_export
    from ddb_restore.export.storage import LocalFolder
    from ddb_restore.restore.plan import describe_target, make_plan
    from ddb_restore.write.clients import dynamodb_client

    runs: list[dict[str, float]] = []
    lines: list[str] = []
    for n in range(repeat + 1):
        traced = n == repeat  # the last round under tracemalloc, for the peak only
        if traced:
            tracemalloc.start()
        t0 = time.perf_counter()
        export = load_export(LocalFolder(folder))
        t1 = time.perf_counter()
        client = dynamodb_client(endpoint_url=endpoint)
        t2 = time.perf_counter()
        target = describe_target(client, TABLE)
        t3 = time.perf_counter()
        plan = make_plan([export], target, None)
        t4 = time.perf_counter()
        lines = plan.lines()
        t5 = time.perf_counter()
        if traced:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        else:
            runs.append(
                {
                    "load_export": t1 - t0,
                    "client": t2 - t1,
                    "describe_target": t3 - t2,
                    "make_plan": t4 - t3,
                    "lines": t5 - t4,
                    "total": t5 - t0,
                }
            )
    median = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    return {"median": median, "peak": peak, "files": len(export.files), "items": export.item_count, "lines": lines}


# ---- (b) time to first write ---------------------------------------------------------------------------


def first_write(folder: Path, work: Path, tag: str, workers: int, wait: float) -> dict[str, Any]:
    """Start `ddb-restore run`, stamp its stdout lines, and watch the sink for its first BatchWriteItem."""
    with Sink(track=False) as sink:
        cmd = [DDB_RESTORE, "run", str(folder), "--table", TABLE, "--workers", str(workers)]
        cmd += ["--report", str(work / f"report-{tag}.json"), "--rejects", str(work / f"rejects-{tag}.jsonl")]
        stamped: list[tuple[float, str]] = []
        started = time.monotonic()
        process = subprocess.Popen(
            cmd, env=aws_env(sink.endpoint), cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )

        def read() -> None:
            assert process.stdout is not None
            for text in process.stdout:
                stamped.append((time.monotonic(), text.rstrip("\n")))

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        first = None
        while first is None and time.monotonic() - started < wait:
            first = sink.stats()["first_write"]
            if first is None:
                if process.poll() is not None:
                    first = sink.stats()["first_write"]
                    break
                time.sleep(0.02)
        try:
            rc = process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            process.terminate()
            rc = process.wait(timeout=10)
        reader.join(timeout=10)
        items = sink.stats()["items"]
    plan_done = next((t for t, text in stamped if text.startswith("estimate:")), None)
    report_path = work / f"report-{tag}.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    return {
        "first_write": first - started if first is not None else None,
        "plan_printed": plan_done - started if plan_done is not None else None,
        "rc": rc,
        "items": items,
        "report": report,
        "output": [text for _, text in stamped],
    }


# ---- (c) the Plan step, in a child process --------------------------------------------------------------


def plan_step_child(folder: Path, out: Path) -> None:
    """Run by `planning.py --plan-step FOLDER OUT`: plan_execution under moto; figures as JSON into OUT."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            del os.environ[name]
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
    )
    import boto3
    from moto import mock_aws

    from ddb_restore.aws.settings import StackSettings
    from ddb_restore.aws.steps import plan_execution
    from ddb_restore.clock import SystemClock

    key_prefix = f"{PREFIX}/AWSDynamoDB/{folder.name}/"
    with mock_aws():
        s3 = boto3.client("s3")
        dynamodb = boto3.client("dynamodb")
        for bucket in (EXPORT_BUCKET, RUN_BUCKET):
            s3.create_bucket(Bucket=bucket)
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                s3.put_object(
                    Bucket=EXPORT_BUCKET, Key=key_prefix + path.relative_to(folder).as_posix(), Body=path.read_bytes()
                )
        create_sample_table(dynamodb, TABLE)
        settings = StackSettings(export_bucket=EXPORT_BUCKET, run_bucket=RUN_BUCKET, target_table=TABLE)
        event = {
            "manifestKey": key_prefix + "manifest-summary.json",
            "table": TABLE,
            "maxWcu": 40000,
            "maxConcurrency": 1000,
        }
        clock = SystemClock()
        walls = []
        result: dict[str, Any] = {}
        for n in range(3):
            t0 = time.perf_counter()
            result = plan_execution({**event, "executionName": f"bench-{n}"}, settings, s3, dynamodb, clock=clock)
            walls.append(time.perf_counter() - t0)
        tracemalloc.start()
        plan_execution({**event, "executionName": "bench-traced"}, settings, s3, dynamodb, clock=clock)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        current = result["current"]
        files_object = s3.get_object(Bucket=RUN_BUCKET, Key=current["filesKey"])["Body"].read()
        files_list = json.loads(files_object)
        state = {"run": result["run"], "current": current}  # the Plan state's ResultSelector
        child_input = {"run": result["run"], "export": current, "file": files_list[0], "cursor": 0}  # ItemSelector
        figures = {
            "walls": walls,
            "tracemalloc_peak": peak,
            "return_bytes": len(json.dumps(result).encode()),
            "state_bytes": len(json.dumps(state).encode()),
            "child_input_bytes": len(json.dumps(child_input).encode()),
            "files_object_bytes": len(files_object),
            "files_listed": len(files_list),
            "items": current["items"],
            "plan": result["plan"],
        }
    out.write_text(json.dumps(figures))


# ---- (d) an incremental export's first pass -------------------------------------------------------------


def supersede_cost(root: Path, records: int, endpoint: str) -> dict[str, Any]:
    """find_superseded on a one-file incremental export of `records` records, each key once (the usual case)."""
    from ddb_restore.export.manifest import load_export
    from ddb_restore.export.storage import LocalFolder
    from ddb_restore.export.supersede import find_superseded
    from ddb_restore.restore.plan import describe_target, parser_for
    from ddb_restore.write.clients import dynamodb_client
    from support.sample import write_export

    lines = []
    for i in range(records):
        item = small_item(i)
        record = {
            "Metadata": {"WriteTimestampMicros": {"N": str(1714557600000000 + i)}},
            "Keys": {"pk": item["pk"], "sk": item["sk"]},
            "NewImage": item,
        }
        lines.append(json.dumps(record))
    folder = write_export(
        root,
        lines,
        export_id="01714558500000-incr0001",
        files=1,
        empty_files=0,
        incremental={
            "exportFromTime": "2024-05-01T10:00:00.000Z",
            "exportToTime": "2024-05-01T10:15:00.000Z",
            "outputView": "NEW_AND_OLD_IMAGES",
        },
    )
    export = load_export(LocalFolder(folder))
    parser = parser_for(export, describe_target(dynamodb_client(endpoint_url=endpoint), TABLE))
    t0 = time.process_time()
    w0 = time.perf_counter()
    winners = find_superseded(export, parser)
    cpu, wall = time.process_time() - t0, time.perf_counter() - w0
    tracemalloc.start()
    find_superseded(export, parser)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"records": records, "cpu": cpu, "wall": wall, "peak": peak, "winners": len(winners)}


# ---- the run ------------------------------------------------------------------------------------------


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=10_000, help="data files in the manifest (10,000)")
    parser.add_argument("--items", type=int, default=100_000_000, help="items the manifests claim (100,000,000)")
    parser.add_argument("--first", type=int, default=1000, help="real items in the first data file (1,000)")
    parser.add_argument("--workers", type=int, default=4, help="ddb-restore run --workers in (b) (4)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of (a); the median is shown (3)")
    parser.add_argument("--supersede", type=int, default=50_000, help="records of the incremental file in (d)")
    parser.add_argument("--plan-step", nargs=2, metavar=("FOLDER", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.plan_step:
        plan_step_child(Path(args.plan_step[0]), Path(args.plan_step[1]))
        return
    # Dummy credentials, a region, no user config: (a) and (d) run in this process against the sink.
    env = aws_env("")
    del env["AWS_ENDPOINT_URL_DYNAMODB"]
    os.environ.clear()
    os.environ.update(env)

    with tempfile.TemporaryDirectory(prefix="bench-planning-") as tmp:
        work = Path(tmp)
        folder = build_export(work / "big", args.files, args.items, args.first)
        single = build_export(work / "one", 1, args.first, args.first, export_id="01700000000000-plan0002")
        manifest_mb = (folder / "manifest-files.json").stat().st_size / 1e6
        on_disk = len(list((folder / "data").iterdir()))
        print(
            f"export: manifest of {args.files:,} data files ({manifest_mb:.2f} MB), {args.items:,} items claimed; "
            f"{on_disk} data file on disk ({args.first:,} items), the other {args.files - on_disk:,} do not exist",
            flush=True,
        )

        with Sink(track=False) as sink:
            a = plan_in_process(folder, sink.endpoint, args.repeat)
            a_one = plan_in_process(single, sink.endpoint, args.repeat)
            d = supersede_cost(work / "incr", args.supersede, sink.endpoint)
        b_one = first_write(single, work, "one", args.workers, 60)
        b = first_write(folder, work, "big", args.workers, 60)
        figures_path = work / "plan-step.json"
        measured = run_measured(
            [str(Path(__file__).resolve()), "--plan-step", str(folder), str(figures_path)], dict(os.environ)
        )
        if measured.rc != 0:
            print(f"(c) exited {measured.rc}:\n{measured.output[-3000:]}", file=sys.stderr)
            raise SystemExit(1)
        c = json.loads(figures_path.read_text())

    # (a)
    print("\n(a) planning in this process (median of", args.repeat, "rounds), seconds")
    rows = []
    for key, label in (
        ("load_export", "load_export: both manifests read, parsed, checked"),
        ("client", "DynamoDB client created"),
        ("describe_target", "describe_target (sink)"),
        ("make_plan", "make_plan: first records sampled, estimate"),
        ("lines", "Plan.lines()"),
        ("total", "total"),
    ):
        rows.append((label, a_one["median"][key], a["median"][key]))
    rows.append(("tracemalloc peak MB", a_one["peak"] / 1e6, a["peak"] / 1e6))
    print(table(["step", f"1 file ({args.first:,} items)", f"{args.files:,} files ({args.items:,})"], rows))
    print("\n  " + "\n  ".join(a["lines"]))

    # (b)
    print(f"\n(b) ddb-restore run --workers {args.workers} against the sink, seconds from process start")

    def done_failed(report: dict[str, Any]) -> str:
        return f"{report.get('files_done', '-')} / {report.get('files_failed', '-')}"

    rows = [
        ("plan printed (the 'estimate:' line)", _s(b_one["plan_printed"]), _s(b["plan_printed"])),
        ("first BatchWriteItem at the sink", _s(b_one["first_write"]), _s(b["first_write"])),
        ("exit status", b_one["rc"], b["rc"]),
        ("items the sink got", b_one["items"], b["items"]),
        ("files done / failed", done_failed(b_one["report"]), done_failed(b["report"])),
    ]
    print(table(["", "1 file (baseline)", f"{args.files:,} files"], rows))
    if b["first_write"] is None:
        print("  no write seen; its output:\n  " + "\n  ".join(b["output"][-20:]))
    print(
        f"  (the {args.files - 1:,} data files that do not exist fail when their turn comes, after the first write: "
        "exit 1 is expected for the large export)"
    )

    # (c)
    wall = min(c["walls"])
    print("\n(c) the Plan step: steps.plan_execution under moto, in a child process")
    rows = [
        ("wall s (best of 3; first)", f"{wall:.2f} ({c['walls'][0]:.2f})", f"{LAMBDA_TIMEOUT_S} s (Lambda timeout)"),
        ("tracemalloc peak MB during the call (moto's share included)", c["tracemalloc_peak"] / 1e6, "-"),
        ("peak RSS MB of the process (Python, boto3, moto, 4 calls)", measured.peak_rss_kb / 1024,
         f"{LAMBDA_MEMORY_MB} MB (Lambda memory)"),
        ("return value, JSON bytes (the Lambda's payload)", c["return_bytes"], f"{PAYLOAD_LIMIT:,} (256 KB)"),
        ("state after the Plan's ResultSelector, bytes", c["state_bytes"], f"{PAYLOAD_LIMIT:,} (256 KB)"),
        ("one child execution's input (ItemSelector), bytes", c["child_input_bytes"], f"{PAYLOAD_LIMIT:,} (256 KB)"),
        ("file list written to the run bucket, bytes", c["files_object_bytes"], "S3 object (read by ItemReader)"),
        ("  entries in it", c["files_listed"], "-"),
    ]  # fmt: skip
    print(table(["figure", "value", "limit"], rows))

    # (d)
    per_record = d["cpu"] / d["records"]
    bytes_per_record = d["peak"] / d["records"]
    at_items_s = per_record * args.items
    at_items_mb = bytes_per_record * args.items / 1e6
    print("\n(d) an incremental export instead: find_superseded's pass over every record (before any write)")
    rows = [
        ("records in the incremental file", d["records"]),
        ("CPU s / wall s", f"{d['cpu']:.2f} / {d['wall']:.2f}"),
        ("µs of CPU per record", per_record * 1e6),
        ("tracemalloc peak MB (bytes per record)", f"{d['peak'] / 1e6:.1f} ({bytes_per_record:.0f})"),
        (f"extrapolated to {args.items:,} records: CPU s", at_items_s),
        (f"extrapolated to {args.items:,} records: peak MB", at_items_mb),
    ]
    print(table(["figure", "value"], rows))

    first_ok = b["first_write"] is not None and b["first_write"] <= TARGET_FIRST_WRITE_S
    mem_ok = measured.peak_rss_kb / 1024 <= LAMBDA_MEMORY_MB
    payload_ok = max(c["return_bytes"], c["state_bytes"], c["child_input_bytes"]) <= PAYLOAD_LIMIT
    time_ok = max(c["walls"]) <= LAMBDA_TIMEOUT_S
    incr_ok = at_items_s <= SUPERSEDE_TIMEOUT_S and at_items_mb <= SUPERSEDE_MEMORY_MB

    def met(ok: bool) -> str:
        return "MET" if ok else "NOT MET"

    print(
        f"\nSUMMARY planning: {args.files:,} files / {args.items:,} items: planned in {a['median']['total']:.2f} s "
        f"in-process; ddb-restore run's first write after {_s(b['first_write'])} s "
        f"(baseline 1 file {_s(b_one['first_write'])} s; target <= {TARGET_FIRST_WRITE_S:.0f} s: {met(first_ok)}); "
        f"Plan step {wall:.2f} s (<= {LAMBDA_TIMEOUT_S} s: {met(time_ok)}), peak RSS "
        f"{measured.peak_rss_kb / 1024:.0f} MB with moto (<= {LAMBDA_MEMORY_MB} MB: {met(mem_ok)}), "
        f"payload {c['return_bytes']:,} B (<= 256 KB: {met(payload_ok)}), file list {c['files_object_bytes']:,} B "
        f"in S3; beyond the issue's full export, an INCREMENTAL export of this size would need ~{at_items_s:,.0f} "
        f"CPU-s and ~{at_items_mb:,.0f} MB before its first write (find_superseded; within its own step's "
        f"{SUPERSEDE_TIMEOUT_S} s / {SUPERSEDE_MEMORY_MB} MB: {met(incr_ok)}; that step's limit is "
        f"~{min(SUPERSEDE_TIMEOUT_S / per_record, SUPERSEDE_MEMORY_MB * 1e6 / bytes_per_record) / 1e6:,.0f} "
        f"million records an export)"
    )


if __name__ == "__main__":
    main()
