"""Load (issue 7): a million items through the local runner into a real DynamoDB server that throttles.

ITEMS generated items of ~200 bytes of DynamoDB JSON a line (S, N, BOOL, SS, B, M, L; ~200 MB uncompressed
for the default million) are written as a full export of FILES gzip data files, streamed to disk (never held
in memory), with manifests as Export to S3 writes them (MD5 and itemCount per file, .md5 checksum files).
`ddb-restore run EXPORT --table T --workers 4` (a subprocess, AWS_ENDPOINT_URL_DYNAMODB set) restores them
into dynalite (tests/support/dynalite.py: a real DynamoDB-protocol server in node) behind
tests/support/faultproxy.py, which throttles each BatchWriteItem call with probability THROTTLE (5%) and
hands back half of it as UnprocessedItems with probability PARTIAL (10%).

Then every item is checked straight against dynalite (not through the proxy): a parallel Scan (SEGMENTS
segments, one thread each) marks each item's index, sums a 64-bit digest of its key, and compares the whole
item (sets unordered, B as base64) with the one generated. Items lost = generated items not found; changed =
found but not equal; unexpected = keys never generated.

    .venv/bin/python bench/load.py [--items 1000000] [--files 16] [--workers 4] [--throttle 0.05] [--partial 0.1]

Target (issue 7): the restore completes with every item present (lost 0, changed 0), figures in the README.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import json
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # support.sample: the export writer

from _common import DDB_RESTORE, aws_env, run_measured, table  # noqa: E402
from sink import item_fingerprint  # noqa: E402

from support.dynalite import Dynalite  # noqa: E402
from support.faultproxy import FaultProxy  # noqa: E402
from support.sample import create_sample_table, summary_document  # noqa: E402

TABLE = "LoadTable"
EXPORT_ID = "01700000000000-load0001"
_MASK = (1 << 64) - 1
_WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]
_WORDS += ["india", "juliett", "kilo", "lima", "mike", "november", "oscar", "papa"]
_CITIES = ["Lyon", "Oslo", "Lima", "Kyiv", "Pune", "Cork", "Graz", "Nice"]


# ---- the items ------------------------------------------------------------------------------------------


def line(i: int) -> str:
    """Item i as an export line, ~200 bytes; every number already in DynamoDB's normal form."""
    w1, w2 = _WORDS[i % 16], _WORDS[(i // 16) % 16]
    tags = json.dumps(sorted({w1, _WORDS[(i * 7 + 3) % 16]}), separators=(",", ":"))
    blob = base64.b64encode(i.to_bytes(6, "big") + b"\x00\xff\x10").decode()
    return (
        f'{{"Item":{{"pk":{{"S":"{pk(i)}"}},"sk":{{"N":"{i}"}},"n":{{"S":"{w1} {i}"}},'
        f'"p":{{"N":"{i % 1000}.{i % 9 + 1}"}},"ok":{{"BOOL":{"true" if i % 3 else "false"}}},'
        f'"t":{{"SS":{tags}}},"b":{{"B":"{blob}"}},'
        f'"m":{{"M":{{"city":{{"S":"{_CITIES[i % 8]}"}}}}}},"l":{{"L":[{{"N":"{i % 97}"}},{{"S":"{w2}"}}]}}}}}}'
    )


def pk(i: int) -> str:
    return f"u#{i % 65521:05d}"


def key_digest(pk: str, sk: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"{pk}\x00{sk}".encode(), digest_size=8).digest(), "big")


def expected_item(i: int) -> dict[str, Any]:
    item: dict[str, Any] = json.loads(line(i))["Item"]
    return item


# ---- the export -----------------------------------------------------------------------------------------


class _Md5Writer:
    """A binary file that feeds every byte written into an MD5."""

    def __init__(self, path: Path) -> None:
        self.file = open(path, "wb")  # noqa: SIM115 - closed by close()
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.size = 0

    def write(self, data: bytes) -> int:
        self.md5.update(data)
        self.size += len(data)
        return self.file.write(data)

    def flush(self) -> None:
        self.file.flush()

    def close(self) -> None:
        self.file.close()


def build_export(root: Path, items: int, files: int) -> tuple[Path, int, int]:
    """The export folder, its uncompressed bytes and its gzip bytes. Item i lies in file i * files // items."""
    prefix = "exports"
    folder = root / prefix / "AWSDynamoDB" / EXPORT_ID
    (folder / "data").mkdir(parents=True, exist_ok=True)
    (folder / "_started").write_bytes(b"")
    key_prefix = f"{prefix}/AWSDynamoDB/{EXPORT_ID}/"
    manifest_lines = []
    raw_total = gz_total = 0
    bounds = [n * items // files for n in range(files + 1)]
    for n in range(files):
        name = f"data/{hashlib.sha1(f'{EXPORT_ID}{n}'.encode()).hexdigest()[:26]}.json.gz"
        out = _Md5Writer(folder / name)
        count = 0
        with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=6, mtime=0) as gz:  # type: ignore[arg-type]
            buffer: list[str] = []
            for i in range(bounds[n], bounds[n + 1]):
                buffer.append(line(i))
                count += 1
                if len(buffer) == 5000:
                    data = ("\n".join(buffer) + "\n").encode()
                    raw_total += len(data)
                    gz.write(data)
                    buffer.clear()
            if buffer:
                data = ("\n".join(buffer) + "\n").encode()
                raw_total += len(data)
                gz.write(data)
        out.close()
        gz_total += out.size
        manifest_lines.append(
            json.dumps(
                {
                    "itemCount": count,
                    "md5Checksum": base64.b64encode(out.md5.digest()).decode(),
                    "etag": out.md5.hexdigest(),
                    "dataFileS3Key": key_prefix + name,
                }
            )
        )
    manifest_files = ("\n".join(manifest_lines) + "\n").encode()
    (folder / "manifest-files.json").write_bytes(manifest_files)
    summary = summary_document(EXPORT_ID, prefix, item_count=items, billed_bytes=raw_total)
    summary_bytes = json.dumps(summary, indent=2).encode()
    (folder / "manifest-summary.json").write_bytes(summary_bytes)
    (folder / "manifest-files.md5").write_text(hashlib.md5(manifest_files).hexdigest())
    (folder / "manifest-summary.md5").write_text(hashlib.md5(summary_bytes).hexdigest())
    return folder, raw_total, gz_total


# ---- the check ------------------------------------------------------------------------------------------


def _wire_to_json(value: Any) -> Any:
    """An attribute value as botocore's low-level client returns it → DynamoDB JSON text (B as base64)."""
    ((tag, inner),) = value.items()
    if tag == "B":
        return {"B": base64.b64encode(inner).decode()}
    if tag == "BS":
        return {"BS": [base64.b64encode(b).decode() for b in inner]}
    if tag == "L":
        return {"L": [_wire_to_json(v) for v in inner]}
    if tag == "M":
        return {"M": {k: _wire_to_json(v) for k, v in inner.items()}}
    return value


def _client(endpoint: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=Config(retries={"mode": "standard", "total_max_attempts": 10}, read_timeout=300),
    )


def verify(endpoint: str, items: int, segments: int) -> dict[str, Any]:
    """Scan the whole table in `segments` threads; every generated item must be there, equal, once."""
    seen = bytearray(items)
    lock = threading.Lock()
    totals = {"scanned": 0, "key_sum": 0, "changed": 0, "unexpected": 0, "pages": 0}
    errors: list[BaseException] = []

    def segment(n: int) -> None:
        try:
            client = _client(endpoint)
            scanned = key_sum = changed = unexpected = pages = 0
            marks: list[int] = []
            kwargs: dict[str, Any] = {"TableName": TABLE, "Segment": n, "TotalSegments": segments}
            while True:
                page = client.scan(**kwargs)
                pages += 1
                for raw in page["Items"]:
                    scanned += 1
                    pk, sk = raw["pk"]["S"], raw["sk"]["N"]
                    key_sum = (key_sum + key_digest(pk, sk)) & _MASK
                    i = int(sk)
                    if not 0 <= i < items:
                        unexpected += 1
                        continue
                    marks.append(i)
                    item = {k: _wire_to_json(v) for k, v in raw.items()}
                    if item_fingerprint(item) != item_fingerprint(expected_item(i)):
                        changed += 1
                if "LastEvaluatedKey" not in page:
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
            with lock:
                for i in marks:
                    seen[i] = 1
                totals["scanned"] += scanned
                totals["key_sum"] = (totals["key_sum"] + key_sum) & _MASK
                totals["changed"] += changed
                totals["unexpected"] += unexpected
                totals["pages"] += pages
        except BaseException as err:  # noqa: BLE001 - reported by the caller
            errors.append(err)

    threads = [threading.Thread(target=segment, args=(n,), name=f"scan-{n}") for n in range(segments)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    expected_sum = 0
    for i in range(items):
        expected_sum = (expected_sum + key_digest(pk(i), str(i))) & _MASK
    present = sum(seen)
    return {
        **totals,
        "present": present,
        "lost": items - present,
        "duplicates": totals["scanned"] - totals["unexpected"] - present,
        "keys_match": totals["key_sum"] == expected_sum,
    }


# ---- the run --------------------------------------------------------------------------------------------


def _proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a live process (from /proc), 0 when unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _monitor(proxy: FaultProxy, items: int, stop: threading.Event, every: float) -> None:
    started = time.monotonic()
    while not stop.wait(every):
        done = proxy.forwarded_items
        elapsed = time.monotonic() - started
        print(
            f"  ... {elapsed:5.0f} s: {done:,} writes forwarded to dynalite (~{done / max(elapsed, 1e-9):,.0f}/s; "
            f"{items:,} to do), {proxy.calls:,} calls, {proxy.throttled:,} throttled, {proxy.partials:,} partial",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=1_000_000, help="items to generate and restore (1,000,000)")
    parser.add_argument("--files", type=int, default=16, help="gzip data files (16)")
    parser.add_argument("--workers", type=int, default=4, help="ddb-restore run --workers (4)")
    parser.add_argument("--throttle", type=float, default=0.05, help="probability a call is throttled (0.05)")
    parser.add_argument("--partial", type=float, default=0.1, help="probability half a call comes back (0.1)")
    parser.add_argument("--segments", type=int, default=4, help="parallel Scan segments for the check (4)")
    parser.add_argument("--progress", type=float, default=30, help="seconds between progress lines (30)")
    parser.add_argument("--dir", type=Path, help="build the export here (default: a temporary folder)")
    args = parser.parse_args()

    # A million items in dynalite's in-memory store need more than node's default heap on some machines.
    os.environ["NODE_OPTIONS"] = (os.environ.get("NODE_OPTIONS", "") + " --max-old-space-size=8192").strip()
    with tempfile.TemporaryDirectory(prefix="bench-load-", dir=args.dir) as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        folder, raw_bytes, gz_bytes = build_export(work, args.items, args.files)
        built = time.perf_counter() - started
        print(
            f"export: {args.files} gzip files, {args.items:,} items, {raw_bytes / 1e6:,.1f} MB of JSON "
            f"({raw_bytes / args.items:.0f} B a line), {gz_bytes / 1e6:,.1f} MB gzip; built in {built:.1f} s",
            flush=True,
        )
        with Dynalite() as dynalite, FaultProxy(dynalite.endpoint) as proxy:
            client = _client(dynalite.endpoint)
            create_sample_table(client, TABLE)
            proxy.throttle_probability(args.throttle, seed=1)
            proxy.partial_probability(args.partial, keep=0.5, seed=2)
            assert dynalite.process is not None
            node_pid = dynalite.process.pid
            report_path = work / "report.json"
            cmd = [DDB_RESTORE, "run", str(folder), "--table", TABLE, "--workers", str(args.workers)]
            cmd += ["--report", str(report_path), "--rejects", str(work / "rejects.jsonl")]
            print(f"$ ddb-restore run EXPORT --table {TABLE} --workers {args.workers}  (through the proxy)", flush=True)
            node_cpu0, self_cpu0 = _proc_cpu(node_pid), _self_cpu()
            stop = threading.Event()
            monitor = threading.Thread(target=_monitor, args=(proxy, args.items, stop, args.progress), daemon=True)
            monitor.start()
            measured = run_measured(cmd, aws_env(proxy.endpoint), cwd=work)
            stop.set()
            node_cpu, proxy_cpu = _proc_cpu(node_pid) - node_cpu0, _self_cpu() - self_cpu0
            calls, throttled, partials = proxy.calls, proxy.throttled, proxy.partials
            forwarded = proxy.forwarded_items
            report = json.loads(report_path.read_text()) if report_path.exists() else {}
            if measured.rc != 0:
                print(f"ddb-restore exited {measured.rc}:\n{measured.output[-3000:]}", file=sys.stderr)
            print(f"restore: exit {measured.rc} in {measured.wall:,.1f} s; checking the table ...", flush=True)
            checked_at = time.perf_counter()
            check = verify(dynalite.endpoint, args.items, args.segments)
            check_s = time.perf_counter() - checked_at

    rate = args.items / measured.wall
    print()
    print(
        table(
            ["figure", "value"],
            [
                ("items generated", args.items),
                ("ddb-restore exit", measured.rc),
                ("wall s (process start to exit)", measured.wall),
                ("items/s (wall)", rate),
                ("CPU s: ddb-restore", measured.cpu),
                ("CPU s: dynalite (node)", node_cpu),
                ("CPU s: fault proxy + this script", proxy_cpu),
                ("peak RSS MB: ddb-restore", measured.peak_rss_kb / 1024),
                ("BatchWriteItem calls at the proxy", calls),
                ("  throttled by the proxy", throttled),
                ("  half handed back (partial)", partials),
                ("writes forwarded to dynalite", forwarded),
                ("items present (scan)", check["present"]),
                ("items lost", check["lost"]),
                ("items changed", check["changed"]),
                ("unexpected keys", check["unexpected"]),
                ("key checksum", "equal" if check["keys_match"] else "DIFFERENT"),
                ("check: scan s, pages", f"{check_s:.1f} s, {check['pages']:,} pages, {args.segments} segments"),
            ],
        )
    )
    print()
    fields = [
        "status",
        "files",
        "files_done",
        "files_failed",
        "items_expected",
        "items_put",
        "items_rejected",
        "throttle_retries",
        "unprocessed_retries",
        "server_error_retries",
        "write_units",
        "batches",
        "duration_s",
    ]
    print(table(["report field", "value"], [(f, report.get(f, "-")) for f in fields]))
    ok = (
        measured.rc == 0
        and report.get("status") == "succeeded"
        and check["lost"] == 0
        and check["changed"] == 0
        and check["unexpected"] == 0
        and check["keys_match"]
    )
    print(
        f"\nSUMMARY load: {args.items:,} items in {args.files} files, {args.workers} workers, into dynalite through "
        f"{args.throttle:.0%} throttled / {args.partial:.0%} partial calls: {measured.wall:,.0f} s, "
        f"{rate:,.0f} items/s; "
        f"throttles {report.get('throttle_retries', -1):,} (proxy {throttled:,}), unprocessed retries "
        f"{report.get('unprocessed_retries', -1):,} (proxy partial {partials:,}); items lost {check['lost']:,}, "
        f"changed {check['changed']:,}, key checksum {'equal' if check['keys_match'] else 'DIFFERENT'}; "
        f"target every item present: {'MET' if ok else 'NOT MET'}"
    )


if __name__ == "__main__":
    main()
