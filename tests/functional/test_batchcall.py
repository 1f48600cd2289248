"""batchcall.py: a writer's later BatchWriteItem calls skip the client's preamble and still mean the same.

Each test compares the requests as botocore hands them to its transport (`before-send`, where moto answers
them): a later call must carry what a call through the client would (URL, headers, the body it was given),
signed anew, with its own invocation id, and its outcome must be what the client's would be: items stored,
the same error class, hooks honoured.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from ddb_restore.export.records import RecordParser
from ddb_restore.write import batchcall
from ddb_restore.write.batchcall import BatchWriteCall
from ddb_restore.write.clients import dynamodb_client
from support.botocore_faults import PASS, THROTTLE, UNPROCESSED, BatchWriteFaults
from support.tables import create_table

KEYS = ("pk", "sk")
PARSER = RecordParser(incremental=False, key_names=KEYS)


def _wire(i: int) -> bytes:
    """Record i's write request as the writer sends it (an item of several types, with a blob and a 38-digit number)."""
    item = {
        "pk": {"S": f"user#{i}"},
        "sk": {"N": str(i)},
        "big": {"N": "12345678901234567890123456789012345678"},
        "blob": {"B": "AP8="},
        "tags": {"SS": ["a", "é"]},
        "nested": {"M": {"l": {"L": [{"NULL": True}, {"BOOL": False}]}}},
    }
    return PARSER.parse(json.dumps({"Item": item}).encode(), i).wire


class Sent:
    """Every BatchWriteItem request the client sends, and how many times the client's preamble ran."""

    def __init__(self, client: Any) -> None:
        self.requests: list[Any] = []
        self.preambles = 0
        client.meta.events.register("before-send.dynamodb.BatchWriteItem", self._sent)
        client.meta.events.register("before-parameter-build.dynamodb.BatchWriteItem", self._preamble)

    def _sent(self, request: Any, **_: Any) -> None:
        self.requests.append(request)

    def _preamble(self, **_: Any) -> None:
        self.preambles += 1


@pytest.fixture
def table(moto: None) -> Iterator[Any]:
    create_table(boto3.client("dynamodb"))
    yield boto3.client("dynamodb")


def _stored(client: Any, n: int) -> list[dict[str, Any]]:
    keys = [{"pk": {"S": f"user#{i}"}, "sk": {"N": str(i)}} for i in range(n)]
    got = client.batch_get_item(RequestItems={"Target": {"Keys": keys, "ConsistentRead": True}})["Responses"]["Target"]
    return sorted(got, key=lambda item: int(item["sk"]["N"]))


def test_later_calls_send_what_the_client_would_signed_anew_and_store_every_item(table: Any) -> None:
    client = dynamodb_client()
    sent = Sent(client)
    call = BatchWriteCall(client, "Target")
    bodies = [call.body(_wire(i) for i in range(start, start + 5)) for start in (0, 5, 10)]

    answers = [call(body) for body in bodies]

    assert sent.preambles == 1  # the first call went through the client; the two later ones did not
    assert [r.body for r in sent.requests] == bodies
    first, *later = sent.requests
    volatile = {"X-Amz-Date", "Authorization", "amz-sdk-invocation-id", "Content-Length"}
    for request in later:
        assert (request.method, request.url) == (first.method, first.url)
        assert {k: v for k, v in request.headers.items() if k not in volatile} == {
            k: v for k, v in first.headers.items() if k not in volatile
        }
        authorization = request.headers["Authorization"]
        assert authorization.startswith(b"AWS4-HMAC-SHA256 Credential=") and b"/us-east-1/dynamodb/" in authorization
        assert request.headers["Content-Length"] == str(len(request.body))
    assert len({r.headers["amz-sdk-invocation-id"] for r in sent.requests}) == 3
    assert len({r.headers["Authorization"] for r in sent.requests}) == 3  # each body signed for itself
    assert [a["UnprocessedItems"] for a in answers] == [{}, {}, {}]
    expected = [json.loads(_wire(i))["PutRequest"]["Item"] | {"blob": {"B": b"\x00\xff"}} for i in range(15)]
    assert _stored(table, 15) == expected


def test_a_later_call_raises_the_error_class_the_client_raises(table: Any) -> None:
    client = dynamodb_client()
    call = BatchWriteCall(client, "Missing")
    errors = []
    for start in (0, 5):
        with pytest.raises(ClientError) as raised:
            call(call.body(_wire(i) for i in range(start, start + 5)))
        errors.append(raised.value)

    assert [type(e) for e in errors] == [client.exceptions.ResourceNotFoundException] * 2
    assert errors[1].response["Error"] == errors[0].response["Error"]
    assert errors[1].operation_name == "BatchWriteItem"


def test_before_call_hooks_see_the_later_calls_real_bodies_and_can_answer_them(table: Any) -> None:
    """The tests' fault injectors (support/botocore_faults.py) are `before-call` hooks: on a later call too,
    one answers with the call's own requests unprocessed, another with a throttle, and nothing is written."""
    client = dynamodb_client()
    faults = BatchWriteFaults(client, [PASS, UNPROCESSED, THROTTLE, PASS])
    call = BatchWriteCall(client, "Target")
    bodies = [call.body(_wire(i) for i in range(start, start + 5)) for start in (0, 5, 10, 15)]
    call(bodies[0])
    unprocessed = call(bodies[1])["UnprocessedItems"]["Target"]
    with pytest.raises(client.exceptions.ProvisionedThroughputExceededException):
        call(bodies[2])
    call(bodies[3])

    assert (faults.calls, faults.injected) == (4, {THROTTLE: 1, UNPROCESSED: 1})
    assert [r["PutRequest"]["Item"]["sk"] for r in unprocessed] == [{"N": str(i)} for i in range(5, 10)]
    stored = {int(item["sk"]["N"]) for item in _stored(table, 20)}
    assert stored == set(range(5)) | set(range(15, 20))


def test_the_lambda_trace_header_is_the_current_invocations_on_every_call(
    table: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """botocore's `before-call` handler adds X-Amzn-Trace-Id in a Lambda: a kept request must not carry the
    previous invocation's."""
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "writer")
    client = dynamodb_client()
    sent = Sent(client)
    call = BatchWriteCall(client, "Target")
    for i in range(3):
        monkeypatch.setenv("_X_AMZN_TRACE_ID", f"Root=1-00000000-00000000000000000000000{i}")
        call(call.body([_wire(i)]))

    assert [r.headers["X-Amzn-Trace-Id"] for r in sent.requests] == [
        f"Root=1-00000000-00000000000000000000000{i}".encode() for i in range(3)
    ]


def test_a_botocore_without_make_request_has_every_call_go_through_the_client(
    table: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batchcall, "_RESEND", "_a_method_this_botocore_lacks")
    client = dynamodb_client()
    sent = Sent(client)
    call = BatchWriteCall(client, "Target")
    for start in (0, 5, 10):
        call(call.body(_wire(i) for i in range(start, start + 5)))

    assert sent.preambles == 3
    assert len(_stored(table, 15)) == 15
