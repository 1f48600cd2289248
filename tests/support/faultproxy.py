"""An HTTP proxy in front of a DynamoDB endpoint that injects BatchWriteItem faults.

Why: a restore must survive throttling, 500s and partially processed batches
(``UnprocessedItems``), which no local DynamoDB produces on demand. This proxy
forwards every DynamoDB JSON-protocol request to an upstream endpoint (dynalite,
moto server...) and, for BatchWriteItem only, can answer instead with a
throttling error, a 500, or a partial success, deterministically or at random.

Usage::

    with Dynalite() as d, FaultProxy(d.endpoint) as proxy:
        client = boto3.client("dynamodb", endpoint_url=proxy.endpoint, ...)
        proxy.throttle_next(2)

Precedence for one BatchWriteItem call: throttle_next, then server_error_next,
then partial_next, then throttle_probability, then partial_probability, then the admission
(`admit_with`: a model such as support/partitions.py deciding, write by write, what the table takes).
"""

from __future__ import annotations

import http.client
import json
import math
import random
import threading
import uuid
import zlib
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

DYNAMODB_PREFIX = "com.amazonaws.dynamodb.v20120810#"
THROTTLE_TYPES = {
    "ThrottlingException": "com.amazon.coral.availability#ThrottlingException",
}
THROTTLE_MESSAGES = {
    "ProvisionedThroughputExceededException": (
        "The level of configured provisioned throughput for the table was exceeded. "
        "Consider increasing your provisioning level with the UpdateTable API."
    ),
    "ThrottlingException": "Rate of requests exceeds the allowed throughput.",
    "RequestLimitExceeded": (
        "Throughput exceeds the current throughput limit for your account. "
        "Please contact AWS Support at https://aws.amazon.com/support request a limit increase"
    ),
}
# Which writes of one BatchWriteItem call, given as (table, write request) in request order, are taken.
Admission = Callable[[list[tuple[str, dict[str, Any]]]], list[bool]]
# Headers never copied between the two hops (hop-by-hop, or recomputed by us).
_REQUEST_SKIP = {"host", "content-length", "connection", "keep-alive", "transfer-encoding", "expect"}
_RESPONSE_SKIP = {"content-length", "connection", "keep-alive", "transfer-encoding", "date", "server"}


def _request_id() -> str:
    return uuid.uuid4().hex.upper() + uuid.uuid4().hex.upper()[:20]


