"""Tests of the test-support servers: dynalite launcher and the fault-injecting proxy.

Why: later tests trust these helpers to produce exactly the faults they ask for;
a proxy that silently forwarded everything would make every resilience test pass.
"""

from __future__ import annotations

import random
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import pytest
from botocore.exceptions import ClientError

from support.dynalite import Dynalite, DynaliteError
from support.faultproxy import FaultProxy


def make_client(endpoint: str, max_attempts: int = 1) -> Any:
    """A DynamoDB client with fake credentials; max_attempts counts every try (1 = no retry)."""
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        # total_max_attempts counts the first try; botocore's "max_attempts" counts retries only.
        config=botocore.config.Config(retries={"mode": "standard", "total_max_attempts": max_attempts}),
    )


@pytest.fixture(scope="module")
def dynalite() -> Iterator[Dynalite]:
    with Dynalite() as d:
        yield d


@pytest.fixture()
def proxy(dynalite: Dynalite) -> Iterator[FaultProxy]:
    with FaultProxy(dynalite.endpoint) as p:
        yield p


@pytest.fixture()
def client(proxy: FaultProxy) -> Any:
    return make_client(proxy.endpoint)


_table_seq = iter(range(1_000_000))


@pytest.fixture()
def table(client: Any) -> str:
    """A fresh table (created through the proxy) with a string hash key ``pk``."""
    name = f"tbl-{next(_table_seq)}"
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


def put(pk: str) -> dict[str, Any]:
    return {"PutRequest": {"Item": {"pk": {"S": pk}, "v": {"N": "1"}}}}


def keys_in(client: Any, table: str) -> set[str]:
    items = client.scan(TableName=table, ConsistentRead=True)["Items"]
    return {i["pk"]["S"] for i in items}


# ---- dynalite ---------------------------------------------------------------


def test_dynalite_lifecycle() -> None:
    with Dynalite() as d:
        assert d.endpoint.startswith("http://127.0.0.1:")
        port = d.port
        assert port is not None
        assert make_client(d.endpoint).list_tables()["TableNames"] == []
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        pass


def test_dynalite_missing_binary_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DynaliteError, match="dynalite not installed: run npm install"):
        Dynalite(binary=tmp_path / "nope").start()


def fake_binary(tmp_path: Path, script: str) -> Path:
    path = tmp_path / "fake-dynalite"
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)
    return path


def test_dynalite_startup_failure_reports_stderr(tmp_path: Path) -> None:
    binary = fake_binary(tmp_path, "echo 'boom: cannot start' >&2; exit 3")
    with pytest.raises(DynaliteError, match="(?s)exited with code 3.*boom: cannot start"):
        Dynalite(binary=binary).start()


def test_dynalite_startup_timeout(tmp_path: Path) -> None:
    binary = fake_binary(tmp_path, "echo 'still warming up' >&2; exec sleep 30")
    with pytest.raises(DynaliteError, match="(?s)did not listen.*still warming up"):
        Dynalite(binary=binary, startup_timeout=0.5).start()


# ---- proxy pass-through -----------------------------------------------------


def test_passthrough_operations(client: Any, proxy: FaultProxy, table: str, dynalite: Dynalite) -> None:
    assert client.describe_table(TableName=table)["Table"]["TableStatus"] == "ACTIVE"
    client.put_item(TableName=table, Item={"pk": {"S": "a"}})
    assert client.get_item(TableName=table, Key={"pk": {"S": "a"}})["Item"] == {"pk": {"S": "a"}}
    resp = client.batch_write_item(RequestItems={table: [put("b"), put("c")]})
    assert resp["UnprocessedItems"] == {}
    # Really in dynalite, not just answered by the proxy.
    assert keys_in(make_client(dynalite.endpoint), table) == {"a", "b", "c"}
    assert (proxy.calls, proxy.forwarded_items, proxy.throttled, proxy.partials, proxy.server_errors) == (
        1, 2, 0, 0, 0,
    )  # fmt: skip
    ops = proxy.op_counts
    assert ops["CreateTable"] == 1 and ops["BatchWriteItem"] == 1 and ops["GetItem"] == 1


