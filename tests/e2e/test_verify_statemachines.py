"""`"verify": true` through the state machines: the real parent ASL run by moto's Step Functions interpreter, the
verify Lambdas in-process, against moto's S3 and DynamoDB. The table is restored, tampered with through the raw
client, and verified; `verify.json` must name exactly what was touched.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from ddb_restore.aws.handlers import _common
from ddb_restore.cli import main
from support.botocore_faults import UNPROCESSED, BatchWriteFaults
from support.history import TIMES, History
from support.sample import full_records, sample_items, upload_folder, write_export
from support.sfn_local import LocalAws, deploy_template, local_aws, new_containers, publish_stack, wait_for_execution
from support.tables import KEYS, create_table

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
BUCKET = "source-exports"
FULL_ID = "01700000000000-abcdef12"
PREFIX = "exports/AWSDynamoDB/"


@pytest.fixture
def aws() -> Iterator[LocalAws]:
    with local_aws() as local:
        new_containers()
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        create_table(boto3.client("dynamodb"), "Orders")
        yield local


def stack(**verify_env: str) -> Any:
    """The template deployed in moto; `verify_env` sets the verify Lambda's environment (e.g. its chunk size)."""
    overrides = {"VerifyFunction": {"Environment": {"Variables": verify_env}}} if verify_env else None
    return deploy_template(TEMPLATE, {"ExportBucketName": BUCKET, "TargetTable": "Orders"}, overrides)


def put_exports(tmp_path: Path, *exports: tuple[str, list[str], dict[str, Any]]) -> list[str]:
    """Write (export id, records, write_export options) to the bucket; the manifest keys."""
    for export_id, lines, options in exports:
        write_export(tmp_path / "src", lines, export_id=export_id, **options)
    upload_folder(boto3.client("s3"), tmp_path / "src", BUCKET, "")
    return [f"{PREFIX}{export_id}/manifest-summary.json" for export_id, _, _ in exports]


def execute(deployed: Any, name: str, manifests: list[str], **extra: Any) -> dict[str, Any]:
    sfn = boto3.client("stepfunctions")
    arn = sfn.start_execution(
        stateMachineArn=deployed.state_machine_arns["ParentStateMachine"],
        name=name,
        input=json.dumps({"manifestKeys": manifests, **extra}),
    )["executionArn"]
    return wait_for_execution(sfn, arn, timeout=180)


def verify_json(deployed: Any, name: str) -> dict[str, Any]:
    s3 = boto3.client("s3")
    return json.loads(
        s3.get_object(Bucket=deployed.buckets["RunBucket"], Key=f"runs/{name}/verify.json")["Body"].read()
    )


def key(item: dict[str, Any]) -> dict[str, Any]:
    return {name: item[name] for name in KEYS}


def verify_calls(aws: LocalAws) -> list[Any]:
    return [c for c in aws.calls if c.function_name.endswith("VerifyFunction")]


def test_a_restore_with_verify_succeeds_and_writes_verify_json_equal(aws: LocalAws, tmp_path: Path) -> None:
    manifests = put_exports(tmp_path, (FULL_ID, full_records(sample_items(250)), {"files": 3, "empty_files": 1}))
    deployed = stack(CHUNK_MAX_RECORDS="100")
    execution = execute(deployed, "checked", manifests, verify=True)
    assert execution["status"] == "SUCCEEDED", execution
    url = f"s3://{deployed.buckets['RunBucket']}/runs/checked/verify.json"
    assert execution["output"]["verify"] == url
    assert execution["output"]["verifySummary"].startswith("verified: 250 of 250 items equal; 0 missing, 0 different")
    got = verify_json(deployed, "checked")
    assert (got["status"], got["table"], got["items_expected"], got["items_checked"]) == ("equal", "Orders", 250, 250)
    assert (got["missing"], got["different"], got["table_count"], got["extra"]) == (0, 0, 250, 0)
    assert got["missing_keys"] == got["different_items"] == [] and got["read_units"] > 0
    # A file of more than 100 records is read back over several calls of the Map's loop, carrying the cursor.
    files = sorted(
        (c.event["item"]["index"], c.event["cursor"]) for c in verify_calls(aws) if "name" in c.event["item"]
    )
    assert files == [(0, 0), (0, 100), (1, 0), (1, 100)]  # the empty file is not an item


