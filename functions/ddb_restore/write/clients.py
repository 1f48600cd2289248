"""boto3 clients built one way for the whole tool.

Endpoints, credentials, profile and region come from boto3's own configuration (AWS_ENDPOINT_URL_S3,
AWS_ENDPOINT_URL_DYNAMODB, AWS_PROFILE, AWS_REGION, ~/.aws/config), so the tool runs against AWS or any
local emulator with no flags of its own. DynamoDB's client retries nothing itself: writer.py owns the
BatchWriteItem retries (see retry.py for why); S3 keeps botocore's standard retries.

A DynamoDB client with no session given is made from a plain botocore session: boto3 adds nothing to it but
its user agent, and importing boto3 (s3transfer, multiprocessing...) is start-up time every `ddb-restore run`
would pay. boto3 is imported where it adds something: the S3 client's `upload_file` (steps.py) and the
sessions the Lambda handlers and `ddb-restore start` pass in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import botocore.session
from botocore.config import Config
from botocore.credentials import CredentialProvider, CredentialResolver, RefreshableCredentials

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

__all__ = ["dynamodb_client", "role_session", "s3_client"]


def dynamodb_client(
    session: boto3.session.Session | None = None, pool: int = 10, endpoint_url: str | None = None
) -> DynamoDBClient:
    """`endpoint_url` is for tests and the demo; users set AWS_ENDPOINT_URL_DYNAMODB instead.

    botocore's parameter validation is off: records.py has already checked every value of every item, the
    writer's BatchWriteItem bodies are the records' own JSON (rawbody.py), and DynamoDB validates everything
    it receives.
    """
    config = Config(
        retries={"mode": "standard", "total_max_attempts": 1},
        max_pool_connections=pool,
        parameter_validation=False,
    )
    if session is None:
        made = botocore.session.Session().create_client("dynamodb", config=config, endpoint_url=endpoint_url)
        return cast("DynamoDBClient", made)
    return session.client("dynamodb", config=config, endpoint_url=endpoint_url)


def s3_client(session: boto3.session.Session | None = None, pool: int = 10) -> S3Client:
    import boto3  # here, not at the top: see the module docstring

    config = Config(retries={"mode": "standard", "total_max_attempts": 5}, max_pool_connections=pool)
    return (session or boto3.session.Session()).client("s3", config=config)


class _AssumedRole(CredentialProvider):  # type: ignore[misc]  # botocore has no type hints
    """The only credential provider of a role_session: the role's refreshable credentials."""

    METHOD = "assume-role"

    def __init__(self, credentials: RefreshableCredentials) -> None:
        super().__init__()
        self.credentials = credentials

    def load(self) -> RefreshableCredentials:
        return self.credentials


def role_session(role_arn: str, session_name: str) -> boto3.session.Session:
    """A boto3 session acting as `role_arn` (another account's table), assumed with this process's own
    credentials. The credentials refresh themselves before they expire: a writer runs up to 15 minutes, and a
    warm Lambda container lives for hours. Built from botocore's public parts: STS's AssumeRole,
    RefreshableCredentials, and the session's `credential_provider` component."""
    import boto3  # the handlers have it loaded already

    sts: Any = botocore.session.Session().create_client("sts")  # typed stubs cover DynamoDB and S3 only

    def assume() -> dict[str, Any]:
        got = sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name)["Credentials"]
        return {
            "access_key": got["AccessKeyId"],
            "secret_key": got["SecretAccessKey"],
            "token": got["SessionToken"],
            "expiry_time": got["Expiration"].isoformat(),
        }

    credentials = RefreshableCredentials.create_from_metadata(
        metadata=assume(), refresh_using=assume, method=_AssumedRole.METHOD
    )
    session = botocore.session.Session()
    session.register_component("credential_provider", CredentialResolver([_AssumedRole(credentials)]))
    return boto3.session.Session(botocore_session=session)