def test_upstream_errors_pass_through(client: Any, proxy: FaultProxy) -> None:
    with pytest.raises(ClientError) as err:
        client.describe_table(TableName="does-not-exist")
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"


# ---- throttling and 500 -----------------------------------------------------


@pytest.mark.parametrize(
    "code", ["ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"]
)
def test_throttle_next(client: Any, proxy: FaultProxy, table: str, code: str) -> None:
    proxy.throttle_next(2, code=code)
    for _ in range(2):
        with pytest.raises(ClientError) as err:
            client.batch_write_item(RequestItems={table: [put("t")]})
        assert err.value.response["Error"]["Code"] == code
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert err.value.response["ResponseMetadata"]["RequestId"]
    assert keys_in(client, table) == set()
    client.batch_write_item(RequestItems={table: [put("t")]})
    assert keys_in(client, table) == {"t"}
    assert (proxy.calls, proxy.throttled, proxy.forwarded_items) == (3, 2, 1)


def test_botocore_retries_the_throttle(proxy: FaultProxy, table: str) -> None:
    """botocore's standard retry mode must see the error as a retryable throttle."""
    retrying = make_client(proxy.endpoint, max_attempts=2)
    proxy.throttle_next(1, code="ThrottlingException")
    resp = retrying.batch_write_item(RequestItems={table: [put("r")]})
    assert resp["ResponseMetadata"]["RetryAttempts"] == 1
    assert (proxy.calls, proxy.throttled) == (2, 1)


def test_server_error_next(client: Any, proxy: FaultProxy, table: str) -> None:
    proxy.server_error_next(1)
    with pytest.raises(ClientError) as err:
        client.batch_write_item(RequestItems={table: [put("s")]})
    assert err.value.response["Error"]["Code"] == "InternalServerError"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert keys_in(client, table) == set()
    assert (proxy.calls, proxy.server_errors, proxy.forwarded_items) == (1, 1, 0)


def test_only_batch_write_item_is_faulted(client: Any, proxy: FaultProxy, table: str) -> None:
    proxy.throttle_next(1)
    client.put_item(TableName=table, Item={"pk": {"S": "p"}})
    client.describe_table(TableName=table)
    assert (proxy.calls, proxy.throttled) == (0, 0)
    with pytest.raises(ClientError):
        client.batch_write_item(RequestItems={table: [put("q")]})


# ---- partial batches --------------------------------------------------------


