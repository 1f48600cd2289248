"""Throughput against a partitioned table (issue 17): does `ddb-restore run` use the table's capacity when the
export is laid out by partition, as AWS writes it?

dynalite (a real local DynamoDB server) sits behind the fault proxy with support/partitions.py's model:
PARTITIONS partitions of PARTITION_WCU write units a second each (1 KB rounding per item), the table's total
their sum; writes whose partition is out of units come back in UnprocessedItems, a call of which none fits
is throttled; the buckets start empty at each run (a full one would add a second's burst to a short run).
The same items (~0.9 KB, one write unit each) are restored by `ddb-restore run` with its default
`--workers`, into a fresh provisioned table, from three exports of FILES files:
  keyspace: each file one contiguous slice of the hashed keyspace, items in hash order, the manifest listing
            the files in keyspace order (what AWS writes);
  shuffled: the same files, the manifest in a shuffled order;
  whole:    every file spanning the whole keyspace, items in no order (no real export looks like this: the
            ceiling a writer could reach).
Figures, from the model: write units accepted ÷ (capacity × the span from the first accepted write to the last)
("÷ capacity"), the mean of the whole seconds in between ("steady"), calls throttled whole ÷ all calls, calls
handed back in part; from the run's report: throttle and UnprocessedItems retries; and a scan of the table
compared item by item with the export ("exact").

The capacities are scaled down (8 × 200 WCU = 1,600 WCU/s, where a real partition takes 1,000) so that dynalite
and the proxy, sharing this 2-core machine with the writer, are not the bottleneck: what is measured is how the
writes spread over the partitions, which does not depend on the scale.

    .venv/bin/python bench/partitions.py [--partitions 8] [--partition-wcu 200] [--files 16] [--items 1000]

Target (issue 17, item 2): keyspace layout ≥ 0.9 of the capacity, every item exact.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # support: dynalite, proxy, model

import boto3  # noqa: E402
from _common import DDB_RESTORE, aws_env, run_measured, table  # noqa: E402

from support.compare import diff_tables, scan_items  # noqa: E402
from support.dynalite import Dynalite  # noqa: E402
from support.faultproxy import FaultProxy  # noqa: E402
from support.partitions import LAYOUTS, PartitionModel, create_provisioned_table, write_partitioned_export  # noqa: E402


def bench_item(i: int) -> dict[str, Any]:
    """An item of ~0.9 KB (one write unit), its partition key unique."""
    return {"pk": {"S": f"user#{i:08d}"}, "sk": {"N": str(i % 10)}, "payload": {"S": f"{i:x}" * (880 // len(f"{i:x}"))}}


def restore(layout: str, folder: Path, work: Path, proxy: FaultProxy, model: PartitionModel, client: Any,
            items: list[dict[str, Any]]) -> dict[str, Any]:  # fmt: skip
    name = create_provisioned_table(client, f"Bench-{layout}", int(model.table_wcu))
    report_path = work / f"report-{layout}.json"
    cmd = [DDB_RESTORE, "run", str(folder), "--table", name, "--report", str(report_path)]
    cmd += ["--rejects", str(work / f"rejects-{layout}.jsonl")]
    model.reset()
    measured = run_measured(cmd, aws_env(proxy.endpoint))
    stats = model.stats()
    if measured.rc != 0:
        print(f"run {layout} exited {measured.rc}:\n{measured.output[-2000:]}", file=sys.stderr)
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    problems = diff_tables(items, scan_items(client, name), ("pk", "sk"))
    interior = stats["per_second"][1:-1]
    return {
        "rc": measured.rc,
        "wall": measured.wall,
        "stats": stats,
        "report": report,
        "steady": statistics.fmean(interior) / model.table_wcu if interior else float("nan"),
        "problems": problems,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--partitions", type=int, default=8, help="partitions of the table (default 8)")
    parser.add_argument("--partition-wcu", type=float, default=200, help="WCU/s per partition (default 200)")
    parser.add_argument("--files", type=int, default=16, help="data files of the export (default 16)")
    parser.add_argument("--items", type=int, default=1000, help="items per file (default 1,000)")
    parser.add_argument("--layouts", default=",".join(LAYOUTS), help=f"which to run (default {','.join(LAYOUTS)})")
    args = parser.parse_args()

    items = [bench_item(i) for i in range(args.files * args.items)]
    model = PartitionModel(args.partitions, args.partition_wcu, start_full=False)
    runs: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-partitions-") as tmp, Dynalite() as dynalite:
        work = Path(tmp)
        client = boto3.client(
            "dynamodb",
            endpoint_url=dynalite.endpoint,
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        )
        print(
            f"table: {args.partitions} partitions x {args.partition_wcu:,.0f} WCU/s = {model.table_wcu:,.0f} WCU/s; "
            f"export: {args.files} files x {args.items:,} items of 1 write unit; ddb-restore run, default --workers"
        )
        with FaultProxy(dynalite.endpoint) as proxy:
            proxy.admit_with(model)
            for layout in args.layouts.split(","):
                folder = write_partitioned_export(work / layout, items, files=args.files, layout=layout)
                runs[layout] = restore(layout, folder, work, proxy, model, client, items)

    rows = []
    for layout, r in runs.items():
        s, rep = r["stats"], r["report"]
        rows.append(
            (
                layout,
                r["rc"],
                r["wall"],
                f"{s['utilisation']:.3f}",
                f"{r['steady']:.3f}",
                s["calls"],
                f"{s['throttled_share']:.1%}",
                s["partial_calls"],
                rep.get("throttle_retries", "?"),
                rep.get("unprocessed_retries", "?"),
                "yes" if not r["problems"] else f"NO ({len(r['problems'])})",
            )
        )
    print()
    headers = ["layout", "exit", "wall s", "÷ capacity", "steady", "calls", "throttled", "partial"]
    print(table([*headers, "thr retries", "unproc retries", "exact"], rows))
    for layout, r in runs.items():
        print(f"units per second, {layout}: {r['stats']['per_second']}")
        print(f"units per partition, {layout}: {r['stats']['per_partition']}")
        for problem in r["problems"][:5]:
            print(f"  {layout}: {problem}")
    if "keyspace" in runs:
        k = runs["keyspace"]
        ok = k["stats"]["utilisation"] >= 0.9 and not k["problems"] and k["rc"] == 0
        print(
            f"\nSUMMARY partitions: keyspace-ordered files use {k['stats']['utilisation']:.3f} of the capacity, "
            f"{k['stats']['throttled_share']:.1%} of calls throttled, every item exact: {not k['problems']} "
            f"(target >= 0.9, exact: {'MET' if ok else 'NOT MET'})"
        )


if __name__ == "__main__":
    main()
