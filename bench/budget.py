"""Budget utilisation (issue 6, part 2): does the fleet fill the table's capacity, and keep to --max-wcu?

An export of FILES data files × ITEMS small items (one write unit each, every tenth of three) is restored by
`ddb-restore run --workers N` into bench/sink.py, three times in one run:
  0. baseline: the sink accepts everything: what the writers can do when nothing holds them back;
  1. the sink enforces CAPACITY write units per second (DynamoDB's way: a call of which nothing fits in this
     second is throttled with ProvisionedThroughputExceededException, a call of which a part fits returns the
     rest in UnprocessedItems), no --max-wcu: the writers must find the capacity by backing off;
  2. the same sink, --max-wcu = FRACTION × CAPACITY: the writers must keep to the budget, all but unthrottled.
Figures, from the sink: write units accepted per second between the first and the last accepted write,
÷ capacity (run 1) or ÷ budget (run 2); the mean of the whole seconds in between ("steady": run 1 is judged
on it, since a window filled at its start makes the span of a short run look up to a second too short);
throttled calls ÷ calls; items lost (the export's keys the sink never accepted) and duplicates; from the
run's report: its throttle and UnprocessedItems retries.

    .venv/bin/python bench/budget.py [--files 8] [--items 5000] [--workers 4] [--capacity 2000] [--fraction 0.8]

Targets (issue 6): run 1 utilisation ≥ 0.9 with every item arrived; run 2 within 5% of the budget, throttled
calls ≤ 1%; items lost 0 in every run.
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
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # support.sample: the export writer

from _common import DDB_RESTORE, TABLE, aws_env, full_lines, run_measured, small_item, table  # noqa: E402
from sink import Sink  # noqa: E402


def restore(folder: Path, work: Path, sink: Sink, workers: int, max_wcu: float | None, tag: str) -> dict[str, Any]:
    report_path = work / f"report-{tag}.json"
    cmd = [DDB_RESTORE, "run", str(folder), "--table", TABLE, "--workers", str(workers)]
    cmd += ["--report", str(report_path), "--rejects", str(work / f"rejects-{tag}.jsonl")]
    if max_wcu:
        cmd += ["--max-wcu", f"{max_wcu:g}"]
    sink.reset()
    measured = run_measured(cmd, aws_env(sink.endpoint))
    stats = sink.stats()
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    if measured.rc != 0:
        print(f"run {tag} exited {measured.rc}:\n{measured.output[-2000:]}", file=sys.stderr)
    span = (stats["last_write"] or 0) - (stats["first_write"] or 0)
    interior = stats["per_second"][1:-1]
    return {
        "rc": measured.rc,
        "wall": measured.wall,
        "cpu": measured.cpu,
        "span": span,
        "stats": stats,
        "report": report,
        "achieved": stats["write_units"] / span if span > 0 else float("nan"),
        "steady": statistics.fmean(interior) if interior else float("nan"),
        "per_second": stats["per_second"],
        "throttled_per_second": stats["throttled_per_second"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=8, help="data files (default 8)")
    parser.add_argument("--items", type=int, default=5_000, help="items per file (default 5,000)")
    parser.add_argument("--workers", type=int, default=4, help="ddb-restore --workers (default 4)")
    parser.add_argument("--capacity", type=float, default=2_000, help="the sink's WCU/s (default 2,000)")
    parser.add_argument("--fraction", type=float, default=0.8, help="--max-wcu as a fraction of capacity (0.8)")
    parser.add_argument("--no-baseline", action="store_true", help="skip run 0 (no budget)")
    args = parser.parse_args()

    from support.sample import write_export

    expected = args.files * args.items
    budget = args.fraction * args.capacity
    with tempfile.TemporaryDirectory(prefix="bench-budget-") as tmp:
        work = Path(tmp)
        lines = full_lines(small_item(i) for i in range(expected))
        folder = write_export(work / "export", lines, files=args.files, empty_files=0)
        del lines
        print(
            f"export: {args.files} files x {args.items:,} items (9 in 10 of 1 write unit, 1 in 10 of 3); "
            f"{args.workers} workers; "
            f"capacity {args.capacity:,.0f} WCU/s; --max-wcu {budget:,.0f} in run 2"
        )
        runs: dict[str, dict[str, Any]] = {}
        if not args.no_baseline:
            with Sink(track=True) as sink:
                runs["0 no budget (baseline)"] = restore(folder, work, sink, args.workers, None, "baseline")
        with Sink(budget=args.capacity, track=True) as sink:
            runs["1 capacity, no --max-wcu"] = restore(folder, work, sink, args.workers, None, "capacity")
            runs["2 capacity, --max-wcu"] = restore(folder, work, sink, args.workers, budget, "max-wcu")

    rows = []
    for name, r in runs.items():
        s, rep = r["stats"], r["report"]
        reference = budget if name.startswith("2") else args.capacity
        lost = expected - s["distinct_keys"]
        rows.append(
            (
                name,
                r["rc"],
                r["wall"],
                r["achieved"],
                f"{r['achieved'] / reference:.3f}" if not name.startswith("0") else "-",
                f"{r['steady'] / reference:.3f}" if not name.startswith("0") and r["steady"] == r["steady"] else "-",
                s["calls"],
                s["throttled_calls"],
                f"{s['throttled_calls'] / max(1, s['calls']):.1%}",
                s["partial_calls"],
                rep.get("throttle_retries", "?"),
                rep.get("unprocessed_retries", "?"),
                lost,
                s["duplicates"],
            )
        )
    print()
    print(
        table(
            [
                "run",
                "exit",
                "wall s",
                "WCU/s",
                "÷ ref",
                "steady ÷ ref",
                "calls",
                "throttled",
                "thr/calls",
                "partial",
                "thr retries",
                "unproc retries",
                "lost",
                "dup",
            ],
            rows,
        )
    )
    print("\nref = the capacity (run 1) or the --max-wcu budget (run 2); steady = mean of the whole seconds")
    if "0 no budget (baseline)" in runs:
        base = runs["0 no budget (baseline)"]["achieved"]
        print(f"baseline: the writers alone reach {base:,.0f} WCU/s = {base / args.capacity:.1f}x the capacity")
    for name, r in runs.items():
        if not name.startswith("0"):
            print(f"units per second, run {name[0]}: {r['per_second']}")
            print(f"throttled calls per second, run {name[0]}: {r['throttled_per_second']}")

    one, two = runs["1 capacity, no --max-wcu"], runs["2 capacity, --max-wcu"]
    lost_all = sum(expected - r["stats"]["distinct_keys"] for r in runs.values())
    # Run 1 is judged on whole seconds: the sink's windows are whole seconds, filled at their start when the
    # writers can do more, so units / (last write - first write) overstates a short run by up to one second.
    steady = one["steady"] if one["steady"] == one["steady"] else one["achieved"]
    util = steady / args.capacity
    off = abs(two["achieved"] / budget - 1)
    throttled = two["stats"]["throttled_calls"] / max(1, two["stats"]["calls"])
    ok1 = util >= 0.9 and expected == one["stats"]["distinct_keys"] and one["rc"] == 0
    ok2 = off <= 0.05 and throttled <= 0.01 and two["rc"] == 0
    print(
        f"\nSUMMARY budget: no --max-wcu utilisation {util:.3f} of whole seconds "
        f"({one['achieved'] / args.capacity:.3f} over the span; target >= 0.9: {'MET' if ok1 else 'NOT MET'}); "
        f"--max-wcu {budget:,.0f}: achieved {two['achieved'] / budget:.3f}x budget, throttled {throttled:.1%} "
        f"(target within 5%, <= 1%: {'MET' if ok2 else 'NOT MET'}); items lost {lost_all} "
        f"({'MET' if lost_all == 0 else 'NOT MET'})"
    )


if __name__ == "__main__":
    main()
