"""Writer cost per item (issue 6, part 1): our writer against boto3's batch_writer and the plain client.

One gzip DYNAMODB_JSON data file of ~1 KB items (every type: S, N, B, BOOL, NULL, L, M, SS, NS, BS) is written
into bench/sink.py (a local endpoint that accepts every BatchWriteItem at once, in its own process) by:
  (a) ours:  `ddb-restore run EXPORT --table T --workers 1`, a subprocess (process start, imports, plan,
             MD5 and count checks included);
  (b) naive: json.loads + TypeDeserializer + boto3 `Table.batch_writer()`, a subprocess (bench/_baselines.py);
  (c) plain: json.loads + `client.batch_write_item` in 25-item batches (B base64-decoded), a subprocess;
  (d) raw:   the ceiling: each line's bytes spliced into a signed request, no parsing, no checks;
  (a') (a) with a built-in transform, `--mask-attribute description` (a ~380-character S of ~60 words): what a
       transform costs per item, next to (a). Its sink check compares with the export masked by the test
       support's own mask (tests/support/masking.py), not with the export as it is.
Each child's CPU (user + sys, from wait4) and wall time are measured; items/CPU-s and items/wall-s are
compared with (b). The sink checks every run: items received, distinct keys, and an order-independent
fingerprint of the items (sets compared unordered) equal to the export's: "exact" (byte for byte, as text),
"values" (the same items, but numbers rewritten: 0.2E-8 sent as 2E-9), or "NO".
Then each stage of a write is timed alone on 2,000 items (µs/item, no profiler), and (a) runs once more in
this process under cProfile on the first --profile-items items (the worker pool replaced by an inline
executor, so the profiler sees the writer's thread): top functions, stages and areas.

    .venv/bin/python bench/writer_cost.py [--items 20000] [--repeat 1] [--top 15] [--profile-items 5000]
                                          [--no-profile] [--mix mixed|few] [--instructions]

With --instructions, (a) and (b) also run under valgrind on exports of 20 and 2,000 items: instructions at
start and per item, which, unlike CPU time on a shared VM, are the same from run to run; and each one's
instructions per CPU-second in the measured runs (equal on a machine of one speed: their gap is how far the
machine moved the CPU ratio from the instruction ratio). Each approach's system time is printed too.

Targets (issue 16): (a) ≥ 4 × (b) in items per CPU-second (one worker, process start included); and the
sizing figure: (a)'s items per CPU-second after start-up × WriteChunkFunction's MemorySize / 1,769 MB (Lambda's
vCPU share) ≥ 2,000 items/s, read from template.yaml, with the smallest MemorySize that would meet it.
"""

from __future__ import annotations

import argparse
import compileall
import cProfile
import io
import json
import math
import os
import pstats
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from concurrent.futures import Future
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # support.sample: the export writer

from _common import (  # noqa: E402
    DDB_RESTORE,
    PYTHON,
    ROOT,
    TABLE,
    Measured,
    aws_env,
    check_output,
    data_files,
    export_fingerprint,
    few_values_item,
    full_lines,
    make_item,
    run_measured,
    table,
)
from sink import Sink  # noqa: E402

TARGET = 4.0
# Issue 16's sizing figure: one writer Lambda, at its configured MemorySize, sustains this many ~1 KB items a
# second (twice one partition's 1,000 WCU). Lambda gives a function MemorySize / 1,769 MB of a vCPU.
SIZING_TARGET = 2_000
MB_PER_VCPU = 1_769


def writer_memory_mb() -> int:
    """WriteChunkFunction's MemorySize in template.yaml: the first MemorySize after its handler line."""
    text = (ROOT / "template.yaml").read_text()
    found = re.search(r"handlers\.write_chunk\.handler\n(?:.*\n)*?\s+MemorySize: (\d+)", text)
    if found is None:
        raise SystemExit("template.yaml: no MemorySize found for the write_chunk handler")
    return int(found.group(1))


def build_export(root: Path, lines: list[str]) -> Path:
    from support.sample import write_export

    return write_export(root, lines, files=1, empty_files=0, export_id="01700000000000-writer01")


