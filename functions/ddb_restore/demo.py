"""`ddb-restore demo`: a whole restore on an embedded local AWS, no account needed.

It starts moto's server (S3 and DynamoDB) on a free loopback port, uploads a generated full export (every
attribute type and edge case) and an incremental export after it (updates, deletes, inserts) to a bucket,
creates the existing target table, runs the real `ddb-restore run` against it in a child process with only
AWS_ENDPOINT_URL_* set — exactly as a user would against AWS — and compares the table, attribute by attribute,
with the state the two exports describe.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import boto3

from .compare import diff_tables, scan_items
from .sample import full_records, incremental_records, sample_items, upload_folder, write_export

__all__ = ["run_demo"]

KEYS = ("pk", "sk")
TABLE_ARN = "arn:aws:dynamodb:us-east-1:111122223333:table/Orders"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _history() -> tuple[list[str], list[str], list[dict[str, Any]]]:
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


def run_demo() -> int:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the embedded server's request log is noise here
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL_S3": endpoint,
        "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
        "AWS_ACCESS_KEY_ID": "demo",
        "AWS_SECRET_ACCESS_KEY": "demo",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    env.pop("AWS_PROFILE", None)
    try:
        session = boto3.session.Session(aws_access_key_id="demo", aws_secret_access_key="demo", region_name="us-east-1")
        s3 = session.client("s3", endpoint_url=endpoint)
        dynamodb = session.client("dynamodb", endpoint_url=endpoint)
        full, incremental, expected = _history()
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            write_export(root, full, export_id="01714557600000-a1b2c3d4", table_arn=TABLE_ARN, files=4)
            write_export(
                root,
                incremental,
                export_id="01714558500000-e5f6a7b8",
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
            s3.create_bucket(Bucket="demo-exports")
            upload_folder(s3, root, "demo-exports", "")
        dynamodb.create_table(
            TableName="Orders",
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "N"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        exports = [
            "s3://demo-exports/exports/AWSDynamoDB/01714557600000-a1b2c3d4/",
            "s3://demo-exports/exports/AWSDynamoDB/01714558500000-e5f6a7b8/manifest-summary.json",
        ]
        print(f"demo: local S3 and DynamoDB at {endpoint}; table Orders created empty")
        print(f"demo: {len(full)} records in a full export, {len(incremental)} in an incremental export after it")
        command = ["ddb-restore", "run", *exports, "--table", "Orders", "--max-wcu", "2000", "--workers", "4"]
        print("demo: $ " + " ".join(command), flush=True)
        status = subprocess.call([sys.executable, "-m", "ddb_restore.cli", *command[1:]], env=env)
        if status != 0:
            print(f"demo: ddb-restore run exited {status}", file=sys.stderr)
            return status
        problems = diff_tables(expected, scan_items(dynamodb, "Orders"), KEYS)
        if problems:
            print(f"demo: the table does NOT match ({len(problems)} differences):", file=sys.stderr)
            for problem in problems[:10]:
                print(f"  {problem}", file=sys.stderr)
            return 1
        print(f"demo: table Orders matches the exports: {len(expected)} items, every attribute equal")
        return 0
    finally:
        server.stop()
