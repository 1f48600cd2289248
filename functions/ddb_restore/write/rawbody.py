"""BatchWriteItem sent with a body made of the records' own DynamoDB JSON, through botocore's public events.

The records already are DynamoDB's wire format, checked value by value by records.py: botocore serialising them
again would be the writer's largest cost. So the writer calls `client.batch_write_item` with a one-request
placeholder, and a `before-call` hook (botocore's documented event system, registered first so that later hooks,
such as the tests' fault injectors, see the real body) puts the records' bytes in the placeholder's place.
Everything else is botocore's, unchanged: signing, sending, retries, parsing and its error classes.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import BatchWriteItemOutputTypeDef

__all__ = ["send_batch"]

_EVENT = "before-call.dynamodb.BatchWriteItem"
_HOOK_ID = "ddb-restore-raw-batch-body"  # botocore registers a unique_id once: a client gets the hook once
# What botocore serialises in place of the real requests (the client's parameter validation is off: clients.py).
_PLACEHOLDER: Any = [{"PutRequest": {"Item": {}}}]

# The body the current thread is sending: a client may be shared by the workers' threads.
_PENDING = threading.local()


def _put_body(params: dict[str, Any], **_: Any) -> None:
    """botocore `before-call` hook: the request's serialised placeholder replaced by the body being sent."""
    body = getattr(_PENDING, "body", None)
    if body is not None:
        _PENDING.body = None
        params["body"] = body


def send_batch(client: DynamoDBClient, table: str, requests: Iterable[bytes]) -> BatchWriteItemOutputTypeDef:
    """One BatchWriteItem call on `table` with these write requests (each one's JSON, records.Record.wire);
    its parsed answer (UnprocessedItems...), or botocore's error for it, as `client.batch_write_item` gives."""
    client.meta.events.register_first(_EVENT, _put_body, unique_id=_HOOK_ID)
    _PENDING.body = b"".join((b'{"RequestItems":{', json.dumps(table).encode(), b":[", b",".join(requests), b"]}}"))
    try:
        return client.batch_write_item(RequestItems={table: _PLACEHOLDER})
    finally:
        _PENDING.body = None