def approaches(folder: Path, work: Path) -> dict[str, list[str]]:
    data = str(data_files(folder)[0])
    baselines = str(Path(__file__).resolve().parent / "_baselines.py")
    ours = [DDB_RESTORE, "run", str(folder), "--table", TABLE, "--workers", "1"]
    ours += ["--report", str(work / "report.json"), "--rejects", str(work / "rejects.jsonl")]
    return {
        "(a) ddb-restore run": ours,
        "(b) naive batch_writer": [baselines, "naive", data, TABLE],
        "(c) plain client": [baselines, "plain", data, TABLE],
        "(d) raw ceiling": [baselines, "raw", data, TABLE],
        TRANSFORMED: [*ours, "--mask-attribute", "description"],
    }


TRANSFORMED = "(a') run --mask-attribute"


def masked_lines(lines: list[str]) -> list[str]:
    """The export as (a') should write it: each item's description masked, independently of transform/."""
    from support.masking import masked_words

    out = []
    for line in lines:
        item = json.loads(line)["Item"]
        item["description"] = {"S": masked_words(item["description"]["S"])}
        out.append(json.dumps({"Item": item}, ensure_ascii=False))
    return out


class _InlineExecutor:
    """Stands in for the runner's ThreadPoolExecutor while profiling: cProfile sees only its own thread."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __enter__(self) -> _InlineExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def submit(self, fn: Any, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as err:  # noqa: BLE001 - handed to the caller, as a pool would
            future.set_exception(err)
        return future


_AREAS = [
    ("ddb_restore (ours)", ("/ddb_restore/",)),
    ("botocore serialize/validate", ("botocore/serialize", "botocore/validate", "botocore/model")),
    ("botocore parse response", ("botocore/parsers",)),
    ("botocore sign (auth)", ("botocore/auth", "botocore/signers", "hmac")),
    ("botocore other (hooks, endpoints...)", ("botocore/",)),
    ("http: urllib3 / http.client / socket", ("urllib3/", "http/client", "socket", "ssl")),
    ("json (stdlib)", ("json/",)),
    ("gzip / zlib", ("gzip", "zlib", "_compression")),
    ("base64", ("base64", "binascii")),
]


# Cumulative time of the stages of a write (function found by file suffix and name). Nested rows are parts.
_STAGES = [
    ("records: line -> Record (RecordParser.parse)", "ddb_restore/export/records.py", "parse"),
    ("  of which decoding (orjson)", "ddb_restore/export/records.py", "decode_json_line"),
    ("  of which the check-and-size walk", "ddb_restore/export/records.py", "_checked_size"),
    ("datafile: read, gunzip, MD5 (read_lines)", "ddb_restore/export/datafile.py", "read_lines"),
    ("botocore: validate + serialize request", "botocore/client.py", "_convert_to_request_dict"),
    ("  of which parameter validation", "botocore/validate.py", "validate"),
    ("  of which JSON serialisation", "botocore/serialize.py", "serialize_to_request"),
    ("botocore: sign, send, receive", "botocore/client.py", "_make_request"),
    ("  of which SigV4 signing", "botocore/signers.py", "sign"),
    ("  of which HTTP (urllib3)", "botocore/httpsession.py", "send"),
    ("  of which response parsing", "botocore/parsers.py", "parse"),
    ("startup: plan (sample, checks)", "ddb_restore/restore/plan.py", "make_plan"),
    ("startup: DescribeTable etc.", "ddb_restore/restore/plan.py", "describe_target"),
    ("startup: DynamoDB client creation", "ddb_restore/write/clients.py", "dynamodb_client"),
]


def _stages(stats: pstats.Stats, total: float) -> str:
    rows = []
    entries = stats.stats  # type: ignore[attr-defined]
    for label, suffix, function in _STAGES:
        cumulative = sum(
            v[3] for (filename, _, name), v in entries.items() if filename.endswith(suffix) and name == function
        )
        rows.append((label, cumulative, f"{cumulative / total:.0%}"))
    return table(["stage (cumulative time)", "s", "share"], rows)


def stage_costs(data_file: Path, items: int) -> str:
    """Each stage of a write timed alone on the file's first `items` lines (process_time, no profiler): µs/item."""
    import gzip
    import time

    import boto3
    from botocore import serialize
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    from botocore.validate import ParamValidator

    from ddb_restore.export.records import RecordParser, decode_json_line

    def timed(fn: Any, inputs: list | None = None) -> float:
        """Best of 3, each result dropped at once as the writer drops its records batch by batch: a list of
        2,000 decoded lines kept alive made the garbage collector walk them again and again (orjson.loads
        timed 6-7 µs a line this way, 40-57 inside a list comprehension)."""
        best = float("inf")
        for _ in range(3):
            started = time.process_time()
            if inputs is None:
                fn()
            else:
                for x in inputs:
                    fn(x)
            best = min(best, time.process_time() - started)
        return best / len(raw) * 1e6

    with gzip.open(data_file, "rb") as f:
        raw = [line for _, line in zip(range(items), f, strict=False)]
    parser = RecordParser(incremental=False, key_names=("pk", "sk"))
    records = [parser.parse(line, n) for n, line in enumerate(raw, 1)]
    batches = [
        {"RequestItems": {TABLE: [{"PutRequest": {"Item": r.item}} for r in records[i : i + 25]]}}
        for i in range(0, len(records), 25)
    ]
    client = boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    operation = client.meta.service_model.operation_model("BatchWriteItem")
    shape = operation.input_shape
    bare = serialize.create_serializer("json", include_validation=False)
    bodies = [bare.serialize_to_request(b, operation)["body"] for b in batches]
    signer = SigV4Auth(Credentials("x", "x"), "dynamodb", "us-east-1")

    def sign_all() -> None:
        for body in bodies:
            request = AWSRequest("POST", "http://127.0.0.1/", data=body, headers={"X-Amz-Target": "x"})
            signer.add_auth(request)

    def gunzip() -> None:
        with gzip.open(data_file, "rb") as f:
            for _, _line in zip(range(items), f, strict=False):
                pass

    rows = [
        ("gunzip + readline", timed(gunzip)),
        ("json.loads of the line (as (b) and (c) decode it)", timed(json.loads, raw)),
        ("decode_json_line: orjson.loads of the line (ours)", timed(decode_json_line, raw)),
        (
            "RecordParser.parse (decode, check-and-size walk, key, wire bytes)",
            timed(lambda x: parser.parse(x, 1), raw),
        ),
        (
            "botocore parameter validation (ParamValidator)",
            timed(lambda b: ParamValidator().validate(b, shape), batches),
        ),
        (
            "botocore JSON serialisation (no validation)",
            timed(lambda b: bare.serialize_to_request(b, operation), batches),
        ),
        ("SigV4 signing (per item, 25 a request)", timed(sign_all)),
    ]
    return table(["stage, alone", "µs/item"], rows)