class FaultProxy:
    """Forwarding proxy with thread-safe, switchable BatchWriteItem faults.

    All fault controls and counters may be used from any thread at any time,
    while clients are sending requests.
    """

    def __init__(self, upstream: str, *, upstream_timeout: float = 30.0) -> None:
        parts = urlsplit(upstream)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"upstream must be an http(s) URL, got {upstream!r}")
        self.upstream = upstream
        self._scheme = parts.scheme
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._upstream_timeout = upstream_timeout
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.reset()

    # ---- lifecycle -------------------------------------------------------

    @property
    def endpoint(self) -> str:
        """The URL to pass as boto3's ``endpoint_url``."""
        if self._server is None:
            raise RuntimeError("FaultProxy is not running")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FaultProxy:
        """Listen on a free loopback port, serving from a background thread."""
        if self._server is not None:
            return self
        server = _Server(("127.0.0.1", 0), _Handler)
        server.proxy = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="FaultProxy", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening; open keep-alive connections die with their daemon threads."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ---- fault controls --------------------------------------------------

    def reset(self) -> None:
        """Turn every fault off and zero every counter."""
        with self._lock:
            self._throttle_left = 0
            self._throttle_code = "ProvisionedThroughputExceededException"
            self._server_error_left = 0
            self._partial_left = 0
            self._partial_keep = 0.5
            self._partial_p = 0.0
            self._partial_p_keep = 0.5
            self._partial_rng = random.Random(0)
            self._throttle_p = 0.0
            self._throttle_p_code = "ProvisionedThroughputExceededException"
            self._throttle_rng = random.Random(0)
            self._calls = 0
            self._throttled = 0
            self._partials = 0
            self._server_errors = 0
            self._forwarded_items = 0
            self._op_counts: dict[str, int] = {}
            self._admission: Admission | None = None

    def throttle_next(self, n: int, code: str = "ProvisionedThroughputExceededException") -> None:
        """Answer the next n BatchWriteItem calls with HTTP 400 ``code``, without forwarding."""
        with self._lock:
            self._throttle_left = max(0, n)
            self._throttle_code = code

    def server_error_next(self, n: int) -> None:
        """Answer the next n BatchWriteItem calls with HTTP 500 InternalServerError."""
        with self._lock:
            self._server_error_left = max(0, n)

    def partial_next(self, n: int, keep: float = 0.5) -> None:
        """Forward only the first ceil(len*keep) writes per table of the next n calls.

        The rest come back in ``UnprocessedItems`` (merged with upstream's own).
        """
        _check_fraction(keep, "keep")
        with self._lock:
            self._partial_left = max(0, n)
            self._partial_keep = keep

    def partial_probability(self, p: float, keep: float = 0.5, seed: int = 0) -> None:
        """Give each BatchWriteItem call the partial treatment with probability p (0 = off)."""
        _check_fraction(p, "p")
        _check_fraction(keep, "keep")
        with self._lock:
            self._partial_p = p
            self._partial_p_keep = keep
            self._partial_rng = random.Random(seed)

    def throttle_probability(
        self, p: float, seed: int = 0, code: str = "ProvisionedThroughputExceededException"
    ) -> None:
        """Throttle each BatchWriteItem call with probability p (0 = off)."""
        _check_fraction(p, "p")
        with self._lock:
            self._throttle_p = p
            self._throttle_p_code = code
            self._throttle_rng = random.Random(seed)

    def admit_with(self, admission: Admission | None) -> None:
        """Let `admission` decide every otherwise unfaulted BatchWriteItem call: the writes it refuses come
        back in `UnprocessedItems`; when it refuses all, the call fails with
        ProvisionedThroughputExceededException, as DynamoDB answers a call of which nothing fits. None: off."""
        with self._lock:
            self._admission = admission

    # ---- counters --------------------------------------------------------

    @property
    def calls(self) -> int:
        """BatchWriteItem calls seen (faulted or not)."""
        with self._lock:
            return self._calls

    @property
    def throttled(self) -> int:
        """BatchWriteItem calls answered with a throttling error."""
        with self._lock:
            return self._throttled

    @property
    def partials(self) -> int:
        """BatchWriteItem calls the partial treatment handed back writes of (a call of one write keeps it)."""
        with self._lock:
            return self._partials

    @property
    def server_errors(self) -> int:
        """BatchWriteItem calls answered with HTTP 500."""
        with self._lock:
            return self._server_errors

    @property
    def forwarded_items(self) -> int:
        """Write requests inside BatchWriteItem calls actually sent upstream."""
        with self._lock:
            return self._forwarded_items

    @property
    def op_counts(self) -> dict[str, int]:
        """Requests seen per operation name (all operations), a copy."""
        with self._lock:
            return dict(self._op_counts)

    # ---- request handling (called from handler threads) -------------------

    def decide(self, op: str) -> tuple[str, Any]:
        """Pick what to do with one request: ("forward"|"throttle"|"error"|"partial", arg)."""
        with self._lock:
            self._op_counts[op] = self._op_counts.get(op, 0) + 1
            if op != "BatchWriteItem":
                return ("forward", None)
            self._calls += 1
            if self._throttle_left > 0:
                self._throttle_left -= 1
                self._throttled += 1
                return ("throttle", self._throttle_code)
            if self._server_error_left > 0:
                self._server_error_left -= 1
                self._server_errors += 1
                return ("error", None)
            if self._partial_left > 0:
                self._partial_left -= 1
                return ("partial", self._partial_keep)
            if self._throttle_p > 0 and self._throttle_rng.random() < self._throttle_p:
                self._throttled += 1
                return ("throttle", self._throttle_p_code)
            if self._partial_p > 0 and self._partial_rng.random() < self._partial_p:
                return ("partial", self._partial_p_keep)
            if self._admission is not None:
                return ("admit", self._admission)
            return ("forward", None)

    def count_forwarded(self, n: int) -> None:
        with self._lock:
            self._forwarded_items += n

    def count_partial(self) -> None:
        with self._lock:
            self._partials += 1

    def forward(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """Send one request upstream; return status, headers and body as received."""
        conn: http.client.HTTPConnection
        if self._scheme == "https":
            conn = http.client.HTTPSConnection(self._host, self._port, timeout=self._upstream_timeout)
        else:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=self._upstream_timeout)
        try:
            conn.request(method, path, body=body, headers=dict(headers))
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, resp.getheaders(), data
        finally:
            conn.close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Do not wait on stop for handler threads idling on keep-alive connections.
    block_on_close = False
    proxy: FaultProxy


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without this, Nagle + delayed ACK add ~40 ms a call.
    disable_nagle_algorithm = True
    server: _Server
    # An idle keep-alive connection frees its thread after this many seconds.
    timeout = 60

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request stderr log."""

    def do_POST(self) -> None:
        self._handle()

    def do_GET(self) -> None:
        self._handle()

    def _handle(self) -> None:
        proxy = self.server.proxy
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        target = self.headers.get("X-Amz-Target") or ""
        op = target.rsplit(".", 1)[-1] if "." in target else target
        fwd_headers = {k: v for k, v in self.headers.items() if k.lower() not in _REQUEST_SKIP}
        action, arg = proxy.decide(op)
        try:
            if action == "throttle":
                code = str(arg)
                type_ = THROTTLE_TYPES.get(code, DYNAMODB_PREFIX + code)
                message = THROTTLE_MESSAGES.get(code, "Request throttled by FaultProxy")
                self._send_json(400, {"__type": type_, "message": message})
            elif action == "error":
                self._send_json(
                    500,
                    {"__type": DYNAMODB_PREFIX + "InternalServerError", "message": "Internal server error"},
                )
            elif action == "partial":
                self._forward_some(proxy, fwd_headers, body, _keep_first(float(arg)), throttle_if_none=False)
            elif action == "admit":
                self._forward_some(proxy, fwd_headers, body, arg, throttle_if_none=True)
            else:
                if op == "BatchWriteItem":
                    proxy.count_forwarded(_count_writes(body))
                status, headers, data = proxy.forward(self.command, self.path, fwd_headers, body)
                self._send_raw(status, headers, data)
        except (OSError, http.client.HTTPException) as exc:
            if self.wfile.closed:
                return
            self._send_json(502, {"__type": "FaultProxyUpstreamError", "message": str(exc)})

    def _forward_some(
        self, proxy: FaultProxy, headers: dict[str, str], body: bytes, choose: Admission, *, throttle_if_none: bool
    ) -> None:
        """Forward the writes `choose` keeps; hand the rest back unprocessed (or throttle the call when
        `throttle_if_none` and it keeps none)."""
        try:
            request = json.loads(body)
            items: dict[str, list[Any]] = request["RequestItems"]
            entries = [(table, write) for table, writes in items.items() for write in writes]
        except (ValueError, KeyError, TypeError, AttributeError):
            # Not a well-formed batch: let upstream produce the real validation error.
            status, up_headers, data = proxy.forward(self.command, self.path, headers, body)
            self._send_raw(status, up_headers, data)
            return
        kept: dict[str, list[Any]] = {}
        withheld: dict[str, list[Any]] = {}
        for (table, write), keep in zip(entries, choose(entries), strict=True):
            (kept if keep else withheld).setdefault(table, []).append(write)
        if withheld and not throttle_if_none:  # the partial treatment, not an admission: it handed some back
            proxy.count_partial()
        if not kept and throttle_if_none:
            code = "ProvisionedThroughputExceededException"
            self._send_json(400, {"__type": DYNAMODB_PREFIX + code, "message": THROTTLE_MESSAGES[code]})
            return
        if not kept:
            self._send_json(200, {"UnprocessedItems": withheld})
            return
        headers = {k: v for k, v in headers.items() if k.lower() != "accept-encoding"}
        proxy.count_forwarded(sum(len(w) for w in kept.values()))
        status, up_headers, data = proxy.forward(
            self.command, self.path, headers, json.dumps({**request, "RequestItems": kept}).encode()
        )
        if status != 200:
            self._send_raw(status, up_headers, data)
            return
        response = json.loads(data)
        unprocessed: dict[str, list[Any]] = response.get("UnprocessedItems") or {}
        for table, writes in withheld.items():
            unprocessed.setdefault(table, []).extend(writes)
        response["UnprocessedItems"] = unprocessed
        out = [(k, v) for k, v in up_headers if k.lower() not in ("x-amz-crc32", "content-encoding")]
        self._send_raw(200, out, json.dumps(response).encode(), add_crc=True)

    def _send_json(self, status: int, payload: dict[str, Any]) -> None:
        headers = [("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-RequestId", _request_id())]
        self._send_raw(status, headers, json.dumps(payload).encode(), add_crc=True)

    def _send_raw(self, status: int, headers: list[tuple[str, str]], data: bytes, *, add_crc: bool = False) -> None:
        self.send_response(status)
        for key, value in headers:
            if key.lower() not in _RESPONSE_SKIP:
                self.send_header(key, value)
        if add_crc:
            self.send_header("x-amz-crc32", str(zlib.crc32(data) & 0xFFFFFFFF))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()


def _keep_first(keep: float) -> Admission:
    """The partial treatment: the first ceil(len × keep) writes of each table's list."""

    def choose(entries: list[tuple[str, dict[str, Any]]]) -> list[bool]:
        sizes: dict[str, int] = {}
        for table, _ in entries:
            sizes[table] = sizes.get(table, 0) + 1
        seen: dict[str, int] = {}
        out = []
        for table, _ in entries:
            seen[table] = seen.get(table, 0) + 1
            out.append(seen[table] <= math.ceil(sizes[table] * keep))
        return out

    return choose


def _count_writes(body: bytes) -> int:
    try:
        items = json.loads(body)["RequestItems"]
        return sum(len(w) for w in items.values())
    except (ValueError, KeyError, TypeError, AttributeError):
        return 0


def _check_fraction(value: float, name: str) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be within [0, 1], got {value}")
