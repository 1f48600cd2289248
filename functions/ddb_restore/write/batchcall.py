"""The writer's BatchWriteItem call: a body made of the records' own DynamoDB JSON, sent through botocore.

Two costs of a plain `client.batch_write_item(...)` are left out, each measured (bench/writer_cost.py):

- **Serialising the records again.** They already are DynamoDB's wire format, checked value by value by
  records.py; botocore serialising them again was once the writer's largest cost. The call carries a
  placeholder parameter, and a `before-call` hook (registered first) puts the body built from the records'
  bytes in its place.
- **The client's preamble, on every call.** `_make_api_call` emits the parameter events, evaluates the
  endpoint rules and builds the request anew each time, though a writer's calls differ only in their body:
  the same client, operation and table give the same URL, headers and signing context. That preamble was
  0.47 M of a call's 3.37 M instructions (valgrind); `ddb-restore run` went from 441 to 426 K an item.
  The first call of a `BatchWriteCall` goes through the client whole, and the request it built is kept as
  it stood when the `before-call` hooks got it. Every later call takes a copy of it with its own body and
  context and goes on from there as `_make_api_call` does: the `before-call` hooks (the current Lambda
  trace header, the tests' faults), the client's `_make_request` (signed anew with fresh credentials,
  `before-send` hooks such as moto's, sent, parsed, retried by botocore's handler), `after-call`, and an
  error status raised as the client's exception class for its code. The user agent names the same
  features as the first call's (botocore records them per call; the endpoint rules added one).

Not run again for the later calls: `provide-client-params`, `before-parameter-build` and the endpoint rules
(nothing here listens to the first two; the rules' inputs, which are the region, the endpoint settings,
the credentials' account and the table, do not change within a writer). X-Ray's botocore patch wraps
`_make_api_call`, so in a traced Lambda only a writer's first call has a subsegment of its own (the trace
header, added as the request is prepared, is still sent on every call).

It uses one private method of botocore's client, `_make_request`, and botocore.context (private too): a
client without that method has every call go through `batch_write_item` (slower, the same result);
tests/test_batchcall.py then fails, so that CI, which installs the newest botocore, says so.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterable
from typing import Any

from botocore.compress import maybe_compress_request
from botocore.context import get_context, start_as_current_context
from botocore.httpchecksum import apply_request_checksum

__all__ = ["BatchWriteCall"]

_OPERATION = "BatchWriteItem"
_BEFORE_CALL = f"before-call.dynamodb.{_OPERATION}"
_AFTER_CALL = f"after-call.dynamodb.{_OPERATION}"

# The botocore method a later call is handed to (see the module docstring).
_RESEND = "_make_request"

# What botocore serialises in place of the real requests (validation is off: see clients.py).
_PLACEHOLDER: Any = [{"PutRequest": {"Item": {}}}]

# The BatchWriteCall this thread is sending through the client (see _take_body).
_SENDING = threading.local()


def _take_body(params: dict[str, Any], **kwargs: Any) -> None:
    """botocore `before-call` hook, first in line: a BatchWriteCall's body replaces the placeholder's."""
    call = getattr(_SENDING, "call", None)
    if call is not None:
        _SENDING.call = None
        call._took(params, kwargs)


def _copy(request: dict[str, Any]) -> dict[str, Any]:
    """A request dict whose headers and context (and the dicts in the context) are its own: botocore writes
    into them as it sends (the Lambda trace header, the retry attempt, the signing time)."""
    context = {k: dict(v) if type(v) is dict else v for k, v in request["context"].items()}
    return {**request, "headers": dict(request["headers"]), "context": context}


class BatchWriteCall:
    """Sends BatchWriteItem requests for one table with one client (see the module docstring).
    One per writer, which is one per thread; its calls raise botocore's errors as the client's would."""

    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table
        self._resend = getattr(client, _RESEND, None)  # None: every call goes through the client
        self._body = b""
        self._kept: dict[str, Any] | None = None  # the first call's request, as the before-call hooks got it
        self._hook_args: dict[str, Any] = {}  # that call's other before-call arguments: model, request_signer
        self._features: Any = None  # botocore's record of the features that call used, for the user agent
        if not getattr(client, "_ddb_restore_batch_call", False):
            client.meta.events.register_first(_BEFORE_CALL, _take_body)
            client._ddb_restore_batch_call = True

    def body(self, requests: Iterable[bytes]) -> bytes:
        """The request body for these write requests (each one's own JSON, see records.Record.wire)."""
        return b"".join((b'{"RequestItems":{', json.dumps(self._table).encode(), b":[", b",".join(requests), b"]}}"))

    def __call__(self, body: bytes) -> dict[str, Any]:
        """Send one BatchWriteItem request with this body; its parsed answer (UnprocessedItems...)."""
        if self._kept is None or self._resend is None:
            return self._through_client(body)
        with start_as_current_context(self._features):  # as _make_api_call, from where the first call stood
            return self._again(body)

    def _through_client(self, body: bytes) -> dict[str, Any]:
        self._body = body
        _SENDING.call = self
        try:
            return self._client.batch_write_item(RequestItems={self._table: _PLACEHOLDER})  # type: ignore[no-any-return]
        finally:
            _SENDING.call = None

    def _took(self, params: dict[str, Any], hook_args: dict[str, Any]) -> None:
        params["body"] = self._body
        if self._kept is None:
            self._kept = _copy(params)
            self._hook_args = {k: v for k, v in hook_args.items() if k in ("model", "request_signer")}
            # The user agent lists the features a call used (`m/...`); the endpoint rules, not run again, add one.
            self._features = copy.deepcopy(get_context())

    def _again(self, body: bytes) -> dict[str, Any]:
        assert self._kept is not None and self._resend is not None
        request = _copy(self._kept)
        request["body"] = body
        context = request["context"]
        model = self._hook_args["model"]
        events = self._client.meta.events
        _, answer = events.emit_until_response(_BEFORE_CALL, params=request, context=context, **self._hook_args)
        if answer is None:
            maybe_compress_request(self._client.meta.config, request, model)
            apply_request_checksum(request)
            answer = self._resend(model, request, context)
        http, parsed = answer
        events.emit(_AFTER_CALL, http_response=http, parsed=parsed, model=model, context=context)
        if http.status_code >= 300:
            code = context.get("error_code_override") or parsed.get("Error", {}).get("Code")
            raise self._client.exceptions.from_code(code)(parsed, _OPERATION)
        return parsed  # type: ignore[no-any-return]
