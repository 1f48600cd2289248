"""What the handlers share: Powertools objects, the clock and clients built once per Lambda container.

The Lambda side's composition root, with steps.py (which builds each chunk's retry policy and write budget
from the run's state and this clock): the steps take all of it as arguments and default nothing."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer

from ...clock import SystemClock
from ...write.clients import dynamodb_client, s3_client
from ..settings import StackSettings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

logger = Logger(service="ddb-restore")
metrics = Metrics(namespace="DdbRestore", service="ddb-restore")
tracer = Tracer(service="ddb-restore")
clock = SystemClock()


def settings() -> StackSettings:
    """Read per call: cheap, and always this function's own environment."""
    return StackSettings.from_env()


@cache
def s3() -> S3Client:
    return s3_client()


def dynamodb() -> DynamoDBClient:
    """The writer's client: through the stack's cross-account role when one is configured."""
    role = settings().writer_role_arn
    return _dynamodb(role)


@cache
def _dynamodb(role_arn: str | None) -> DynamoDBClient:
    if not role_arn:
        return dynamodb_client()
    from botocore.credentials import AssumeRoleCredentialFetcher, DeferredRefreshableCredentials

    base = boto3.session.Session()
    fetcher = AssumeRoleCredentialFetcher(
        client_creator=base._session.create_client,  # noqa: SLF001 - botocore's own refreshable assume-role
        source_credentials=base.get_credentials(),
        role_arn=role_arn,
        extra_args={"RoleSessionName": "ddb-restore-writer"},
    )
    credentials = DeferredRefreshableCredentials(method="assume-role", refresh_using=fetcher.fetch_credentials)
    session = boto3.session.Session()
    session._session._credentials = credentials  # type: ignore[attr-defined]  # botocore's refreshable-role pattern
    return dynamodb_client(session)
