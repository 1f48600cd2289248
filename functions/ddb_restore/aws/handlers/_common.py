"""What the handlers share: Powertools objects, the clock and clients built once per Lambda container.

The Lambda side's composition root, with steps.py (which builds each chunk's retry policy and write budget
from the run's state and this clock): the steps take all of it as arguments and default nothing."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger, Metrics, Tracer

from ...clock import SystemClock
from ...write.clients import dynamodb_client, role_session, s3_client
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
    return dynamodb_as(role)


@cache
def dynamodb_as(role_arn: str | None) -> DynamoDBClient:
    """One client per role (None: this function's own credentials) for the container's life."""
    if not role_arn:
        return dynamodb_client()
    return dynamodb_client(role_session(role_arn, "ddb-restore-writer"))
