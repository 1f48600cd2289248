"""Throughput of the state machines against a partitioned table (issue 17, item 3): do the plan's file order and
its choice of files at once let the Distributed Map use the table's capacity?

The real statemachine/*.asl.json run by moto's Step Functions interpreter, the real Lambda handlers in-process,
concurrently (as Lambdas run in AWS; tests/support/sfn_local.py, `serialise_lambdas=False`); S3 is moto's, and the
writers' DynamoDB is dynalite behind the fault proxy with support/partitions.py's model: PARTITIONS partitions of
PARTITION_WCU write units a second each, the table's provisioned WCU their sum, buckets empty at each run's start.
The export is laid out as AWS writes it: FILES files, each one slice of the hashed keyspace, items (~0.9 KB, one
write unit) in hash order. Side by side, in one run:
  baseline: the files in keyspace order, 20 at once (the stack's DefaultMaxConcurrency, which the Map used before the
            plan chose): the files running at once share a few partitions. (The plan now spreads every list; the
            baseline's manifest lists the files in spread order, which the plan's spreading turns back into keyspace
            order: bit reversal undoes itself.)
  keyspace: the files in keyspace order, as many at once as the plan chooses (the order alone);
  plan:     the manifest in keyspace order, as AWS writes it; the plan spreads it and chooses the files at once.
A file's writer drives about one partition: the plan's rate a file (FILE_WCU) is the model's PARTITION_WCU here, as it
is 1,000 in AWS. Figures from the model: write units accepted ÷ (capacity × the span from the first accepted write
to the last) ("÷ capacity"), the mean of the whole seconds in between ("steady"), calls throttled whole; every item
compared with the export ("exact"). Capacities are scaled down (8 × 50 WCU/s) so that dynalite, the proxy, moto and
the writers, sharing this 2-core machine, are not the bottleneck (at 8 × 100 no partition ran out of units: the
process was).

    .venv/bin/python bench/statemachine_partitions.py [--partitions 8] [--partition-wcu 50] [--files 32] [--items 250]

Target (issue 17, item 3): plan ≥ 0.8 of the capacity, every item exact.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import statistics
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import boto3  # noqa: E402
from _common import ROOT, table  # noqa: E402

from ddb_restore.aws.handlers import _common as handlers  # noqa: E402
from ddb_restore.restore.spread import spread_order  # noqa: E402
from support.compare import diff_tables, scan_items  # noqa: E402
from support.dynalite import Dynalite  # noqa: E402
from support.faultproxy import FaultProxy  # noqa: E402
from support.partitions import PartitionModel, create_provisioned_table, write_partitioned_export  # noqa: E402
from support.sample import upload_folder  # noqa: E402
from support.sfn_local import deploy_template, fast_sync_polling, local_aws, wait_for_execution  # noqa: E402

BUCKET = "bench-exports"
OLD_DEFAULT_CONCURRENCY = 20


def bench_item(i: int) -> dict[str, Any]:
    """An item of ~0.9 KB (one write unit), its partition key unique."""
    return {"pk": {"S": f"user#{i:08d}"}, "sk": {"N": str(i % 10)}, "payload": {"S": f"{i:x}" * (880 // len(f"{i:x}"))}}


def list_in_spread_order(folder: Path) -> None:
    """Rewrite the manifest so its files are listed in spread order (and its checksum with it)."""
    manifest = folder / "manifest-files.json"
    body = ("\n".join(spread_order(manifest.read_text().splitlines())) + "\n").encode()
    manifest.write_bytes(body)
    (folder / "manifest-files.md5").write_text(hashlib.md5(body).hexdigest())


def restore(
    name: str, folder: Path, root: Path, deployed: Any, model: PartitionModel, client: Any, extra: dict[str, Any]
) -> dict[str, Any]:
    """Restore one export through the parent state machine into a fresh table; the model's figures."""
    table_name = create_provisioned_table(client, f"Bench-{name}", int(model.table_wcu))
    upload_folder(boto3.client("s3"), root, BUCKET, "")
    manifest = f"{folder.relative_to(root).as_posix()}/manifest-summary.json"
    sfn = boto3.client("stepfunctions")
    model.reset()
    started = sfn.start_execution(
        stateMachineArn=deployed.state_machine_arns["ParentStateMachine"],
        name=name,
        input=json.dumps({"manifestKey": manifest, "table": table_name, **extra}),
    )
    execution = wait_for_execution(sfn, started["executionArn"], timeout=1800, poll=0.5)
    stats = model.stats()
    run = deployed.buckets["RunBucket"]
    plan = json.loads(boto3.client("s3").get_object(Bucket=run, Key=f"runs/{name}/plan.json")["Body"].read())
    interior = stats["per_second"][1:-1]
    return {
        "status": execution["status"],
        "stats": stats,
        "steady": statistics.fmean(interior) / model.table_wcu if interior else float("nan"),
        "at_once": next(line for line in plan if line.startswith("files at once:")),
        "problems": None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--partitions", type=int, default=8, help="partitions of the table (default 8)")
    parser.add_argument("--partition-wcu", type=float, default=50, help="WCU/s per partition (default 50)")
    parser.add_argument("--files", type=int, default=32, help="data files of the export (default 32)")
    parser.add_argument("--items", type=int, default=250, help="items per file (default 250)")
    args = parser.parse_args()

    logging.getLogger("moto").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="moto")
    items = [bench_item(i) for i in range(args.files * args.items)]
    model = PartitionModel(args.partitions, args.partition_wcu, start_full=False)
    runs: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-sfn-") as tmp, Dynalite() as dynalite:
        work = Path(tmp)
        with FaultProxy(dynalite.endpoint) as proxy:
            proxy.admit_with(model)
            os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
            os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = proxy.endpoint  # the writers' table; S3 and the rest: moto
            # The Map's .sync tasks poll their child every 0.1 s (the tests' 0.02 s would cost a core here).
            with local_aws(serialise_lambdas=False), fast_sync_polling(0.1):
                handlers.dynamodb_as.cache_clear()
                handlers.s3.cache_clear()
                client = boto3.client("dynamodb", endpoint_url=dynalite.endpoint)
                boto3.client("s3").create_bucket(Bucket=BUCKET)
                deployed = deploy_template(
                    ROOT / "template.yaml",
                    {"ExportBucketName": BUCKET, "TargetTable": "Bench-*", "LogLevel": "WARNING"},
                    {
                        "PlanFunction": {"Environment": {"Variables": {"FILE_WCU": str(args.partition_wcu)}}},
                        "WriteChunkFunction": {"Environment": {"Variables": {"POWERTOOLS_METRICS_DISABLED": "true"}}},
                    },
                )
                print(
                    f"table: {args.partitions} partitions x {args.partition_wcu:,.0f} WCU/s = "
                    f"{model.table_wcu:,.0f} WCU/s; export: {args.files} files x {args.items:,} items of 1 write unit, "
                    "laid out by partition; the parent state machine, moto's interpreter, Lambdas in-process",
                    flush=True,
                )
                cases = [
                    ("baseline", True, {"maxConcurrency": OLD_DEFAULT_CONCURRENCY}),
                    ("keyspace", True, {}),
                    ("plan", False, {}),
                ]
                for n, (name, reversed_listing, extra) in enumerate(cases):
                    root = work / name
                    export_id = f"0170000000000{n}-benchsf{n}"
                    folder = write_partitioned_export(root, items, files=args.files, export_id=export_id)
                    if reversed_listing:
                        list_in_spread_order(folder)
                    runs[name] = restore(name, folder, root, deployed, model, client, extra)
                    runs[name]["problems"] = diff_tables(items, scan_items(client, f"Bench-{name}"), ("pk", "sk"))
                    print(f"{name}: {runs[name]['status']}, {runs[name]['at_once']}", flush=True)

    rows = [
        (
            name,
            r["status"],
            f"{r['stats']['utilisation']:.3f}",
            f"{r['steady']:.3f}",
            f"{r['stats']['span']:.1f}",
            r["stats"]["calls"],
            f"{r['stats']['throttled_share']:.1%}",
            "yes" if not r["problems"] else f"NO ({len(r['problems'])})",
        )
        for name, r in runs.items()
    ]
    print()
    print(table(["run", "status", "÷ capacity", "steady", "span s", "calls", "throttled", "exact"], rows))
    for name, r in runs.items():
        print(f"units per partition, {name}: {r['stats']['per_partition']}")
    plan, base = runs["plan"], runs["baseline"]
    ok = plan["stats"]["utilisation"] >= 0.8 and not plan["problems"] and plan["status"] == "SUCCEEDED"
    print(
        f"\nSUMMARY statemachine_partitions: the plan's order and files at once use {plan['stats']['utilisation']:.3f} "
        f"of the capacity (baseline, keyspace order {OLD_DEFAULT_CONCURRENCY} at once: "
        f"{base['stats']['utilisation']:.3f}), every item exact: {not plan['problems']} "
        f"(target >= 0.8, exact: {'MET' if ok else 'NOT MET'})"
    )


if __name__ == "__main__":
    main()