def test_a_tampered_table_fails_verify_naming_exactly_the_keys_and_paths(aws: LocalAws, tmp_path: Path) -> None:
    items = sample_items(60, large=False)
    manifests = put_exports(tmp_path, (FULL_ID, full_records(items), {"files": 3}))
    deployed = stack()
    assert execute(deployed, "restored", manifests)["status"] == "SUCCEEDED"
    raw = boto3.client("dynamodb")
    raw.delete_item(TableName="Orders", Key=key(items[7]))
    raw.update_item(
        TableName="Orders",
        Key=key(items[8]),
        UpdateExpression="SET #m.#n.#d[0].#k = :v",
        ExpressionAttributeNames={"#m": "map", "#n": "nested", "#d": "deep", "#k": "k"},
        ExpressionAttributeValues={":v": {"S": "changed"}},
    )
    raw.update_item(
        TableName="Orders",
        Key=key(items[9]),
        UpdateExpression="SET price = :p",
        ExpressionAttributeValues={":p": {"N": "9.5"}},
    )
    raw.put_item(TableName="Orders", Item={"pk": {"S": "extra"}, "sk": {"N": "1"}})

    # The files are already applied to this table (their done markers): the second run only verifies.
    execution = execute(deployed, "tampered", manifests, verify=True)
    assert (execution["status"], execution["error"]) == ("FAILED", "VerifyFailed"), execution
    url = f"s3://{deployed.buckets['RunBucket']}/runs/tampered/verify.json"
    assert execution["cause"].startswith("different: verified: 57 of 60 items equal; 1 missing, 2 different, 1 extra")
    assert execution["cause"].endswith(f"; report {url}")
    got = verify_json(deployed, "tampered")
    assert got["status"] == "different"
    assert got["missing_keys"] == [key(items[7])]
    different = sorted(got["different_items"], key=lambda d: int(d["key"]["sk"]["N"]))
    assert different == [
        {"key": key(items[8]), "attributes": ["map.nested.deep[0].k"]},
        {"key": key(items[9]), "attributes": ["price"]},
    ]
    assert (got["items_checked"], got["table_count"], got["extra"]) == (60, 60, 1)


def _history_exports() -> tuple[list[tuple[str, list[str], dict[str, Any]]], History]:
    """A full export and two incrementals of one table's life: updates, deletes, inserts, a re-insert of a
    deleted key and keys changed twice in one window with the older record in the later file."""
    history = History()
    history.window(updates=[0, 1, 2], deletes=[3, 4], inserts=[100, 101], twice=[5])
    history.window(updates=[100, 0], deletes=[101, 6], inserts=[3], twice=[7])
    exports: list[tuple[str, list[str], dict[str, Any]]] = [
        (FULL_ID, full_records(history.snapshots[0].values()), {"files": 2}),
    ]
    for n, lines in enumerate(history.windows):
        window = {"exportFromTime": TIMES[n], "exportToTime": TIMES[n + 1]}
        exports.append(
            (f"0170000000{n + 1}000-incr000{n}", lines, {"files": 2, "empty_files": 0, "incremental": window})
        )
    return exports, history


def test_a_series_verifies_against_its_final_state(aws: LocalAws, tmp_path: Path) -> None:
    exports, history = _history_exports()
    manifests = put_exports(tmp_path, *exports)
    deployed = stack()
    execution = execute(deployed, "series", list(reversed(manifests)), verify=True)
    assert execution["status"] == "SUCCEEDED", execution
    final = history.snapshots[-1]
    got = verify_json(deployed, "series")
    assert (got["status"], got["items_expected"], got["items_checked"], got["items_equal"]) == (
        "equal",
        len(final),
        len(final),
        len(final),
    )
    deleted = {k for snapshot in history.snapshots for k in snapshot} - set(final)  # a re-inserted key is not
    assert (got["deletes_checked"], got["deleted_present"]) == (len(deleted), 0) == (3, 0)
    assert (got["table_count"], got["extra"]) == (len(final), 0)


def test_unprocessed_keys_are_read_again_and_the_table_still_verifies_equal(aws: LocalAws, tmp_path: Path) -> None:
    manifests = put_exports(tmp_path, (FULL_ID, full_records(sample_items(80, large=False)), {"files": 2}))
    deployed = stack()
    assert execute(deployed, "restored", manifests)["status"] == "SUCCEEDED"
    # The verify Lambda's own client (the one _common builds per container): its first BatchGetItem calls come
    # back with every key unprocessed, as DynamoDB answers when throttled or past 16 MB.
    faults = BatchWriteFaults(_common.dynamodb_as(None), [UNPROCESSED] * 3, operation="BatchGetItem")
    execution = execute(deployed, "reread", manifests, verify=True)
    assert execution["status"] == "SUCCEEDED", execution
    got = verify_json(deployed, "reread")
    assert (got["status"], got["items_checked"], got["items_equal"], got["missing"]) == ("equal", 80, 80, 0)
    assert got["unprocessed_retries"] == faults.injected[UNPROCESSED] == 3


def test_start_verify_prints_the_verify_line_and_status_shows_it(
    aws: LocalAws, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    items = sample_items(40, large=False)
    put_exports(tmp_path, (FULL_ID, full_records(items), {"files": 2}))
    publish_stack(stack(), "sam-app")
    export = f"s3://{BUCKET}/{PREFIX}{FULL_ID}/"
    code = main(["start", export, "--stack-name", "sam-app", "--verify", "--max-rcu", "1000", "--poll-seconds", "0.2"])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    line = "verified: 40 of 40 items equal; 0 missing, 0 different, 0 extra (in the table, not in the exports)"
    assert line in out
    assert "SUCCEEDED: files 2/2 finished" in err  # the verify Map's items are not counted as files
    boto3.client("dynamodb").delete_item(TableName="Orders", Key=key(items[5]))
    code = main(["start", export, "--stack-name", "sam-app", "--verify", "--poll-seconds", "0.2"])
    out, err = capsys.readouterr()
    assert code == 1
    assert "verified: 39 of 40 items equal; 1 missing, 0 different" in out
    assert "error: execution FAILED: VerifyFailed: different: verified: 39 of 40 items equal" in err
    assert "/verify.json" in err and "Traceback" not in err
    arn = out.split()[1]
    assert main(["status", arn]) == 1
    assert "verified: 39 of 40 items equal; 1 missing" in capsys.readouterr().out