# Files of the instruction count (--instructions): the marginal cost of an item is read between the two.
_COUNT_SIZES = (20, 2_000)


def instructions(cmd: list[str], env: dict[str, str]) -> int:
    """Instructions the command's process executes, counted by valgrind (cachegrind, no cache simulation).

    Why: on a shared VM the CPU time of one and the same run drifts by ±30% from minute to minute, more than the
    changes it is meant to judge; an instruction count is the same from run to run (with PYTHONHASHSEED fixed:
    string hashes set the dicts' layouts). It is not CPU time — (a) retires fewer instructions per second
    than (b), whose interpreter loop is tight — so it is shown beside the CPU figures, never instead of them."""
    with tempfile.NamedTemporaryFile("r", suffix=".log") as log:
        full = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null"]
        full += [f"--log-file={log.name}", PYTHON, *cmd]
        done = subprocess.run(full, env={**env, "PYTHONHASHSEED": "0"}, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(cmd[:2])} under valgrind exited {done.returncode}:\n{done.stdout[-2000:]}")
        found = re.search(r"I\s+refs:\s+([\d,]+)", log.read())
    if found is None:
        raise SystemExit("valgrind printed no instruction count")
    return int(found.group(1).replace(",", ""))


def instruction_counts(
    folders: dict[int, Path], work: Path, env: dict[str, str], items: int
) -> tuple[str, dict[str, float]]:
    """(a) and (b) on the small exports under valgrind: fixed and per-item instructions, and the ratio; and
    each one's instructions for the whole file."""
    rows = []
    counts: list[tuple[float, float]] = []  # (per item, whole file) of (a), then of (b)
    for name in ("(a) ddb-restore run", "(b) naive batch_writer"):
        small, large = (instructions(approaches(folders[n], work)[name], env) for n in _COUNT_SIZES)
        per_item = (large - small) / (_COUNT_SIZES[1] - _COUNT_SIZES[0])
        fixed = small - _COUNT_SIZES[0] * per_item
        whole = fixed + items * per_item
        counts.append((per_item, whole))
        rows.append((name, f"{fixed / 1e6:,.0f} M", f"{per_item / 1e3:,.0f} K", f"{whole / 1e9:.2f} G"))
    (item_a, whole_a), (item_b, whole_b) = counts
    ratio_items = item_b / item_a
    ratio_run = whole_b / whole_a
    text = table(["approach", "fixed (start...)", "per item", f"{items:,} items"], rows)
    text += (
        f"\n(b) / (a) in instructions: {ratio_items:.2f}x per item, {ratio_run:.2f}x for {items:,} items "
        "(process start included)"
    )
    return text, {"(a) ddb-restore run": whole_a, "(b) naive batch_writer": whole_b}


