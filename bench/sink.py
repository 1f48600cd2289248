"""A tiny local DynamoDB endpoint for the benches: it accepts writes and counts them, nothing more.

It speaks just enough of DynamoDB's JSON protocol (`X-Amz-Target: DynamoDB_20120810.<Operation>`):
- `BatchWriteItem`: every request accepted at once (`{"UnprocessedItems": {}}`); items, bytes, write units,
  distinct keys and two order-independent fingerprints of the items (their exact text; their values, numbers
  normalised) are counted;
- `DescribeTable`: any name is a table with key pk (S) / sk (N), ACTIVE, PAY_PER_REQUEST;
- `DescribeContinuousBackups`: point-in-time recovery DISABLED;
- `PutItem`: accepted and counted like a one-item batch.

Budget mode (`budget=N`) enforces N write units per second the way DynamoDB throttles a table: each item costs
`ddb_restore.export.records.item_size` rounded up to 1 KB; a call of which nothing fits in this second's remaining
capacity fails with HTTP 400 `ProvisionedThroughputExceededException`, a call of which only a part fits
writes that part and hands the rest back in `UnprocessedItems`. Windows are whole seconds of the sink's
monotonic clock; there is no burst credit carried between seconds.

The server runs in its own process (multiprocessing), so its CPU is never counted as the writer's. Request
signatures are not checked. No `x-amz-crc32` header is sent, so botocore checks none.
Outside budget mode a call is answered at once and its body only kept: parsing, counting write units, keys
and fingerprints happen when stats are asked for, so the sink adds next to no latency to the client's calls.

    with Sink() as sink:                      # or Sink(budget=2000)
        env = {"AWS_ENDPOINT_URL_DYNAMODB": sink.endpoint, ...}
        ...
        stats = sink.stats()                  # waits until every request received is counted
        sink.reset()

Standalone: `python bench/sink.py [--port 8000] [--budget N]` serves until interrupted.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import threading
import time
from collections import defaultdict
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Sink", "item_fingerprint", "fingerprint_add"]

JSON_CT = "application/x-amz-json-1.0"
_PREFIX = "com.amazonaws.dynamodb.v20120810#"
_MASK = (1 << 64) - 1


def _number(text: str) -> str:
    return str(Decimal(text).normalize())


def _canonical(value: Any, numbers: bool) -> Any:
    """An attribute value with set members sorted (sets have no order); with `numbers`, every N normalised
    (1.50 → 1.5, 0.2E-8 → 2E-9: DynamoDB stores the number, not its text)."""
    if isinstance(value, dict) and len(value) == 1:
        ((tag, inner),) = value.items()
        if tag == "N" and numbers and isinstance(inner, str):
            return {"N": _number(inner)}
        if tag in ("SS", "NS", "BS") and isinstance(inner, list):
            return {tag: sorted(_number(n) for n in inner) if tag == "NS" and numbers else sorted(inner)}
        if tag == "L" and isinstance(inner, list):
            return {"L": [_canonical(v, numbers) for v in inner]}
        if tag == "M" and isinstance(inner, dict):
            return {"M": {k: _canonical(v, numbers) for k, v in inner.items()}}
    return value


def item_fingerprint(item: dict[str, Any], numbers: bool = False) -> int:
    """64-bit digest of an item in DynamoDB JSON (B as base64), sets unordered, attribute order ignored;
    with `numbers`, numbers compared by value rather than by text."""
    canonical = {k: _canonical(v, numbers) for k, v in item.items()}
    text = json.dumps(canonical, sort_keys=True, ensure_ascii=False)
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def fingerprint_add(total: int, item: dict[str, Any], numbers: bool = False) -> int:
    """Order-independent sum of item fingerprints (mod 2^64): equal sums ⇔ (very likely) the same items."""
    return (total + item_fingerprint(item, numbers)) & _MASK


def _units(item: dict[str, Any]) -> int:
    from ddb_restore.export.records import item_size, write_units

    return write_units(item_size(item))


class _State:
    """Counters shared by the handler threads of one sink process.

    Outside budget mode a request costs the sink next to nothing while the client waits: its body is kept
    (with `track`) or its items counted as the bytes `"PutRequest"` in it, and the answer goes out; parsing,
    write units, distinct keys and fingerprints are computed from the kept bodies when stats are asked for.
    """

    def __init__(self, budget: float | None, track: bool) -> None:
        self.budget = budget
        self.track = track
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.calls = 0
        self.batch_calls = 0
        self.throttled = 0
        self.partial = 0
        self.items = 0
        self.request_bytes = 0
        self.units = 0
        self.fingerprint = 0
        self.value_fingerprint = 0
        self.keys: set[tuple[str, str]] = set()
        self.duplicates = 0
        self.bodies: list[bytes] = []  # accepted BatchWriteItem bodies not yet counted (outside budget mode)
        self.window = -1
        self.window_used = 0
        self.per_second: dict[int, int] = defaultdict(int)
        self.throttled_per_second: dict[int, int] = defaultdict(int)
        self.first_write: float | None = None
        self.last_write: float | None = None

    def snapshot(self) -> dict[str, Any]:
        """Every figure (caller holds the lock); kept bodies are counted now."""
        for body in self.bodies:
            request = json.loads(body)
            items = [
                r.get("PutRequest", {}).get("Item") or r.get("DeleteRequest", {}).get("Key")
                for requests in request["RequestItems"].values()
                for r in requests
            ]
            self.units += sum(_units(i) for i in items)
            self._track(items)
        self.bodies.clear()
        per_second = dict(sorted(self.per_second.items()))
        return {
            "calls": self.calls,
            "batch_calls": self.batch_calls,
            "throttled_calls": self.throttled,
            "partial_calls": self.partial,
            "items": self.items,
            "distinct_keys": len(self.keys),
            "duplicates": self.duplicates,
            "request_bytes": self.request_bytes,
            "write_units": self.units,
            "fingerprint": self.fingerprint,
            "value_fingerprint": self.value_fingerprint,
            "budget": self.budget,
            "first_write": self.first_write,
            "last_write": self.last_write,
            "per_second": [per_second.get(s, 0) for s in range(min(per_second), max(per_second) + 1)]
            if per_second
            else [],
            "throttled_per_second": [
                self.throttled_per_second.get(s, 0) for s in range(min(per_second), max(per_second) + 1)
            ]
            if per_second
            else [],
        }

    def stamp(self, now: float) -> None:
        if self.first_write is None:
            self.first_write = now
        self.last_write = now

    def _track(self, items: list[dict[str, Any]]) -> None:
        if not self.track:
            return
        for item in items:
            key = (json.dumps(item.get("pk")), json.dumps(item.get("sk")))
            if key in self.keys:
                self.duplicates += 1
            else:
                self.keys.add(key)
            self.fingerprint = fingerprint_add(self.fingerprint, item)
            self.value_fingerprint = fingerprint_add(self.value_fingerprint, item, numbers=True)

    def record(self, items: list[dict[str, Any]], units: int, now: float) -> None:
        """Budget mode: count accepted items now (caller holds the lock)."""
        self.items += len(items)
        self.units += units
        self.per_second[int(now)] += units
        self.stamp(now)
        self._track(items)

    def take(self, costs: list[int]) -> list[bool]:
        """Budget mode: which items (by cost) fit in this second's remaining capacity, taken in order."""
        assert self.budget is not None
        window = int(time.monotonic())
        if window != self.window:
            self.window, self.window_used = window, 0
        fits = []
        for cost in costs:
            ok = self.window_used + cost <= self.budget
            if ok:
                self.window_used += cost
            fits.append(ok)
        return fits


