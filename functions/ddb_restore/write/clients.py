"""boto3 clients built one way for the whole tool.

Endpoints, credentials, profile and region come from boto3's own configuration (AWS_ENDPOINT_URL_S3,
AWS_ENDPOINT_URL_DYNAMODB, AWS_PROFILE, AWS_REGION, ~/.aws/config), so the tool runs against AWS or any
local emulator with no flags of its own. DynamoDB's client retries nothing itself: writer.py owns the
BatchWriteItem retries (see retry.py for why); S3 keeps botocore's standard retries.

boto3 is imported only where it adds something: the S3 client's `upload_file` (steps.py) and the sessions the
Lambda handlers and `ddb-restore start` pass in. A DynamoDB client with no session given is botocore's own:
boto3 adds nothing to a client but its user agent, and importing it (s3transfer, multiprocessing...) cost
~0.06–0.08 s of CPU on every `ddb-restore run`, 3–4 µs an item of a 20,000-item file (bench/writer_cost.py).
"""

from __future__ import annotations

import gzip
import os
from typing import TYPE_CHECKING, Any, cast

import botocore.session
import orjson
from botocore.config import Config
from botocore.exceptions import DataNotFoundError
from botocore.loaders import JSONFileLoader, Loader

from .transport import use_lean_http

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

__all__ = ["dynamodb_client", "s3_client"]


class _ModelFileLoader(JSONFileLoader):
    """botocore's model files read with orjson: the same data, as plain dicts instead of OrderedDicts.

    Why: botocore decodes them with the json module and an OrderedDict for every object (`object_pairs_hook`),
    a Python call per object: endpoints.json (1.2 MB) and DynamoDB's service model took ~40 ms of CPU at each
    `ddb-restore run` start, ~5 ms with orjson (bench/writer_cost.py). Plain dicts keep their order too. A
    file orjson refuses (NaN, a lone surrogate) is read by botocore's own loader. orjson would read an integer
    beyond 64 bits as a float: no model holds one (tests/test_clients.py compares every file the client reads
    with what botocore's loader makes of it)."""

    def load_file(self, file_path: str) -> Any:
        for path, opener in ((f"{file_path}.json", open), (f"{file_path}.json.gz", gzip.open)):
            if os.path.isfile(path):
                with opener(path, "rb") as f:
                    payload = f.read()
                try:
                    return orjson.loads(payload)
                except orjson.JSONDecodeError:
                    return super().load_file(file_path)
        return None


class _DynamoDBLoader(Loader):
    """botocore's Loader, but knowing of DynamoDB only, so that it need not list every service to find it.

    Why: making a client, botocore's Loader lists every folder of its data path (~420 services, ~5,000
    file-system calls, twice) only to check that the service asked for is among them: ~45 ms of CPU at each
    `ddb-restore run` start, more when the machine is busy (bench/writer_cost.py). This one looks in
    DynamoDB's own folders (botocore's `list_api_versions`) on the same search paths; the models it loads
    are the same files. Only for the DynamoDB client made here: a session passed in keeps its own loader.
    """

    def list_available_services(self, type_name: str) -> list[str]:
        try:
            self.list_api_versions("dynamodb", type_name)
        except DataNotFoundError:
            return []
        return ["dynamodb"]


def _dynamodb_session() -> botocore.session.Session:
    """A botocore session whose data loader is a _DynamoDBLoader over botocore's own search paths
    (AWS_DATA_PATH and ~/.aws/models included), reading the files with a _ModelFileLoader."""
    session = botocore.session.Session()
    paths = list(session.get_component("data_loader").search_paths)
    loader = _DynamoDBLoader(
        extra_search_paths=paths, file_loader=_ModelFileLoader(), include_default_search_paths=False
    )
    session.register_component("data_loader", loader)
    return session


def dynamodb_client(
    session: boto3.session.Session | None = None, pool: int = 10, endpoint_url: str | None = None
) -> DynamoDBClient:
    """`endpoint_url` is for tests and the demo; users set AWS_ENDPOINT_URL_DYNAMODB instead.

    botocore's parameter validation is off: records.py has already checked every value of every item
    (type tags, shapes, number syntax, base64), and re-checking them value by value cost 44% of the
    writer's CPU (bench/writer_cost.py). DynamoDB still validates everything it receives.
    Its plain requests go through http.client rather than urllib3 (transport.py: ~0.5 ms less a call).
    """
    config = Config(
        retries={"mode": "standard", "total_max_attempts": 1},
        max_pool_connections=pool,
        parameter_validation=False,
    )
    if session is None:
        made = _dynamodb_session().create_client("dynamodb", config=config, endpoint_url=endpoint_url)
        client = cast("DynamoDBClient", made)
    else:
        client = session.client("dynamodb", config=config, endpoint_url=endpoint_url)
    use_lean_http(client)
    return client


def s3_client(session: boto3.session.Session | None = None, pool: int = 10) -> S3Client:
    import boto3  # here, not at the top: see the module docstring

    config = Config(retries={"mode": "standard", "total_max_attempts": 5}, max_pool_connections=pool)
    return (session or boto3.session.Session()).client("s3", config=config)
