"""The DynamoDB client's HTTP transport: botocore's own, minus urllib3, for the writer's plain requests.

Why: a BatchWriteItem of 25 items cost ~1.6 ms of CPU through botocore, of which ~0.55 ms was urllib3's
machinery around http.client (pool lookup and URL parsing, Retry and Timeout objects, header dicts, its
response wrapper) for a request that is one POST of a body already in memory on a keep-alive connection:
~22 µs an item, a sixth of the writer's whole cost (bench/writer_cost.py; bench/README.md). `LeanHTTPSession`
sends such requests with http.client directly, one keep-alive connection per thread and endpoint.
Everything else stays botocore's: the request is built, signed and handed to `before-send` hooks (moto's,
the tests' faults) by botocore's Endpoint before it gets here; the response is parsed and errors raised by
botocore; the settings (CA bundle or `verify`, timeouts, socket options, proxies, client certificate) are
those botocore gave the session it replaces.

Anything outside that narrow case goes to botocore's URLLib3Session unchanged: a proxy for the URL, a client
certificate, `verify=False`, a streamed body or response, chunked encoding, a per-request timeout. Errors are
raised as the botocore exceptions URLLib3Session raises for the same failure, so retry.classify and the
writer treat them as they always did.

It reads a few private attributes of botocore's session (`_verify`, `_timeout`, ...). `use_lean_http` checks
they exist and otherwise leaves the client as it is: a botocore that changed them gets the slower path, not a
broken one; tests/test_transport.py then fails, so that CI, which installs the newest botocore, says so.
"""

from __future__ import annotations

import http.client
import logging
import os
import select
import socket
import ssl
import threading
from collections.abc import Callable, Mapping
from typing import Any, cast
from urllib.parse import urlsplit

from botocore.awsrequest import AWSPreparedRequest, AWSRequest, AWSResponse
from botocore.compat import HTTPHeaders
from botocore.exceptions import (
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    HTTPClientError,
    ReadTimeoutError,
    SSLError,
)
from botocore.httpsession import DEFAULT_TIMEOUT, URLLib3Session, get_cert_path

__all__ = ["LeanHTTPSession", "use_lean_http"]

logger = logging.getLogger(__name__)

# What LeanHTTPSession reads of the URLLib3Session it takes over (see the module docstring).
_NEEDS = ("_verify", "_timeout", "_cert_file", "_proxy_config", "_socket_options")
_NEEDS_METHODS = ("_get_ssl_context", "_get_request_timeout", "_chunked")