def _handler(state: _State) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: botocore's pool reuses connections
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            pass

        def _send(self, status: int, body: bytes, content_type: str = JSON_CT) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("x-amzn-RequestId", "SINK")
            self.end_headers()
            self.wfile.write(body)

        def _error(self, code: str, message: str, status: int = 400) -> None:
            self._send(status, json.dumps({"__type": _PREFIX + code, "message": message}).encode())

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            if self.path == "/__stats":
                with state.lock:
                    body = json.dumps(state.snapshot()).encode()
                self._send(200, body, "application/json")
            elif self.path == "/__reset":
                with state.lock:
                    state.reset()
                self._send(200, b"{}", "application/json")
            else:
                self._send(404, b"{}", "application/json")

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            operation = (self.headers.get("X-Amz-Target") or "").rpartition(".")[2]
            if operation == "BatchWriteItem":
                self._batch_write(body)
            elif operation == "PutItem":
                self._put_item(body)
            elif operation == "DescribeTable":
                name = json.loads(body).get("TableName", "T")
                self._send(200, json.dumps({"Table": _table(name)}).encode())
            elif operation == "DescribeContinuousBackups":
                self._send(200, _BACKUPS)
            else:
                self._error("UnknownOperationException", f"the sink does not implement {operation!r}")

        def _batch_write(self, body: bytes) -> None:
            if state.budget is None:
                now = time.monotonic()
                with state.lock:
                    state.calls += 1
                    state.batch_calls += 1
                    state.request_bytes += len(body)
                    state.items += body.count(b'"PutRequest"') + body.count(b'"DeleteRequest"')
                    state.stamp(now)
                    if state.track:
                        state.bodies.append(body)
                self._send(200, b'{"UnprocessedItems":{}}')
                return
            request = json.loads(body)
            entries = [(table, r) for table, requests in request["RequestItems"].items() for r in requests]
            items = [r.get("PutRequest", {}).get("Item") or r.get("DeleteRequest", {}).get("Key") for _, r in entries]
            costs = [_units(i) for i in items]
            with state.lock:
                state.calls += 1
                state.batch_calls += 1
                state.request_bytes += len(body)
                fits = state.take(costs)
                accepted = [i for i, ok in zip(items, fits, strict=True) if ok]
                if not accepted:
                    state.throttled += 1
                    state.throttled_per_second[int(time.monotonic())] += 1
                else:
                    if len(accepted) < len(items):
                        state.partial += 1
                    state.record(accepted, sum(c for c, ok in zip(costs, fits, strict=True) if ok), time.monotonic())
            if not accepted:
                self._error("ProvisionedThroughputExceededException", _THROTTLE_MESSAGE)
                return
            unprocessed: dict[str, list[Any]] = defaultdict(list)
            for (table, r), ok in zip(entries, fits, strict=True):
                if not ok:
                    unprocessed[table].append(r)
            self._send(200, json.dumps({"UnprocessedItems": unprocessed}).encode())

        def _put_item(self, body: bytes) -> None:
            item = json.loads(body)["Item"]
            cost = _units(item)
            with state.lock:
                state.calls += 1
                state.request_bytes += len(body)
                ok = state.budget is None or state.take([cost])[0]
                if ok:
                    state.record([item], cost, time.monotonic())
                else:
                    state.throttled += 1
                    state.throttled_per_second[int(time.monotonic())] += 1
            if ok:
                self._send(200, b"{}")
            else:
                self._error("ProvisionedThroughputExceededException", _THROTTLE_MESSAGE)

    return Handler


