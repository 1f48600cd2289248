"""transport.py: the DynamoDB client's requests sent by http.client mean what botocore's urllib3 path means.

Why: the writer's every BatchWriteItem goes through LeanHTTPSession. These tests talk to a real local server
(HTTP and HTTPS, over sockets): the bytes on the wire, keep-alive and a server hanging up, timeouts, refused
connections, TLS verification and the cases left to urllib3 (a proxy), each compared with botocore's own path.
"""

from __future__ import annotations

import datetime
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    ReadTimeoutError,
    SSLError,
)
from botocore.httpsession import URLLib3Session

from ddb_restore.retry import classify
from ddb_restore.write.clients import dynamodb_client
from ddb_restore.write.transport import LeanHTTPSession, use_lean_http

REQUEST = {"T": [{"PutRequest": {"Item": {"pk": {"S": "a"}, "n": {"N": "1.50"}, "b": {"B": b"\x00\xff"}}}}]}
THROTTLED = {
    "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
    "message": "too fast",
}


class Server:
    """A local DynamoDB-ish endpoint recording what it gets. `mode`: "ok", "hang-up" (answer, then close the
    connection without saying so), "slow" (answer after 1 s), "throttle" (HTTP 400), "proxy" (as "ok"; the
    request line shows whether it came as a proxy's absolute-form target)."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.mode = "ok"
        self.requests: list[dict[str, Any]] = []
        self.connections = 0
        self.closed = 0  # connections the server has closed (its socket shut down)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                outer.connections += 1
                super().setup()

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.requests.append({"target": self.path, "headers": dict(self.headers), "body": body})
                if outer.mode == "slow":
                    time.sleep(1.0)
                status, payload = (400, THROTTLED) if outer.mode == "throttle" else (200, {"UnprocessedItems": {}})
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.0")
                self.send_header("X-Amzn-RequestId", f"req-{len(outer.requests)}")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                if outer.mode == "hang-up":
                    self.close_connection = True

            def log_message(self, *args: Any) -> None:
                pass

        class HTTPServer(ThreadingHTTPServer):
            def shutdown_request(self, request: Any) -> None:
                super().shutdown_request(request)
                outer.closed += 1

        self.httpd = HTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        scheme = "https" if tls else "http"
        self.endpoint = f"{scheme}://localhost:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.close()


def client_for(endpoint: str, lean: bool = True, verify: bool | str | None = None, **config: Any) -> Any:
    """A DynamoDB client with no retries; `lean`: with LeanHTTPSession put in (and it must be)."""
    client = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="y",
        verify=verify,
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}, **config),
    )
    if lean:
        assert use_lean_http(client)
    return client


def test_the_writers_client_uses_the_lean_session_on_this_botocore() -> None:
    """If botocore changed what transport.py reads, use_lean_http would quietly keep urllib3: say so here."""
    client = dynamodb_client(endpoint_url="http://127.0.0.1:9")
    assert type(client._endpoint.http_session) is LeanHTTPSession


def test_a_request_is_the_same_on_the_wire_and_its_response_parsed_the_same(server: Server) -> None:
    lean = client_for(server.endpoint).batch_write_item(RequestItems=REQUEST)
    plain = client_for(server.endpoint, lean=False).batch_write_item(RequestItems=REQUEST)

    sent_lean, sent_plain = server.requests
    assert sent_lean["body"] == sent_plain["body"]
    assert sent_lean["target"] == sent_plain["target"] == "/"
    differ = {"Authorization", "X-Amz-Date", "amz-sdk-invocation-id", "User-Agent", "Accept-Encoding"}
    assert {k: v for k, v in sent_lean["headers"].items() if k not in differ} == {
        k: v for k, v in sent_plain["headers"].items() if k not in differ
    }
    assert sent_lean["headers"]["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=x/")
    assert lean["UnprocessedItems"] == plain["UnprocessedItems"] == {}
    assert lean["ResponseMetadata"]["RequestId"] == "req-1"  # headers read case-insensitively
    assert lean["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_calls_share_one_keep_alive_connection(server: Server) -> None:
    client = client_for(server.endpoint)
    for _ in range(5):
        client.batch_write_item(RequestItems=REQUEST)
    assert len(server.requests) == 5
    assert server.connections == 1


def test_a_connection_the_server_closed_while_idle_is_opened_anew(server: Server) -> None:
    server.mode = "hang-up"
    client = client_for(server.endpoint)
    for calls in range(1, 4):
        client.batch_write_item(RequestItems=REQUEST)
        deadline = time.monotonic() + 10
        while server.closed < calls and time.monotonic() < deadline:  # the server hangs up after answering,
            time.sleep(0.01)  # and its FIN reaches the idle connection before the next call, as in real life
        assert server.closed == calls
    assert len(server.requests) == 3
    assert server.connections == 3


def test_an_error_response_is_botocores_client_error(server: Server) -> None:
    server.mode = "throttle"
    with pytest.raises(ClientError) as caught:
        client_for(server.endpoint).batch_write_item(RequestItems=REQUEST)
    assert caught.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
    assert classify(caught.value) == "throttle"


def test_a_read_timeout_is_botocores_and_retryable(server: Server) -> None:
    server.mode = "slow"
    with pytest.raises(ReadTimeoutError) as caught:
        client_for(server.endpoint, read_timeout=0.2).batch_write_item(RequestItems=REQUEST)
    assert classify(caught.value) == "server"


def test_a_refused_connection_is_botocores_and_retryable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connections are refused
        with pytest.raises(EndpointConnectionError) as caught:
            client_for(f"http://127.0.0.1:{port}").batch_write_item(RequestItems=REQUEST)
    assert classify(caught.value) == "server"


def test_a_server_that_hangs_up_mid_request_is_a_closed_connection() -> None:
    listener = socket.create_server(("127.0.0.1", 0))

    def accept_and_drop() -> None:
        connection, _ = listener.accept()
        connection.recv(65536)
        connection.close()

    threading.Thread(target=accept_and_drop, daemon=True).start()
    try:
        with pytest.raises(ConnectionClosedError) as caught:
            client_for(f"http://127.0.0.1:{listener.getsockname()[1]}").batch_write_item(RequestItems=REQUEST)
    finally:
        listener.close()
    assert classify(caught.value) == "server"


def test_a_configured_proxy_is_left_to_urllib3(server: Server) -> None:
    client = client_for("http://dynamodb.example.invalid:8000", proxies={"http": server.endpoint})
    client.batch_write_item(RequestItems=REQUEST)
    assert server.requests[0]["target"] == "http://dynamodb.example.invalid:8000/"  # a proxy's absolute form
    assert type(client._endpoint.http_session) is LeanHTTPSession


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for localhost and its key, written as PEM files (the certificate is its own CA)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


def test_https_verifies_the_server_against_the_configured_ca_bundle(tmp_path: Path) -> None:
    cert_file, key_file = _self_signed(tmp_path)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert_file, key_file)
    server = Server(tls)
    try:
        trusted = client_for(server.endpoint, verify=str(cert_file))
        assert trusted.batch_write_item(RequestItems=REQUEST)["UnprocessedItems"] == {}

        with pytest.raises(SSLError):  # botocore's default CA bundle does not know this certificate
            client_for(server.endpoint).batch_write_item(RequestItems=REQUEST)
        assert len(server.requests) == 1
    finally:
        server.close()


def test_a_session_other_than_urllib3s_is_left_alone() -> None:
    client = client_for("http://127.0.0.1:9", lean=False)
    client._endpoint.http_session = LeanHTTPSession.replacing(client._endpoint.http_session)
    assert not use_lean_http(client)  # already replaced (or replaced by someone else): not wrapped twice
    assert isinstance(client._endpoint.http_session, URLLib3Session)
