"""The run's transform in AWS: the built-ins from the execution input, the user's file from S3.

The file is named by its key in the export bucket (`transformKey`): every function of the stack may already
read there (under ExportPrefix), so IAM grants nothing new. The plan step reads it, checks it on the sample and
records its ETag in the run; the writers read that very version (IfMatch), once per Lambda container.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from ..errors import InputError
from ..transform import Pipeline, UserFunctions, load_user_functions, parse_spec, record_key_names
from .state import Run

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["read_transform_file", "run_key_names", "run_pipeline"]


def read_transform_file(s3: S3Client, bucket: str, key: str, etag: str | None = None) -> tuple[UserFunctions, str]:
    """The file's functions and its ETag (that version, when `etag` is given); InputError when it cannot be read
    or loaded."""
    try:
        response = (
            s3.get_object(Bucket=bucket, Key=key, IfMatch=etag) if etag else s3.get_object(Bucket=bucket, Key=key)
        )
        source = response["Body"].read().decode("utf-8")
    except (ClientError, BotoCoreError, UnicodeDecodeError) as err:
        raise InputError(
            f"transformKey {key!r} cannot be read from s3://{bucket} (it must lie under the stack's ExportPrefix): "
            f"{err}"
        ) from None
    return load_user_functions(source, f"s3://{bucket}/{key}"), response["ETag"]


@lru_cache(maxsize=4)
def _checked_version(s3: S3Client, bucket: str, key: str, etag: str | None) -> UserFunctions:
    """The version the plan checked, read once per Lambda container."""
    return read_transform_file(s3, bucket, key, etag)[0]


def run_key_names(run: Run) -> tuple[str, ...] | None:
    """The key names the run's records are parsed with (None: the export's own keys), as transform/ decides."""
    transform = run.get("transform")
    key_names = tuple(run["keyNames"])
    if not transform:
        return key_names
    return record_key_names(parse_spec(transform["builtins"]), bool(transform["fileKey"]), key_names)


def run_pipeline(run: Run, s3: S3Client) -> Pipeline | None:
    """The writer's pipeline, as the plan checked it (the checks are not made again)."""
    transform = run.get("transform")
    if not transform:
        return None
    user = None
    if transform["fileKey"]:
        user = _checked_version(s3, run["exportBucket"], transform["fileKey"], transform["fileETag"])
    return Pipeline(parse_spec(transform["builtins"]), user, tuple(run["keyNames"]), transform["keyTypes"])
