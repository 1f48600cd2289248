"""The SAM application end to end: the real statemachine/*.asl.json (the template's substitutions applied)
run by moto's Step Functions interpreter, the real Lambda handlers run in-process, against moto's S3 and
DynamoDB. Each restore is checked in the table, attribute by attribute, and in the run's report.
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
from support.botocore_faults import THROTTLE, UNPROCESSED, BatchWriteFaults
from support.compare import diff_tables, scan_items
from support.exports import data_files
from support.masking import masked_words
from support.sample import full_records, sample_items, upload_folder, write_export
from support.sfn_local import LocalAws, deploy_template, local_aws, new_containers, publish_stack, wait_for_execution
from support.tables import KEYS, create_table

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
BUCKET = "source-exports"
EXPORT_ID = "01700000000000-abcdef12"
MANIFEST = f"exports/AWSDynamoDB/{EXPORT_ID}/manifest-summary.json"


@pytest.fixture
def aws() -> Iterator[LocalAws]:
    with local_aws() as local:
        new_containers()
        yield local


def deploy(**chunk_env: str) -> Any:
    overrides = {"WriteChunkFunction": {"Environment": {"Variables": chunk_env}}} if chunk_env else None
    return deploy_template(TEMPLATE, {"ExportBucketName": BUCKET, "TargetTable": "Orders"}, overrides)


def upload(tmp_path: Path, items: list[dict[str, Any]], **kw: Any) -> Path:
    folder = write_export(tmp_path / "src", full_records(items), export_id=EXPORT_ID, **kw)
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    upload_folder(s3, tmp_path / "src", BUCKET, "")
    return folder


def restore(deployed: Any, name: str, **extra: Any) -> dict[str, Any]:
    sfn = boto3.client("stepfunctions")
    started = sfn.start_execution(
        stateMachineArn=deployed.state_machine_arns["ParentStateMachine"],
        name=name,
        input=json.dumps({"manifestKey": MANIFEST, **extra}),
    )
    return wait_for_execution(sfn, started["executionArn"], timeout=120)


def report(deployed: Any, name: str) -> dict[str, Any]:
    body = boto3.client("s3").get_object(Bucket=deployed.buckets["RunBucket"], Key=f"runs/{name}/report.json")["Body"]
    return json.loads(body.read())


def chunk_calls(aws: LocalAws) -> list[Any]:
    return [c for c in aws.calls if "WriteChunk" in c.function_name]


def table_items() -> list[dict[str, Any]]:
    return scan_items(boto3.client("dynamodb"), "Orders")


def test_a_restore_through_the_state_machines_matches_the_source(aws: LocalAws, tmp_path: Path) -> None:
    items = sample_items(120)
    upload(tmp_path, items, files=4)
    create_table(boto3.client("dynamodb"), "Orders")
    deployed = deploy()
    execution = restore(deployed, "first")
    assert execution["status"] == "SUCCEEDED", execution
    assert diff_tables(items, table_items(), KEYS) == []
    assert execution["output"]["status"] == "succeeded"
    assert execution["output"]["report"] == f"s3://{deployed.buckets['RunBucket']}/runs/first/report.json"
    got = report(deployed, "first")
    assert (got["files"], got["files_done"], got["items_put"], got["items_rejected"]) == (4, 4, 120, 0)
    for field in ("items_deleted", "throttle_retries", "unprocessed_retries", "write_units", "duration_s"):
        assert field in got
    assert len(chunk_calls(aws)) == 4  # one chunk per file: each fits in one Lambda call


def test_a_big_file_is_written_over_several_chunks_of_the_child_loop(aws: LocalAws, tmp_path: Path) -> None:
    items = sample_items(430, large=False)
    upload(tmp_path, items, files=1, empty_files=0)
    create_table(boto3.client("dynamodb"), "Orders")
    deployed = deploy(CHUNK_MAX_RECORDS="100")
    execution = restore(deployed, "chunked")
    assert execution["status"] == "SUCCEEDED", execution
    cursors = [c.event.get("cursor") for c in chunk_calls(aws)]
    assert cursors == [0, 100, 200, 300, 400]
    assert diff_tables(items, table_items(), KEYS) == []
    assert report(deployed, "chunked")["items_put"] == 430  # no record written twice across chunks


def test_throttling_in_the_writer_lambda_loses_nothing(aws: LocalAws, tmp_path: Path) -> None:
    items = sample_items(100, large=False)
    upload(tmp_path, items, files=2, empty_files=0)
    create_table(boto3.client("dynamodb"), "Orders")
    deployed = deploy()
    faults = BatchWriteFaults(_common.dynamodb_as(None), [THROTTLE, UNPROCESSED, THROTTLE, UNPROCESSED, UNPROCESSED])
    execution = restore(deployed, "throttled")
    assert execution["status"] == "SUCCEEDED", execution
    assert diff_tables(items, table_items(), KEYS) == []
    got = report(deployed, "throttled")
    assert got["throttle_retries"] == faults.injected[THROTTLE] == 2
    assert got["unprocessed_retries"] == faults.injected[UNPROCESSED] == 3


def test_a_failed_file_fails_the_restore_and_a_second_run_finishes_without_redoing_the_rest(
    aws: LocalAws, tmp_path: Path
) -> None:
    items = sample_items(90, large=False)
    folder = upload(tmp_path, items, files=3, empty_files=0)
    broken = data_files(folder)[1]
    good_bytes = broken.read_bytes()
    s3 = boto3.client("s3")
    key = f"exports/AWSDynamoDB/{EXPORT_ID}/data/{broken.name}"
    s3.put_object(Bucket=BUCKET, Key=key, Body=good_bytes[: len(good_bytes) // 2])  # truncated in the bucket
    create_table(boto3.client("dynamodb"), "Orders")
    deployed = deploy()

    first = restore(deployed, "attempt-1")
    assert first["status"] == "FAILED"
    assert first["error"] == "RestoreFailed"
    cause = json.loads(first["cause"])["errorMessage"]
    assert broken.name in cause and "truncated" in cause and "runs/attempt-1/report.json" in cause
    failed_report = report(deployed, "attempt-1")
    assert (failed_report["files_done"], failed_report["files_failed"]) == (2, 1), failed_report

    s3.put_object(Bucket=BUCKET, Key=key, Body=good_bytes)  # the file is fixed
    calls_before = len(chunk_calls(aws))
    second = restore(deployed, "attempt-2")
    assert second["status"] == "SUCCEEDED", second
    assert diff_tables(items, table_items(), KEYS) == []
    rerun = chunk_calls(aws)[calls_before:]
    skipped = [c for c in rerun if c.result and c.result.get("alreadyDone")]
    assert len(skipped) == 2 and len(rerun) == 3, [
        (c.error or {}).get("errorMessage") for c in rerun
    ]  # finished files not redone


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"bucket": "someone-elses-bucket"}, "is not the stack's export bucket"),
        ({"table": "Other"}, "is not one this stack writes"),
        ({"maxWcu": -5}, "maxWcu must be a positive number"),
        ({"transform": {"drop": ["pk"]}}, "--drop-attribute pk: dropping the table's key attribute"),
        ({"transformKey": "exports/no-such-file.py"}, "transformKey 'exports/no-such-file.py' cannot be read"),
        ({"verify": True, "transform": {"drop": ["note"]}}, '"verify" compares the table with the exports as they are'),
        ({"reorderWindow": "5000"}, "reorderWindow must be a whole number of records (0: file order), got '5000'"),
    ],
    ids=["other-bucket", "other-table", "bad-budget", "drop-key", "no-transform-file", "verify-transformed", "window"],
)
def test_the_plan_refuses_bad_input_before_anything_is_written(
    aws: LocalAws, tmp_path: Path, extra: dict[str, Any], message: str
) -> None:
    upload(tmp_path, sample_items(20, large=False))
    create_table(boto3.client("dynamodb"), "Orders")
    execution = restore(deploy(), "refused", **extra)
    assert execution["status"] == "FAILED" and execution["error"] == "PlanRefused"
    assert message in json.loads(execution["cause"])["errorMessage"]
    assert chunk_calls(aws) == [] and table_items() == []


def test_the_plan_refuses_a_manifest_pointing_outside_the_export(aws: LocalAws, tmp_path: Path) -> None:
    folder = write_export(tmp_path / "src", full_records(sample_items(20, large=False)), export_id=EXPORT_ID)
    manifest = folder / "manifest-files.json"
    manifest.write_text(manifest.read_text().replace(f"AWSDynamoDB/{EXPORT_ID}/data/", "AWSDynamoDB/other/data/", 1))
    for checksum in folder.glob("manifest-files.*5"):
        checksum.unlink()
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    upload_folder(s3, tmp_path / "src", BUCKET, "")
    create_table(boto3.client("dynamodb"), "Orders")
    execution = restore(deploy(), "outside")
    assert execution["status"] == "FAILED" and execution["error"] == "PlanRefused"
    assert "lies outside the export folder" in json.loads(execution["cause"])["errorMessage"]
    assert chunk_calls(aws) == [] and table_items() == []


def test_ddb_restore_start_follows_the_execution_and_status_shows_it(
    aws: LocalAws, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    items = sample_items(60, large=False)
    upload(tmp_path, items, files=3)
    create_table(boto3.client("dynamodb"), "Orders")
    publish_stack(deploy(), "sam-app")
    export = f"s3://{BUCKET}/exports/AWSDynamoDB/{EXPORT_ID}/"
    code = main(["start", export, "--stack-name", "sam-app", "--max-wcu", "500", "--poll-seconds", "0.2"])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert "succeeded: 60 put, 0 deleted, 0 rejected of 60 records in 3/3 files" in out
    assert "SUCCEEDED: files 3/3 finished (0 failed, 0 running), 60 records in finished files" in err
    assert diff_tables(items, table_items(), KEYS) == []
    arn = out.split()[1]
    assert main(["status", arn]) == 0
    assert "SUCCEEDED: files 3/3 finished" in capsys.readouterr().out


def test_ddb_restore_start_exits_non_zero_with_the_cause_when_the_restore_fails(
    aws: LocalAws, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    upload(tmp_path, sample_items(20, large=False))
    create_table(boto3.client("dynamodb"), "Orders")
    publish_stack(deploy(), "sam-app")
    export = f"s3://{BUCKET}/exports/AWSDynamoDB/{EXPORT_ID}/manifest-files.json"
    code = main(["start", export, "--stack-name", "sam-app", "--table", "NotAllowed", "--poll-seconds", "0.2"])
    _, err = capsys.readouterr()
    assert code == 1
    assert "error: execution FAILED: PlanRefused: table 'NotAllowed' is not one this stack writes" in err
    assert "Traceback" not in err


def test_a_series_given_out_of_order_is_applied_in_time_order_by_the_state_machines(
    aws: LocalAws, tmp_path: Path
) -> None:
    items = sample_items(40, large=False)
    write_export(tmp_path / "src", full_records(items), export_id=EXPORT_ID)
    updated = {**items[0], "name": {"S": "changed twice, this one wins"}}
    stale = {**items[0], "name": {"S": "older change in a later file"}}

    def record(new: dict[str, Any] | None, micros: int, keys: dict[str, Any]) -> str:
        doc: dict[str, Any] = {"Metadata": {"WriteTimestampMicros": {"N": str(micros)}}, "Keys": keys}
        if new is not None:
            doc["NewImage"] = new
        return json.dumps(doc)

    keys0 = {k: items[0][k] for k in KEYS}
    keys1 = {k: items[1][k] for k in KEYS}
    lines = [record(updated, 20, keys0), record(stale, 10, keys0), record(None, 15, keys1)]
    write_export(
        tmp_path / "src",
        lines,
        export_id="01700000000900-incr0001",
        files=2,
        empty_files=0,
        incremental={"exportFromTime": "2024-05-01T10:00:00.000Z", "exportToTime": "2024-05-01T10:15:00.000Z"},
    )
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    upload_folder(s3, tmp_path / "src", BUCKET, "")
    create_table(boto3.client("dynamodb"), "Orders")
    deployed = deploy()
    incremental = "exports/AWSDynamoDB/01700000000900-incr0001/manifest-summary.json"
    execution = restore(deployed, "series", manifestKey=None, manifestKeys=[incremental, MANIFEST])
    assert execution["status"] == "SUCCEEDED", execution
    assert diff_tables([updated, *items[2:]], table_items(), KEYS) == []
    got = report(deployed, "series")
    assert (got["items_put"], got["items_deleted"], got["items_superseded"]) == (41, 1, 1)
    # The latest-record-wins pass ran as its own step, for the incremental export only, and found the one key.
    passes = [c for c in aws.calls if "Supersede" in c.function_name]
    assert [(c.event["current"]["incremental"], c.result["keys"]) for c in passes] == [(True, 1)]

    # `ddb-restore start` takes the series folder itself and finds both exports in it.
    boto3.client("dynamodb").delete_table(TableName="Orders")
    create_table(boto3.client("dynamodb"), "Orders")
    publish_stack(deployed, "sam-app")
    assert (
        main(["start", f"s3://{BUCKET}/exports/AWSDynamoDB/", "--stack-name", "sam-app", "--poll-seconds", "0.2"]) == 0
    )
    assert diff_tables([updated, *items[2:]], table_items(), KEYS) == []


FAN_OUT = """
def transform(item):
    sk = int(item["sk"]["N"])
    if sk % 10 == 9:
        return None
    return [item, {**item, "sk": {"N": str(sk + 100000)}}]


