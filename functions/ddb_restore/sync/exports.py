"""The source side of a sync: point-in-time recovery checked, the export asked for, waited on.

Calls (with the source role's credentials when the table is in another account): `DescribeContinuousBackups`,
`ExportTableToPointInTime` and `DescribeExport`. A request is built once and kept in the state (`pending`) with its
`ClientToken`, made of the target, the source and the window: a sync that resumes sends the very same request,
and DynamoDB answers with the export already made instead of starting another (the token holds for 8 hours).
Times go out in whole milliseconds, the precision DynamoDB keeps them at, so the watermark read back from an
export is the time asked for.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from ..clock import Clock
from ..errors import SyncRefused

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["ExportTarget", "millis", "check_pitr", "full_request", "incremental_request", "start_export", "wait_export"]


@dataclass(frozen=True)
class ExportTarget:
    """Where and how the source's exports are written."""

    bucket: str
    prefix: str  # "" or ending in "/"; exports go to <prefix>AWSDynamoDB/
    export_format: str = "DYNAMODB_JSON"
    bucket_owner: str | None = None  # the bucket's account, when it is not the source's


def check_pitr(client: DynamoDBClient, source: str) -> None:
    """SyncRefused, saying how to turn it on, unless point-in-time recovery is on for `source`."""
    try:
        described = client.describe_continuous_backups(TableName=source)["ContinuousBackupsDescription"]
    except ClientError as err:
        raise SyncRefused(f"{source}: cannot read its point-in-time recovery status: {err}") from None
    status = described.get("PointInTimeRecoveryDescription", {}).get("PointInTimeRecoveryStatus")
    if status != "ENABLED":
        raise SyncRefused(
            f"{source}: point-in-time recovery is {status or 'off'}, and exports need it: turn it on with "
            f"aws dynamodb update-continuous-backups --table-name {source.rsplit('/', 1)[-1]} "
            "--point-in-time-recovery-specification PointInTimeRecoveryEnabled=true"
        )


def millis(seconds: float) -> float:
    """A time in whole milliseconds, rounded down."""
    return math.floor(seconds * 1000) / 1000


def _base(source: str, to: ExportTarget) -> dict[str, Any]:
    request: dict[str, Any] = {"TableArn": source, "S3Bucket": to.bucket, "ExportFormat": to.export_format}
    if to.prefix.strip("/"):
        request["S3Prefix"] = to.prefix.strip("/")
    if to.bucket_owner:
        request["S3BucketOwner"] = to.bucket_owner
    return request


def _with_token(request: dict[str, Any], table: str) -> dict[str, Any]:
    """The request with a ClientToken naming the target and everything asked for."""
    text = "|".join([table, *(f"{k}={request[k]}" for k in sorted(request))])
    return {**request, "ClientToken": "ddb-restore-" + hashlib.sha256(text.encode()).hexdigest()[:40]}


def full_request(source: str, table: str, to: ExportTarget, now: float) -> dict[str, Any]:
    return _with_token({**_base(source, to), "ExportType": "FULL_EXPORT", "ExportTime": millis(now)}, table)


def incremental_request(source: str, table: str, to: ExportTarget, start: float, now: float) -> dict[str, Any]:
    window = {"ExportFromTime": start, "ExportToTime": millis(now), "ExportViewType": "NEW_AND_OLD_IMAGES"}
    request = {**_base(source, to), "ExportType": "INCREMENTAL_EXPORT", "IncrementalExportSpecification": window}
    return _with_token(request, table)


def start_export(client: DynamoDBClient, request: dict[str, Any]) -> dict[str, Any]:
    """Start the export (or find the one this request's token made); its description."""
    try:
        return dict(client.export_table_to_point_in_time(**request)["ExportDescription"])
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code", "")
        if code == "PointInTimeRecoveryUnavailableException":
            check_pitr(client, request["TableArn"])  # says how to turn it on
        raise SyncRefused(f"{request['TableArn']}: ExportTableToPointInTime refused: {code}: {err}") from None


def wait_export(
    client: DynamoDBClient,
    arn: str,
    clock: Clock,
    *,
    poll: float,
    show: Callable[[str], None],
    keep_alive: Callable[[], None],
) -> dict[str, Any]:
    """DescribeExport every `poll` seconds until the export is no longer IN_PROGRESS; its last description."""
    started = clock.monotonic()
    while True:
        described = dict(client.describe_export(ExportArn=arn)["ExportDescription"])
        status = described["ExportStatus"]
        show(f"export {arn.rsplit('/', 1)[-1]}: {status}, {clock.monotonic() - started:,.0f} s")
        if status != "IN_PROGRESS":
            return described
        keep_alive()
        clock.sleep(poll)
