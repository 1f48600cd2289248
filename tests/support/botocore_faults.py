"""Faults injected into one boto3 client's BatchWriteItem (or BatchGetItem) calls, by a botocore `before-call` hook.

The hook answers instead of the service, so the call never reaches moto or a server: a throttling error, a
500 InternalServerError, or a 200 that hands back every request as `UnprocessedItems` (nothing written;
`UnprocessedKeys` for a BatchGetItem: nothing read). It is `before-call`, not `before-send`: every
`before-send` handler runs, moto's included, so a fault there would still write.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.parsers import create_parser

THROTTLE = "throttle"
SERVER_ERROR = "server_error"
UNPROCESSED = "unprocessed"
PASS = "pass"


_UNPROCESSED = {"BatchWriteItem": "UnprocessedItems", "BatchGetItem": "UnprocessedKeys"}


class BatchWriteFaults:
    """Apply `plan[i]` to the i-th `operation` call of `client`; `after` to every call past the plan."""

    def __init__(self, client: Any, plan: Iterable[str], after: str = PASS, operation: str = "BatchWriteItem") -> None:
        self.unprocessed = _UNPROCESSED[operation]
        self.plan = list(plan)
        self.after = after
        self.calls = 0
        self.injected = {THROTTLE: 0, SERVER_ERROR: 0, UNPROCESSED: 0}
        client.meta.events.register(f"before-call.dynamodb.{operation}", self._hook)

    def _hook(self, params: dict[str, Any], model: Any, **_: Any) -> Any:
        fault = self.plan[self.calls] if self.calls < len(self.plan) else self.after
        self.calls += 1
        if fault == PASS:
            return None
        self.injected[fault] += 1
        if fault in (THROTTLE, SERVER_ERROR):
            status, error = (
                (400, {"Code": "ProvisionedThroughputExceededException", "Message": "injected throttle"})
                if fault == THROTTLE
                else (500, {"Code": "InternalServerError", "Message": "injected server error"})
            )
            return AWSResponse("https://dynamodb", status, {}, None), {
                "Error": error,
                "ResponseMetadata": {"HTTPStatusCode": status},
            }
        # Every request sent comes back unprocessed, parsed by botocore's own parser as a real answer would be.
        requests = json.loads(params["body"])["RequestItems"]
        body = json.dumps({self.unprocessed: requests}).encode()
        parsed = create_parser("json").parse({"body": body, "headers": {}, "status_code": 200}, model.output_shape)
        return AWSResponse("https://dynamodb", 200, {}, None), parsed
