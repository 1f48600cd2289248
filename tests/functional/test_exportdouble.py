"""The export double (tests/support/exportdouble.py) behaves as AWS documents, and its exports restore with
`ddb-restore run` to exactly the source table: a full export and the incremental exports after it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from ddb_restore.cli import main
from support.clock import FakeClock
from support.compare import diff_tables, scan_items
from support.exportdouble import ExportDouble
from support.tables import KEYS, create_table

BUCKET = "double-exports"


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        yield


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_767_000_000.0)


@pytest.fixture
def double(aws: None, clock: FakeClock) -> ExportDouble:
    return ExportDouble(boto3.client("s3"), clock=clock, min_window=60, export_seconds=20)


@pytest.fixture
def app(double: ExportDouble) -> Any:
    """The source table's own writer, PITR on."""
    client = double.attach(boto3.client("dynamodb"))
    create_table(client, "Source")
    client.update_continuous_backups(
        TableName="Source", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    return client


def table_arn(client: Any) -> str:
    return str(client.describe_table(TableName="Source")["Table"]["TableArn"])


def item(n: int, version: int) -> dict[str, Any]:
    return {"pk": {"S": f"k{n % 5}"}, "sk": {"N": str(n)}, "v": {"N": str(version)}, "b": {"B": b"\x00\xff"}}


def export(client: Any, clock: FakeClock, **params: Any) -> dict[str, Any]:
    started = client.export_table_to_point_in_time(TableArn=table_arn(client), S3Bucket=BUCKET, **params)
    arn = started["ExportDescription"]["ExportArn"]
    assert started["ExportDescription"]["ExportStatus"] == "IN_PROGRESS"
    clock.now += 20
    described = client.describe_export(ExportArn=arn)["ExportDescription"]
    assert described["ExportStatus"] == "COMPLETED"
    return described


def restore(description: dict[str, Any], *more: dict[str, Any]) -> int:
    urls = [f"s3://{BUCKET}/{d['ExportManifest'].rsplit('/', 1)[0]}/" for d in (description, *more)]
    return main(["run", *urls, "--table", "Target", "--rejects", "rejects.jsonl"])


def test_a_full_export_and_two_incrementals_restore_the_source(app: Any, clock: FakeClock) -> None:
    for n in range(30):
        app.put_item(TableName="Source", Item=item(n, 1))
    clock.now += 100
    full = export(app, clock, S3Prefix="p/q", ExportTime=clock.now - 10)
    start = full["ExportTime"].timestamp()
    for n in range(0, 30, 3):
        app.update_item(
            TableName="Source",
            Key={"pk": {"S": f"k{n % 5}"}, "sk": {"N": str(n)}},
            UpdateExpression="SET v = :v",
            ExpressionAttributeValues={":v": {"N": "2"}},
        )
    app.delete_item(TableName="Source", Key={"pk": {"S": "k1"}, "sk": {"N": "1"}})
    with_window = {"ExportViewType": "NEW_AND_OLD_IMAGES"}
    clock.now += 100
    first = export(
        app,
        clock,
        S3Prefix="p/q",
        ExportType="INCREMENTAL_EXPORT",
        IncrementalExportSpecification={"ExportFromTime": start, "ExportToTime": clock.now, **with_window},
    )
    app.put_item(TableName="Source", Item=item(1, 3))  # a re-insert of the deleted key
    app.batch_write_item(RequestItems={"Source": [{"DeleteRequest": {"Key": {"pk": {"S": "k2"}, "sk": {"N": "2"}}}}]})
    clock.now += 100
    second = export(
        app,
        clock,
        S3Prefix="p/q",
        ExportType="INCREMENTAL_EXPORT",
        IncrementalExportSpecification={
            "ExportFromTime": first["IncrementalExportSpecification"]["ExportToTime"],
            "ExportToTime": clock.now,
            **with_window,
        },
    )
    assert (first["ItemCount"], second["ItemCount"]) == (11, 2)
    create_table(boto3.client("dynamodb"), "Target")
    assert restore(full, first, second) == 0
    assert diff_tables(scan_items(app, "Source"), scan_items(app, "Target"), KEYS) == []


def test_an_incremental_export_is_in_the_shared_data_folder_with_aws_fields(app: Any, clock: FakeClock) -> None:
    app.put_item(TableName="Source", Item=item(1, 1))
    clock.now += 100
    start = clock.now - 90
    described = export(
        app,
        clock,
        ExportType="INCREMENTAL_EXPORT",
        IncrementalExportSpecification={"ExportFromTime": start - 10, "ExportToTime": clock.now},
    )
    s3 = boto3.client("s3")
    summary_key = described["ExportManifest"]
    summary = json.loads(s3.get_object(Bucket=BUCKET, Key=summary_key)["Body"].read())
    assert summary["exportType"] == "INCREMENTAL_EXPORT" and summary["version"] == "2023-08-01"
    assert summary["s3Prefix"] is None and "exportTime" not in summary
    files = s3.get_object(Bucket=BUCKET, Key=summary["manifestFilesS3Key"])["Body"].read().decode().splitlines()
    assert all(json.loads(line)["dataFileS3Key"].startswith("AWSDynamoDB/data/") for line in files)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert f"{summary_key.rsplit('/', 1)[0]}/manifest-files.checksum" in keys


def test_the_same_client_token_returns_the_same_export(app: Any, clock: FakeClock) -> None:
    params = {"TableArn": table_arn(app), "S3Bucket": BUCKET, "ClientToken": "t-1", "ExportTime": clock.now}
    one = app.export_table_to_point_in_time(**params)["ExportDescription"]["ExportArn"]
    assert app.export_table_to_point_in_time(**params)["ExportDescription"]["ExportArn"] == one
    with pytest.raises(ClientError, match="ImportConflictException"):
        app.export_table_to_point_in_time(**{**params, "S3Prefix": "other"})


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"ExportTime": 1.0}, "InvalidExportTimeException"),
        (
            {"ExportType": "INCREMENTAL_EXPORT", "IncrementalExportSpecification": {"ExportFromTime": 1.0}},
            "InvalidExportTimeException",
        ),
        ({"ExportType": "INCREMENTAL_EXPORT", "IncrementalExportSpecification": {}}, "ValidationException"),
    ],
)
def test_exports_outside_the_window_are_refused(app: Any, clock: FakeClock, params: dict, code: str) -> None:
    clock.now += 30
    spec = params.get("IncrementalExportSpecification")
    if spec is not None and not spec:
        spec.update(ExportFromTime=clock.now - 30, ExportToTime=clock.now)  # 30 s: under the double's 60
    with pytest.raises(ClientError, match=code):
        app.export_table_to_point_in_time(TableArn=table_arn(app), S3Bucket=BUCKET, **params)


def test_without_pitr_an_export_is_refused(double: ExportDouble) -> None:
    client = double.attach(boto3.client("dynamodb"))
    create_table(client, "NoPitr")
    pitr = client.describe_continuous_backups(TableName="NoPitr")["ContinuousBackupsDescription"]
    assert pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "DISABLED"
    arn = client.describe_table(TableName="NoPitr")["Table"]["TableArn"]
    with pytest.raises(client.exceptions.PointInTimeRecoveryUnavailableException):
        client.export_table_to_point_in_time(TableArn=arn, S3Bucket=BUCKET)


def test_an_injected_failure_ends_the_export_failed(app: Any, double: ExportDouble, clock: FakeClock) -> None:
    double.fail_next("S3_ERROR", "no access to the bucket")
    arn = app.export_table_to_point_in_time(TableArn=table_arn(app), S3Bucket=BUCKET)["ExportDescription"]["ExportArn"]
    assert app.describe_export(ExportArn=arn)["ExportDescription"]["ExportStatus"] == "IN_PROGRESS"
    clock.now += 20
    described = app.describe_export(ExportArn=arn)["ExportDescription"]
    assert (described["ExportStatus"], described["FailureCode"]) == ("FAILED", "S3_ERROR")