def transform_key(key):
    return key
"""


def test_transforms_in_the_input_and_a_file_in_the_export_bucket_run_in_the_writers(
    aws: LocalAws, tmp_path: Path
) -> None:
    items = sample_items(230, large=False)
    upload(tmp_path, items, files=1, empty_files=0)
    boto3.client("s3").put_object(Bucket=BUCKET, Key="exports/transforms/fan.py", Body=FAN_OUT.encode())
    create_table(boto3.client("dynamodb"), "Orders")
    deployed = deploy(CHUNK_MAX_RECORDS="100")
    builtins = {"drop": ["blob"], "mask": ["name"], "rename": {"price": "cost"}}
    execution = restore(deployed, "dev", transform=builtins, transformKey="exports/transforms/fan.py")
    assert execution["status"] == "SUCCEEDED", execution
    expected = []
    for item in items:
        if int(item["sk"]["N"]) % 10 == 9:
            continue
        copy = {k: v for k, v in item.items() if k not in ("blob", "price", "name")}
        copy.update(cost=item["price"], name={"S": masked_words(item["name"]["S"])})
        expected += [copy, {**copy, "sk": {"N": str(int(item["sk"]["N"]) + 100000)}}]
    assert diff_tables(expected, table_items(), KEYS) == []
    assert [c.event.get("cursor") for c in chunk_calls(aws)] == [0, 100, 200]  # a fan-out keeps the cursor exact
    got = report(deployed, "dev")
    assert (got["items_put"], got["items_filtered"], got["items_fanned_out"]) == (414, 23, 207)
    assert got["items_transformed"] == 207