def _area(filename: str, name: str) -> str:
    where = f"{filename} {name}"
    for area, needles in _AREAS:
        if any(n in where for n in needles):
            return area
    return "other"


def profile_ours(folder: Path, work: Path, endpoint: str, top: int) -> tuple[float, str]:
    import ddb_restore.restore.runner as runner
    from ddb_restore.cli import main

    env = aws_env(endpoint)
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    runner.ThreadPoolExecutor = _InlineExecutor  # type: ignore[assignment,misc]
    argv = ["run", str(folder), "--table", TABLE, "--workers", "1", "--rejects", str(work / "rejects-profile.jsonl")]
    profiler = cProfile.Profile()
    sink_out = io.StringIO()
    try:
        with redirect_stdout(sink_out), redirect_stderr(sink_out):
            profiler.enable()
            status = main(argv)
            profiler.disable()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    if status != 0:
        raise SystemExit(f"profiled run exited {status}:\n{sink_out.getvalue()[-2000:]}")
    stats = pstats.Stats(profiler)
    total = stats.total_tt  # type: ignore[attr-defined]
    out = io.StringIO()
    stats.stream = out  # type: ignore[attr-defined]
    stats.sort_stats("cumulative").print_stats(top)
    cumulative = _trim(out.getvalue())
    out = io.StringIO()
    stats.stream = out  # type: ignore[attr-defined]
    stats.sort_stats("tottime").print_stats(top)
    own = _trim(out.getvalue())
    areas: dict[str, float] = {}
    for (filename, _, name), (_, _, tottime, _, callers) in stats.stats.items():  # type: ignore[attr-defined]
        if filename == "~" and "socket" not in name and callers:
            # a builtin (isinstance, dict.get, md5.update, zlib...): its time goes to its callers' areas
            weight = sum(c[2] for c in callers.values()) or float(len(callers))
            for (caller_file, _, caller_name), c in callers.items():
                area = _area(caller_file, caller_name)
                share = (c[2] if sum(x[2] for x in callers.values()) else 1.0) / weight
                areas[area] = areas.get(area, 0.0) + tottime * share
            continue
        area = _area(filename, name)
        areas[area] = areas.get(area, 0.0) + tottime
    rows = [(a, t, t / total) for a, t in sorted(areas.items(), key=lambda kv: -kv[1])]
    area_table = table(["area (own time of its functions)", "s", "share"], [(a, t, f"{s:.0%}") for a, t, s in rows])
    text = (
        f"top {top} by cumulative time:\n{cumulative}\n\ntop {top} by own time:\n{own}\n\n"
        f"stages (profiled total {total:.2f} s):\n{_stages(stats, total)}\n\n"
        f"own time by area (builtins counted with their callers):\n{area_table}"
    )
    return total, text