_THROTTLE_MESSAGE = (
    "The level of configured provisioned throughput for the table was exceeded. "
    "Consider increasing your provisioning level with the UpdateTable API."
)
_BACKUPS = json.dumps(
    {
        "ContinuousBackupsDescription": {
            "ContinuousBackupsStatus": "DISABLED",
            "PointInTimeRecoveryDescription": {"PointInTimeRecoveryStatus": "DISABLED"},
        }
    }
).encode()


def _table(name: str) -> dict[str, Any]:
    return {
        "TableName": name,
        "TableArn": f"arn:aws:dynamodb:us-east-1:111122223333:table/{name}",
        "TableId": "00000000-0000-0000-0000-000000000000",
        "TableStatus": "ACTIVE",
        "CreationDateTime": 1700000000.0,
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "AttributeDefinitions": [
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
        ],
        "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"},
        "ProvisionedThroughput": {"ReadCapacityUnits": 0, "WriteCapacityUnits": 0, "NumberOfDecreasesToday": 0},
        "ItemCount": 0,
        "TableSizeBytes": 0,
    }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64


def _serve(port: int, budget: float | None, track: bool, ready: Any) -> None:
    server = _Server(("127.0.0.1", port), _handler(_State(budget, track)))
    ready.send(server.server_address[1])
    ready.close()
    server.serve_forever(poll_interval=0.1)


class Sink:
    """The sink server in a child process. `budget`: write units per second (None: accept everything).
    `track`: count distinct keys and fingerprint items (its CPU is the sink's, not the client's)."""

    def __init__(self, budget: float | None = None, *, track: bool = True, port: int = 0) -> None:
        self.budget = budget
        self.track = track
        self.port = port
        self.endpoint = ""
        self._process: multiprocessing.process.BaseProcess | None = None

    def __enter__(self) -> Sink:
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_serve, args=(self.port, self.budget, self.track, child), name="ddb-sink", daemon=True
        )
        self._process.start()
        child.close()
        if not parent.poll(30):
            raise RuntimeError("the sink did not start")
        self.port = parent.recv()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.join(5)

    def _get(self, path: str) -> dict[str, Any]:
        import urllib.request

        with urllib.request.urlopen(self.endpoint + path, timeout=60) as response:
            return json.loads(response.read())

    def stats(self) -> dict[str, Any]:
        return self._get("/__stats")

    def reset(self) -> None:
        self._get("/__reset")


def main() -> None:
    parser = argparse.ArgumentParser(description="A local DynamoDB sink for the benches.")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--budget", type=float, help="write units per second (default: accept everything)")
    args = parser.parse_args()
    with Sink(args.budget, port=args.port) as sink:
        print(f"sink on {sink.endpoint} (budget {args.budget or 'none'}); stats at {sink.endpoint}/__stats")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
