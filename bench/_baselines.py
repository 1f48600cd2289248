"""The two baselines of writer_cost.py, each run as its own process (interpreter start included, like ours).

    python bench/_baselines.py naive DATA_FILE.json.gz TABLE   # json.loads, TypeDeserializer, Table.batch_writer()
    python bench/_baselines.py plain DATA_FILE.json.gz TABLE   # json.loads, client.batch_write_item (25 a call)
    python bench/_baselines.py raw DATA_FILE.json.gz TABLE     # the ceiling: the lines' own bytes, signed, sent

The endpoint and credentials come from the environment (AWS_ENDPOINT_URL_DYNAMODB...). Both are what a
hand-written restore script does; neither checks the MD5, the count, the types or the key schema.
`raw` is the issue's "bare prototype": it splices each line's `{"Item": ...}` text into the request body as
it is (no JSON parsing at all), signs it with SigV4 and posts it on one keep-alive connection; no checks, no
retries, UnprocessedItems ignored. Nothing real can be faster in Python: it is the ceiling.
"""

from __future__ import annotations

import base64
import gzip
import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar


def naive(path: str, table_name: str) -> int:
    import boto3
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    table = boto3.resource("dynamodb").Table(table_name)
    count = 0
    with gzip.open(path, "rb") as lines, table.batch_writer() as batch:
        for line in lines:
            item = json.loads(line)["Item"]
            # TypeDeserializer wants B as bytes (as the client returns them): the export's base64 is decoded first
            batch.put_item(Item={name: deserializer.deserialize(_blobs(value)) for name, value in item.items()})
            count += 1
    return count


T = TypeVar("T")


def _blobs(value: dict[str, Any]) -> dict[str, Any]:
    """B and BS from base64 text to bytes (botocore base64-encodes blobs itself), in L and M too."""
    ((tag, inner),) = value.items()
    if tag == "B":
        return {"B": base64.b64decode(inner)}
    if tag == "BS":
        return {"BS": [base64.b64decode(b) for b in inner]}
    if tag == "L":
        return {"L": [_blobs(v) for v in inner]}
    if tag == "M":
        return {"M": {k: _blobs(v) for k, v in inner.items()}}
    return value


def _in_batches_of_25(path: str, request_of: Callable[[bytes], T], send: Callable[[list[T]], None]) -> int:
    """Each line of the gzip data file made a request, sent 25 at a time (what (c) and (d) share); the count."""
    count = 0
    batch: list[T] = []
    with gzip.open(path, "rb") as lines:
        for line in lines:
            batch.append(request_of(line))
            count += 1
            if len(batch) == 25:
                send(batch)
                batch = []
    if batch:
        send(batch)
    return count


def plain(path: str, table_name: str) -> int:
    import boto3

    client = boto3.client("dynamodb")

    def put(line: bytes) -> dict[str, Any]:
        item = json.loads(line)["Item"]
        return {"PutRequest": {"Item": {name: _blobs(value) for name, value in item.items()}}}

    def send(requests: list[dict[str, Any]]) -> None:
        pending = {table_name: requests}
        while pending:
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}

    return _in_batches_of_25(path, put, send)


def raw(path: str, table_name: str) -> int:
    import http.client
    import os
    from urllib.parse import urlsplit

    import botocore.session
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    session = botocore.session.get_session()
    credentials = session.get_credentials()
    region = session.get_config_variable("region") or "us-east-1"
    endpoint = os.environ["AWS_ENDPOINT_URL_DYNAMODB"]
    parts = urlsplit(endpoint)
    connection = http.client.HTTPConnection(parts.hostname, parts.port)
    head = b'{"RequestItems":{' + json.dumps(table_name).encode() + b":["

    def send(puts: list[bytes]) -> None:
        body = head + b",".join(puts) + b"]}}"
        request = AWSRequest(
            "POST",
            endpoint + "/",
            data=body,
            headers={
                "Content-Type": "application/x-amz-json-1.0",
                "X-Amz-Target": "DynamoDB_20120810.BatchWriteItem",
            },
        )
        SigV4Auth(credentials, "dynamodb", region).add_auth(request)
        connection.request("POST", "/", body=body, headers=dict(request.headers.items()))
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise SystemExit(f"HTTP {response.status}")

    def put(line: bytes) -> bytes:
        return b'{"PutRequest":' + line.rstrip(b"\n") + b"}"  # the line is {"Item": {...}}

    return _in_batches_of_25(path, put, send)


if __name__ == "__main__":
    mode, data_file, table = sys.argv[1:4]
    written = {"naive": naive, "plain": plain, "raw": raw}[mode](data_file, table)
    print(f"{mode}: {written} items")