class _Body:
    """The response's bytes, read whole, in the shape AWSResponse.content reads them (`raw.stream()`)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Any:
        yield self.data


class LeanHTTPSession(URLLib3Session):
    """botocore's URLLib3Session, sending plain requests through http.client (see the module docstring)."""

    _local: threading.local
    _opened: list[http.client.HTTPConnection]
    _opened_lock: threading.Lock
    _tls: ssl.SSLContext | None
    # URLLib3Session's own, read here (_NEEDS, _NEEDS_METHODS), missing from botocore's type stubs.
    _verify: bool | str
    _timeout: Any
    _cert_file: str | None
    _proxy_config: Any
    _socket_options: list[tuple[int, int, int]]
    _get_ssl_context: Callable[[], ssl.SSLContext]
    _get_request_timeout: Callable[[AWSRequest | AWSPreparedRequest], Any]
    _chunked: Callable[[Any], bool]

    @classmethod
    def replacing(cls, session: URLLib3Session) -> LeanHTTPSession:
        """A lean session with the settings (and, for the fallback, the pools) of `session`."""
        lean = cls.__new__(cls)
        lean.__dict__.update(session.__dict__)
        lean._local = threading.local()
        lean._opened = []
        lean._opened_lock = threading.Lock()
        lean._tls = None
        return lean

    def send(self, request: AWSRequest | AWSPreparedRequest) -> AWSResponse:
        address, method = request.url, request.method
        if address is None or method is None or not self._direct(request, address):
            return super().send(request)
        url = urlsplit(address)  # a str: so are the parts
        target = (url.path or "/") + (f"?{url.query}" if url.query else "")
        connection = self._connection(url.scheme, url.hostname or "", url.port)
        if connection.sock is None:
            self._connect(connection, address)  # raises botocore's errors itself: some are OSErrors too
        try:
            body = cast(bytes | None, request.body)  # _direct sent anything else to urllib3
            connection.request(method, target, body=body, headers=cast(Mapping[str, str], request.headers))
            response = connection.getresponse()
            data = response.read()
        except ssl.SSLError as err:
            connection.close()
            raise SSLError(endpoint_url=address, error=err) from None
        except TimeoutError as err:
            connection.close()
            raise ReadTimeoutError(endpoint_url=address, error=err) from None
        except (http.client.HTTPException, ConnectionError) as err:  # closed, reset, broken pipe, bad status line
            connection.close()
            raise ConnectionClosedError(error=err, request=request, endpoint_url=address) from None
        except OSError as err:
            connection.close()
            raise HTTPClientError(error=err) from None
        headers = cast(HTTPHeaders, response.getheaders())  # AWSResponse makes its case-insensitive dict of them
        return AWSResponse(address, response.status, headers, _Body(data))

    def close(self) -> None:
        with self._opened_lock:
            opened, self._opened = self._opened, []
        for connection in opened:
            connection.close()
        super().close()

    def _direct(self, request: AWSRequest | AWSPreparedRequest, url: str) -> bool:
        """Whether http.client can send this request with the same meaning as urllib3 would."""
        return (
            isinstance(request.body, (bytes, type(None)))
            and not request.stream_output
            and self._cert_file is None
            and not (self._verify is False and url.startswith("https:"))
            and not self._chunked(request.headers)
            and self._get_request_timeout(request) is None
            and not self._proxy_config.proxy_url_for(url)
        )

    def _connection(self, scheme: str, host: str, port: int | None) -> http.client.HTTPConnection:
        """This thread's keep-alive connection to the endpoint; one the server has closed is opened anew."""
        connections: dict[tuple[str, str, int | None], http.client.HTTPConnection]
        connections = self._local.__dict__.setdefault("connections", {})
        connection = connections.get((scheme, host, port))
        if connection is None:
            if scheme == "https":
                connection = http.client.HTTPSConnection(host, port, context=self._tls_context())
            else:
                connection = http.client.HTTPConnection(host, port)
            connections[(scheme, host, port)] = connection
            with self._opened_lock:
                self._opened.append(connection)
        elif connection.sock is not None and _dropped(connection.sock):
            connection.close()  # idle too long: the server hung up (as urllib3 checks before reusing one)
        return connection

    def _connect(self, connection: http.client.HTTPConnection, url: str) -> None:
        connect_timeout, read_timeout = _timeouts(self._timeout)
        connection.timeout = connect_timeout
        try:
            connection.connect()
        except ssl.SSLError as err:
            connection.close()
            raise SSLError(endpoint_url=url, error=err) from None
        except TimeoutError as err:
            connection.close()
            raise ConnectTimeoutError(endpoint_url=url, error=err) from None
        except OSError as err:  # refused, unreachable, name not resolved
            connection.close()
            raise EndpointConnectionError(endpoint_url=url, error=err) from None
        assert connection.sock is not None
        for option in self._socket_options:
            connection.sock.setsockopt(*option)
        connection.sock.settimeout(read_timeout)

    def _tls_context(self) -> ssl.SSLContext:
        """botocore's TLS context, verifying the server against botocore's CA bundle (or the configured one)."""
        if self._tls is None:
            context = self._get_ssl_context()
            context.verify_mode = ssl.CERT_REQUIRED
            context.check_hostname = True
            path = str(get_cert_path(self._verify))  # type: ignore[arg-type]  # stubs say bool; a path is fine
            if os.path.isdir(path):
                context.load_verify_locations(capath=path)
            else:
                context.load_verify_locations(cafile=path)
            self._tls = context
        return self._tls


def _timeouts(timeout: Any) -> tuple[float, float]:
    """(connect, read) seconds from URLLib3Session's timeout: a number, or urllib3's Timeout (whose parts can
    be a "not set" marker: botocore's default then, never None, which would wait forever)."""
    if isinstance(timeout, (int, float)):
        return float(timeout), float(timeout)
    connect, read = timeout.connect_timeout, timeout.read_timeout
    return (
        float(connect) if isinstance(connect, (int, float)) else DEFAULT_TIMEOUT,
        float(read) if isinstance(read, (int, float)) else DEFAULT_TIMEOUT,
    )


def _dropped(sock: socket.socket) -> bool:
    """An idle keep-alive socket that is readable has been closed by the server (or sent what nobody asked).
    poll, not select: select cannot watch a descriptor numbered 1024 or more."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


def use_lean_http(client: Any) -> bool:
    """Put a LeanHTTPSession in `client`'s endpoint; False (the client left as it is) when botocore's
    session is not the URLLib3Session this was written against."""
    endpoint = getattr(client, "_endpoint", None)
    session = getattr(endpoint, "http_session", None)
    if type(session) is not URLLib3Session or not all(hasattr(session, name) for name in _NEEDS + _NEEDS_METHODS):
        logger.debug("botocore's HTTP session is not the expected URLLib3Session: kept as it is")
        return False
    endpoint.http_session = LeanHTTPSession.replacing(session)  # type: ignore[union-attr]
    return True