def test_partial_next(client: Any, proxy: FaultProxy, table: str, dynalite: Dynalite) -> None:
    other = f"{table}-b"
    client.create_table(
        TableName=other,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    first = [put(f"a{i}") for i in range(5)]
    second = [put(f"b{i}") for i in range(3)]
    proxy.partial_next(1, keep=0.5)
    resp = client.batch_write_item(RequestItems={table: first, other: second})
    # ceil(5*0.5)=3 and ceil(3*0.5)=2 kept; the rest handed back, in order.
    assert resp["UnprocessedItems"] == {table: first[3:], other: second[2:]}
    direct = make_client(dynalite.endpoint)
    assert keys_in(direct, table) == {"a0", "a1", "a2"}
    assert keys_in(direct, other) == {"b0", "b1"}
    assert (proxy.calls, proxy.partials, proxy.forwarded_items) == (1, 1, 5)
    # Only one call was asked for: the next goes through whole.
    resp = client.batch_write_item(RequestItems=resp["UnprocessedItems"])
    assert resp["UnprocessedItems"] == {}
    assert len(keys_in(direct, table)) == 5 and len(keys_in(direct, other)) == 3
    assert (proxy.calls, proxy.partials, proxy.forwarded_items) == (2, 1, 8)


def test_partial_keep_zero_forwards_nothing(client: Any, proxy: FaultProxy, table: str) -> None:
    batch = [put(f"z{i}") for i in range(4)]
    proxy.partial_next(2, keep=0)
    for _ in range(2):
        resp = client.batch_write_item(RequestItems={table: batch})
        assert resp["UnprocessedItems"] == {table: batch}
        assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert keys_in(client, table) == set()
    assert (proxy.calls, proxy.partials, proxy.forwarded_items) == (2, 2, 0)


def test_partial_keep_one_writes_everything(client: Any, proxy: FaultProxy, table: str) -> None:
    proxy.partial_next(1, keep=1.0)
    resp = client.batch_write_item(RequestItems={table: [put("k1"), put("k2")]})
    assert resp["UnprocessedItems"] == {}
    assert keys_in(client, table) == {"k1", "k2"}


# ---- probabilistic faults ---------------------------------------------------


def expected_hits(p: float, seed: int, n: int) -> int:
    rng = random.Random(seed)
    return sum(rng.random() < p for _ in range(n))


def test_throttle_probability(client: Any, proxy: FaultProxy, table: str) -> None:
    proxy.throttle_probability(0.5, seed=7)
    errors = 0
    for i in range(20):
        try:
            client.batch_write_item(RequestItems={table: [put(f"p{i}")]})
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
            errors += 1
    assert errors == proxy.throttled == expected_hits(0.5, 7, 20)
    assert 0 < errors < 20
    assert len(keys_in(client, table)) == 20 - errors == proxy.forwarded_items
    proxy.throttle_probability(0)
    client.batch_write_item(RequestItems={table: [put("off")]})
    assert proxy.throttled == errors


def test_partial_probability(client: Any, proxy: FaultProxy, table: str) -> None:
    proxy.partial_probability(0.3, keep=0.5, seed=3)
    unprocessed_calls = 0
    for i in range(20):
        resp = client.batch_write_item(RequestItems={table: [put(f"x{i}a"), put(f"x{i}b")]})
        if resp["UnprocessedItems"]:
            assert resp["UnprocessedItems"] == {table: [put(f"x{i}b")]}
            unprocessed_calls += 1
    assert unprocessed_calls == proxy.partials == expected_hits(0.3, 3, 20)
    assert 0 < unprocessed_calls < 20
    assert proxy.forwarded_items == 40 - unprocessed_calls == len(keys_in(client, table))
    proxy.partial_probability(0)
    client.batch_write_item(RequestItems={table: [put("y1"), put("y2")]})
    assert proxy.partials == unprocessed_calls


def test_concurrent_clients_lose_nothing(proxy: FaultProxy, table: str) -> None:
    """Many threads at once through the proxy, retrying unprocessed items by hand."""
    proxy.partial_probability(0.5, keep=0.5, seed=1)
    proxy.throttle_probability(0.2, seed=2)
    errors: list[BaseException] = []

    def worker(w: int) -> None:
        c = make_client(proxy.endpoint)
        try:
            for b in range(3):
                pending: dict[str, Any] = {table: [put(f"w{w}-{b}-{i}") for i in range(10)]}
                for _ in range(50):
                    try:
                        pending = c.batch_write_item(RequestItems=pending)["UnprocessedItems"]
                    except ClientError as exc:
                        assert exc.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
                    if not pending:
                        break
                assert not pending
        except BaseException as exc:  # reported to the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    check = make_client(proxy.endpoint)
    assert len(keys_in(check, table)) == 4 * 3 * 10
    assert proxy.calls == proxy.op_counts["BatchWriteItem"]
    assert proxy.throttled > 0 and proxy.partials > 0
    assert proxy.forwarded_items >= 120


def test_reset_turns_faults_off(client: Any, proxy: FaultProxy, table: str) -> None:
    proxy.throttle_next(5)
    proxy.partial_probability(1.0)
    with pytest.raises(ClientError):
        client.batch_write_item(RequestItems={table: [put("r1")]})
    proxy.reset()
    assert (proxy.calls, proxy.throttled, proxy.partials, proxy.forwarded_items) == (0, 0, 0, 0)
    assert client.batch_write_item(RequestItems={table: [put("r1")]})["UnprocessedItems"] == {}


def test_invalid_fraction_rejected(proxy: FaultProxy) -> None:
    with pytest.raises(ValueError):
        proxy.partial_next(1, keep=1.5)
    with pytest.raises(ValueError):
        proxy.throttle_probability(-0.1)
