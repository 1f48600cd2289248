"""Verify's cost: read units and seconds per million items, from a measured run against dynalite.

ITEMS items of ~1 KB (bench/_common.py's make_item: every DynamoDB type) are written as a full export of FILES
data files and restored into dynalite (a real DynamoDB-protocol server) with `ddb-restore run`; then
`ddb-restore verify EXPORT --table T --workers W --exact --report R` runs as a measured subprocess. Figures: the
report's read units (what dynalite reported as consumed: BatchGetItem 0.5 per item of up to 4 KB, eventually
consistent, plus the Scan COUNT's 0.5 per 4 KB of table), wall and CPU seconds, each scaled to a million items
linearly: every item is read back once and scanned once, in batches of 100 keys, so nothing grows faster
than the item count. With `--max-rcu N` the time is read units / N instead (the budget, tested in
tests/functional/test_verify_budget.py); in AWS each partition serves up to 3,000 RCU a second.

Then the memory of the series' final state (verify/expected.py): an incremental export of CHANGED small records
(one per key) goes through `final_state` under tracemalloc: bytes per changed key while the pass runs (its
peak) and as the sorted arrays a read-back Lambda loads.

    .venv/bin/python bench/verify.py [--items 50000] [--files 8] [--workers 4] [--changed 200000]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # support.*: exports, dynalite

from _common import DDB_RESTORE, aws_env, dynamodb_client, full_lines, make_item, run_measured, table  # noqa: E402

from ddb_restore.export.manifest import load_export  # noqa: E402
from ddb_restore.export.records import make_parser  # noqa: E402
from ddb_restore.export.storage import LocalFolder  # noqa: E402
from ddb_restore.verify.expected import final_state  # noqa: E402
from support.dynalite import Dynalite  # noqa: E402
from support.sample import create_sample_table, incremental_records, write_export  # noqa: E402

TABLE = "VerifyBench"
MILLION = 1_000_000


def final_state_memory(work: Path, changed: int) -> tuple[float, float]:
    """(peak bytes per changed key during `final_state`, bytes per key of the result)."""
    keys = [{"pk": {"S": f"k#{i % 4093:04d}"}, "sk": {"N": str(i)}} for i in range(changed)]
    lines = incremental_records([(k, None, {**k, "v": {"S": "x"}}) for k in keys], ("pk", "sk"), first_micros=1)
    window = {"exportFromTime": "2024-05-01T10:00:00.000Z", "exportToTime": "2024-05-01T10:15:00.000Z"}
    folder = write_export(work / "incr", lines, export_id="01700000000900-incr0001", incremental=window)
    del keys, lines
    export = load_export(LocalFolder(folder))
    tracemalloc.start()
    state = final_state([export], [make_parser(export.output_format, True, ("pk", "sk"))])
    held, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(state) == changed
    return peak / changed, held / changed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=50_000, help="items in the export (50,000)")
    parser.add_argument("--files", type=int, default=8, help="data files (8)")
    parser.add_argument("--workers", type=int, default=4, help="verify --workers (4)")
    parser.add_argument("--changed", type=int, default=200_000, help="changed keys for the memory figure (200,000)")
    args = parser.parse_args()
    rng = random.Random(7)
    with tempfile.TemporaryDirectory(prefix="bench-verify-") as tmp, Dynalite() as dynalite:
        work = Path(tmp)
        folder = write_export(work / "src", full_lines(make_item(i, rng) for i in range(args.items)), files=args.files)
        env = aws_env(dynalite.endpoint)
        client = dynamodb_client(dynalite.endpoint)
        create_sample_table(client, TABLE)
        restored = run_measured([DDB_RESTORE, "run", str(folder), "--table", TABLE, "--workers", "4"], env, cwd=work)
        if restored.rc != 0:
            print(restored.output[-2000:], file=sys.stderr)
            return 1
        report_path = work / "verify.json"
        cmd = [DDB_RESTORE, "verify", str(folder), "--table", TABLE, "--workers", str(args.workers), "--exact"]
        measured = run_measured([*cmd, "--report", str(report_path)], env, cwd=work)
        print("$ ddb-restore verify EXPORT --table T --workers", args.workers, "--exact")
        print(measured.output.strip().splitlines()[-1])
        if measured.rc != 0:
            print(measured.output[-2000:], file=sys.stderr)
            return 1
        report = json.loads(report_path.read_text())
        peak, held = final_state_memory(work, args.changed)
    scale = MILLION / args.items
    rows = [
        ["items", f"{args.items:,}", f"{MILLION:,}"],
        ["read units", f"{report['read_units']:,.0f}", f"{report['read_units'] * scale:,.0f}"],
        ["read units a item", f"{report['read_units'] / args.items:.3f}", ""],
        ["wall seconds", f"{measured.wall:.1f}", f"{measured.wall * scale:,.0f}"],
        ["CPU seconds (verify)", f"{measured.cpu:.1f}", f"{measured.cpu * scale:,.0f}"],
        ["peak RSS MB", f"{measured.peak_rss_kb / 1024:.0f}", ""],
    ]
    print(table(["", "measured", "per million (linear)"], rows))
    print(f"final state of {args.changed:,} changed keys: {peak:.0f} B a key at the pass's peak, {held:.0f} B held")
    print(
        f"SUMMARY verify: {report['status']}, {report['items_checked']:,} items, "
        f"{report['read_units'] * scale:,.0f} read units and {measured.wall * scale:,.0f} s per million items "
        f"(dynalite, {args.workers} workers, no --max-rcu)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