def _trim(report: str) -> str:
    """pstats' listing without its header lines, paths shortened (site-packages/, the stdlib, this repo)."""
    lines = report.strip().splitlines()
    start = next((i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls")), 0)
    root = str(Path(__file__).resolve().parent.parent) + "/"
    stdlib = os.path.dirname(os.__file__) + "/"
    out = []
    for line in lines[start:]:
        line = re.sub(r"\S*site-packages/", "", line.replace(root, "").replace(stdlib, ""))
        out.append(line.rstrip())
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=20_000, help="items in the data file (default 20,000)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each approach; the best is kept")
    parser.add_argument("--top", type=int, default=15, help="functions shown from the profile")
    parser.add_argument(
        "--profile-items", type=int, default=5_000, help="items of the profiled run (its first N; default 5,000)"
    )
    parser.add_argument("--no-profile", action="store_true", help="skip the cProfile run of (a)")
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="also count the instructions of (a) and (b) with valgrind (deterministic where CPU time drifts; ~2 min)",
    )
    parser.add_argument(
        "--mix",
        choices=("mixed", "few"),
        default="mixed",
        help="items: ~45 values of every type (default; the issue's 'mix of types'), or 8 values of the same "
        "~1 KB (most of it in one S), to see how the mix moves the ratio",
    )
    args = parser.parse_args()
    if args.instructions and shutil.which("valgrind") is None:
        parser.error("--instructions needs valgrind on PATH (apt-get install valgrind)")

    from ddb_restore.export.records import item_size

    with tempfile.TemporaryDirectory(prefix="bench-writer-") as tmp:
        work = Path(tmp)
        rng = random.Random(20240501)
        make = make_item if args.mix == "mixed" else few_values_item
        lines = full_lines(make(i, rng) for i in range(args.items))
        folder = build_export(work / "export", lines)
        profile_folder = build_export(work / "profile", lines[: args.profile_items])
        counted = {n: build_export(work / f"count-{n}", lines[:n]) for n in _COUNT_SIZES} if args.instructions else {}
        expected = export_fingerprint(lines)
        expected_values = export_fingerprint(lines, numbers=True)
        masked = masked_lines(lines)
        wanted = {TRANSFORMED: (export_fingerprint(masked), export_fingerprint(masked, numbers=True))}
        del masked
        sample = [json.loads(line)["Item"] for line in lines[:2000]]
        avg_size = sum(item_size(i) for i in sample) / len(sample)
        avg_line = sum(len(line.encode()) for line in lines) / len(lines)
        gz_bytes = data_files(folder)[0].stat().st_size
        del lines, sample
        print(
            f"export: 1 gzip file, {args.items:,} items ({args.mix} mix), DynamoDB item size {avg_size:,.0f} B avg, "
            f"{avg_line:,.0f} B of JSON a line, {gz_bytes / 1e6:.1f} MB gzip"
        )
        results: dict[str, Measured] = {}
        rounds: list[dict[str, float]] = []  # CPU s of each approach, round by round
        checks: dict[str, str] = {}
        with Sink(track=True) as sink:
            env = aws_env(sink.endpoint)
            # (a) as installed: pip byte-compiles a package it installs (`pip install .`); this venv's editable
            # install is not, and where PYTHONDONTWRITEBYTECODE is set (as on the machine of these figures) every
            # start compiled ddb_restore's modules anew, ~40 ms of CPU an installed copy does not spend.
            compileall.compile_dir(str(ROOT / "functions" / "ddb_restore"), quiet=1)
            # the fixed cost inside (a): interpreter start and imports, measured alone
            startup = run_measured([DDB_RESTORE, "--version"], env)
            for _ in range(args.repeat):
                rounds.append({})
                for name, cmd in approaches(folder, work).items():
                    sink.reset()
                    measured = run_measured(cmd, env)
                    check_output(measured, name)
                    got = sink.stats()
                    want, want_values = wanted.get(name, (expected, expected_values))
                    if got["items"] != args.items or got["distinct_keys"] != args.items:
                        checks[name] = f"NO: {got['items']:,} items, {got['distinct_keys']:,} keys"
                    elif got["fingerprint"] == want:
                        checks[name] = "yes"
                    elif got["value_fingerprint"] == want_values:
                        checks[name] = "values (number text rewritten)"
                    else:
                        checks[name] = "NO: items differ"
                    rounds[-1][name] = measured.cpu
                    if name not in results or measured.cpu < results[name].cpu:
                        results[name] = measured
            stages = stage_costs(data_files(folder)[0], min(2_000, args.items))
            counts = instruction_counts(counted, work, env, args.items) if args.instructions else None
            profile = None
            if not args.no_profile:
                sink.reset()
                profile = profile_ours(profile_folder, work, sink.endpoint, args.top)

    naive = results["(b) naive batch_writer"]
    n = args.items
    rows = []
    for name, m in results.items():
        rows.append(
            (
                name,
                m.cpu,
                m.wall,
                n / m.cpu,
                n / m.wall,
                f"{naive.cpu / m.cpu:.2f}x",
                f"{naive.wall / m.wall:.2f}x",
                m.peak_rss_kb // 1024,
                checks[name],
            )
        )
    print()
    print(
        table(
            [
                "approach",
                "CPU s",
                "wall s",
                "items/CPU-s",
                "items/wall-s",
                "CPU vs (b)",
                "wall vs (b)",
                "RSS MB",
                "exact",
            ],
            rows,
        )
    )
    sustained = n / (results["(a) ddb-restore run"].cpu - startup.cpu)
    memory = writer_memory_mb()
    per_lambda = sustained * memory / MB_PER_VCPU
    smallest = math.ceil(SIZING_TARGET / sustained * MB_PER_VCPU)
    print(
        f"\n(a) includes process start + imports: `ddb-restore --version` alone costs {startup.cpu:.2f} CPU-s "
        f"({startup.cpu / results['(a) ddb-restore run'].cpu:.0%} of (a)); "
        f"(a) without it: {sustained:,.0f} items/CPU-s"
    )
    sizing = (
        f"one writer Lambda at WriteChunkFunction's {memory} MB ({memory / MB_PER_VCPU:.3f} vCPU): "
        f"{per_lambda:,.0f} items/s; target >= {SIZING_TARGET:,}: "
        f"{'MET' if per_lambda >= SIZING_TARGET else 'NOT MET'} "
        f"(the smallest size that meets it at this speed: {smallest} MB)"
    )
    print(f"sizing: {sizing}")
    print(f"\nstages timed alone on the first {min(2_000, n):,} items (no profiler):\n{stages}")
    if len(rounds) > 1:
        # The machine's speed drifts over minutes: (a) against the (b) run right after it, round by round,
        # is a second reading of the ratio, next to best-of-each above.
        paired = [r["(b) naive batch_writer"] / r["(a) ddb-restore run"] for r in rounds]
        print(
            "(a) vs (b) round by round (the same minute): "
            + ", ".join(f"{x:.2f}x" for x in paired)
            + f"; median {statistics.median(paired):.2f}x"
        )
    print(
        "system time of the runs above (in CPU s): "
        + ", ".join(f"{k.split()[0]} {m.sys:.2f} of {m.cpu:.2f}" for k, m in results.items())
    )
    if counts is not None:
        small, large = _COUNT_SIZES
        text, whole = counts
        print(f"\ninstructions (valgrind, PYTHONHASHSEED=0; exports of {small:,} and {large:,} items):")
        print(text)
        # Were the machine's speed the same for both, these two would be equal, and the CPU ratio above would be
        # the instruction ratio: the gap between them is what the machine, not the code, did to the ratio.
        print(
            "instructions per CPU-second in the runs above: "
            + ", ".join(f"{k.split()[0]} {whole[k] / results[k].cpu / 1e9:.2f} G" for k in whole)
        )
    per_item = {k: m.cpu / n * 1e6 for k, m in results.items()}
    print("whole runs, µs/item: " + ", ".join(f"{k.split()[0]} {v:,.0f}" for k, v in per_item.items()))
    print(
        f"built-in transform: (a') {per_item[TRANSFORMED]:,.1f} µs/item against (a) "
        f"{per_item['(a) ddb-restore run']:,.1f}: +{per_item[TRANSFORMED] - per_item['(a) ddb-restore run']:,.1f} "
        f"µs/item ({per_item[TRANSFORMED] / per_item['(a) ddb-restore run'] - 1:+.0%}); exact: {checks[TRANSFORMED]}"
    )
    if profile is not None:
        total, text = profile
        print(
            f"\nprofile of (a) on the first {min(args.profile_items, n):,} items, in this process "
            f"(cProfile: {total:.2f} s profiled; its overhead inflates small, frequent calls):"
        )
        print(text)
    ours = results["(a) ddb-restore run"]
    ratio = naive.cpu / ours.cpu
    ceiling = naive.cpu / results["(d) raw ceiling"].cpu
    print(
        f"\nSUMMARY writer_cost ({args.mix} mix): (a) {n / ours.cpu:,.0f} items/CPU-s = {ratio:.2f}x "
        f"(b) {n / naive.cpu:,.0f}; "
        f"(c) {naive.cpu / results['(c) plain client'].cpu:.2f}x; "
        f"ceiling (d) {ceiling:.2f}x; "
        f"target (a) >= {TARGET:.0f}x (b): {'MET' if ratio >= TARGET else 'NOT MET'}; "
        f"(a) exact: {checks['(a) ddb-restore run']}; {sizing}"
    )


if __name__ == "__main__":
    main()
