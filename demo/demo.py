"""`make demo`: the whole product on an embedded local AWS, no account needed.

moto provides S3, DynamoDB, Lambda, CloudFormation and Step Functions in this process; its Step Functions
interpreter runs the real statemachine/*.asl.json, and the Lambda handlers run in-process (the adapter in
tests/support/sfn_local.py stands in for Lambda's Docker runtime). The demo uploads a full export (every
attribute type and edge case) and an incremental export after it, then restores them twice:

1. `ddb-restore run`   — the engine in this process, into table Orders-cli;
2. `ddb-restore start` — the SAM application (template.yaml) deployed locally: the parent state machine,
   a Distributed Map of child executions looping the writer Lambda chunk by chunk, into table Orders;

and compares each table, attribute by attribute, with the state the two exports describe. Each act ends with
ddb-restore's own proof: `ddb-restore verify` after `run`, and the execution started with `--verify` (the
read-back Map in the state machine, runs/<execution>/verify.json).

3. `ddb-restore migrate` (`migrate_act`) — a live table moved while it takes writes, the cut-over, verify equal.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

import boto3

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from ddb_restore.cli import main  # noqa: E402
from ddb_restore.clock import SystemClock  # noqa: E402
from support.compare import diff_tables, scan_items  # noqa: E402
from support.exportdouble import ExportDouble, to_client, to_wire  # noqa: E402
from support.sample import (  # noqa: E402
    create_sample_table,
    full_records,
    incremental_records,
    sample_items,
    upload_folder,
    write_export,
)
from support.sfn_local import deploy_template, local_aws, publish_stack  # noqa: E402

KEYS = ("pk", "sk")
TABLE_ARN = "arn:aws:dynamodb:us-east-1:111122223333:table/Orders"
BUCKET = "demo-exports"
FULL, INCREMENTAL = "01714557600000-a1b2c3d4", "01714558500000-e5f6a7b8"


def history() -> tuple[list[str], list[str], list[dict[str, Any]]]:
    """A full export, an incremental export after it, and the table state the two describe."""
    items = sample_items(300)
    changes: list[tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any] | None]] = []
    state = {(i["pk"]["S"], i["sk"]["N"]): i for i in items}
    for item in items[:40]:  # updates
        new = {**item, "name": {"S": "updated in the incremental window"}, "version": {"N": "2"}}
        changes.append((item, item, new))
        state[(item["pk"]["S"], item["sk"]["N"])] = new
    for item in items[40:60]:  # deletes
        changes.append((item, item, None))
        del state[(item["pk"]["S"], item["sk"]["N"])]
    for n in range(25):  # inserts
        new = {"pk": {"S": "new#"}, "sk": {"N": str(n)}, "note": {"S": "created in the incremental window"}}
        changes.append((new, None, new))
        state[("new#", str(n))] = new
    incremental = incremental_records(changes, KEYS, first_micros=1714557600000000)
    return full_records(items), incremental, list(state.values())


def upload_exports(full: list[str], incremental: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_export(root, full, export_id=FULL, table_arn=TABLE_ARN, files=4)
        write_export(
            root,
            incremental,
            export_id=INCREMENTAL,
            table_arn=TABLE_ARN,
            files=2,
            empty_files=0,
            checksum="checksum-b64",
            incremental={
                "exportFromTime": "2024-05-01T10:00:00.000Z",
                "exportToTime": "2024-05-01T10:15:00.000Z",
                "outputView": "NEW_AND_OLD_IMAGES",
            },
        )
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        upload_folder(s3, root, BUCKET, "")


def matches(table: str, expected: list[dict[str, Any]]) -> bool:
    problems = diff_tables(expected, scan_items(boto3.client("dynamodb"), table), KEYS)
    if problems:
        print(f"demo: table {table} does NOT match ({len(problems)} differences):", file=sys.stderr)
        for problem in problems[:10]:
            print(f"  {problem}", file=sys.stderr)
        return False
    print(f"demo: table {table} matches the exports: {len(expected)} items, every attribute equal\n", flush=True)
    return True


def say(text: str) -> None:
    print(f"demo: {text}", flush=True)


def run_demo() -> int:
    import logging
    import os
    import warnings

    # moto's notes about what it does not emulate are for developers, not for someone watching the demo.
    logging.getLogger("moto").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="moto")

    os.environ.update(AWS_ACCESS_KEY_ID="demo", AWS_SECRET_ACCESS_KEY="demo", AWS_DEFAULT_REGION="us-east-1")
    for name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL") or n == "AWS_PROFILE"]:
        del os.environ[name]
    full, incremental, expected = history()
    exports = [f"s3://{BUCKET}/exports/AWSDynamoDB/{FULL}/", f"s3://{BUCKET}/exports/AWSDynamoDB/{INCREMENTAL}/"]
    with local_aws():
        upload_exports(full, incremental)
        say(f"local AWS in this process (moto); s3://{BUCKET} holds a full export of {len(full)} records")
        say(f"and an incremental export of {len(incremental)} records after it (updates, deletes, inserts)\n")

        create_sample_table(boto3.client("dynamodb"), "Orders-cli")
        command = ["run", *exports, "--table", "Orders-cli", "--max-wcu", "2000", "--workers", "4"]
        say("1. the engine in this process: $ ddb-restore " + " ".join(command))
        if main(command) != 0 or not matches("Orders-cli", expected):
            return 1
        command = ["verify", *exports, "--table", "Orders-cli", "--exact"]
        say("$ ddb-restore " + " ".join(command))
        if main(command) != 0:
            return 1
        print(flush=True)

        create_sample_table(boto3.client("dynamodb"), "Orders")
        say("2. the SAM application: template.yaml deployed locally as stack ddb-restore-demo (Lambda handlers")
        say("   in-process, statemachine/*.asl.json run by moto's Step Functions interpreter; chunks of 100 records)")
        deployed = deploy_template(
            REPO / "template.yaml",
            # The functions' own logs and metrics (JSON, EMF) would drown the demo's output: warnings only.
            {"ExportBucketName": BUCKET, "TargetTable": "Orders", "LogLevel": "WARNING"},
            {
                "WriteChunkFunction": {
                    "Environment": {"Variables": {"CHUNK_MAX_RECORDS": "100", "POWERTOOLS_METRICS_DISABLED": "true"}}
                }
            },
            stack_name="ddb-restore-demo",
        )
        publish_stack(deployed, "ddb-restore-demo")
        command = ["start", *exports, "--stack-name", "ddb-restore-demo", "--max-wcu", "2000", "--verify"]
        command += ["--poll-seconds", "0.5"]
        say("$ ddb-restore " + " ".join(command))
        if main(command) != 0 or not matches("Orders", expected):
            return 1
        if not migrate_act():
            return 1
    return 0


def migrate_act() -> bool:
    """3. `ddb-restore migrate`: a live source table moved to another while it takes writes, then the cut-over.

    The source's point-in-time recovery and exports are tests/support/exportdouble.py's (moto has neither), with
    windows of 2 s instead of AWS's 15 minutes and exports that take 1 s instead of minutes."""
    import threading

    from ddb_restore.cli import Wiring
    from ddb_restore.write.clients import dynamodb_client

    double = ExportDouble(boto3.client("s3"), clock=SystemClock(), min_window=2, export_seconds=1)
    app = double.attach(boto3.client("dynamodb"))
    create_sample_table(app, "Orders-live")
    create_sample_table(app, "Orders-moved")
    app.update_continuous_backups(
        TableName="Orders-live", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    for item in sample_items(120, large=False):
        app.put_item(TableName="Orders-live", Item=to_client(item))
    source = app.describe_table(TableName="Orders-live")["Table"]["TableArn"]
    stop = threading.Event()

    def live_writes() -> None:  # the application: updates, deletes, inserts and re-inserts, ~50 a second
        n = 0
        while not stop.wait(0.02):
            key = {"pk": {"S": f"user#{n % 37:03d}"}, "sk": {"N": str(n % 120)}}
            if n % 4 == 3:
                app.delete_item(TableName="Orders-live", Key=key)
            else:
                app.put_item(TableName="Orders-live", Item={**key, "note": {"S": f"live write {n}"}})
            n += 1

    say(f"3. a live move: table Orders-live ({source}) takes writes while it is moved to Orders-moved;")
    say("   its exports come from a local double of DynamoDB's PITR and Export to S3 (2 s windows here, 15 min in AWS)")
    wiring = Wiring(dynamodb=lambda *a, **k: double.attach(dynamodb_client(*a, **k)))
    command = ["migrate", source, "--table", "Orders-moved", "--bucket", BUCKET, "--prefix", "migrate/"]
    command += ["--lag", "3", "--min-window", "2", "--poll-seconds", "0.5"]
    writer = threading.Thread(target=live_writes, daemon=True)
    writer.start()
    say("$ ddb-restore " + " ".join(command))
    caught_up = main(command, wiring) == 0
    stop.set()
    writer.join()
    if not caught_up:
        return False
    say("cut-over: the application stopped writing to Orders-live")
    say("$ ddb-restore " + " ".join([*command, "--finish"]))
    if main([*command, "--finish"], wiring) != 0:
        return False
    return matches("Orders-moved", [to_wire(i) for i in scan_items(app, "Orders-live")])


if __name__ == "__main__":
    sys.exit(run_demo())
