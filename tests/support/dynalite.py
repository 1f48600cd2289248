"""Run a real dynalite (DynamoDB-compatible) server for tests.

Why: moto answers in-process and never behaves like a network service; dynalite
is a separate process speaking the real DynamoDB JSON protocol over HTTP, with
DynamoDB's own validation rules, so tests exercise botocore end to end.

Usage::

    with Dynalite() as d:
        client = boto3.client("dynamodb", endpoint_url=d.endpoint, ...)

Install it with ``npm install`` at the repo root (see package.json).
Note: dynalite only accepts table names of 3+ characters, and it implements
only the core operations (no DescribeContinuousBackups, no ImportTable...).
"""

from __future__ import annotations

import atexit
import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO

REPO_ROOT = Path(__file__).resolve().parents[2]
DYNALITE_BIN = REPO_ROOT / "node_modules" / ".bin" / "dynalite"


# Servers still running when Python exits (a test forgot stop(), Ctrl-C...) are killed then.
_RUNNING: set[Dynalite] = set()


@atexit.register
def _stop_all() -> None:
    for server in list(_RUNNING):
        server.stop()


class DynaliteError(RuntimeError):
    """Raised when dynalite is missing or does not come up."""


def free_port() -> int:
    """Return a loopback TCP port that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class Dynalite:
    """A dynalite server on a free loopback port, killed on exit.

    Tables become ACTIVE at once (create/delete/update delays are 0 ms), and the
    data lives in memory only, so every instance starts empty.
    """

    def __init__(
        self,
        *,
        startup_timeout: float = 20.0,
        extra_args: Sequence[str] = (),
        binary: Path | None = None,
    ) -> None:
        self.startup_timeout = startup_timeout
        self.extra_args = list(extra_args)
        self.binary = binary or DYNALITE_BIN
        self.port: int | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def endpoint(self) -> str:
        """The URL to pass as boto3's ``endpoint_url``."""
        if self.port is None:
            raise DynaliteError("dynalite is not running")
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Dynalite:
        """Start the server and wait until its port accepts connections."""
        if self.process is not None:
            return self
        if not self.binary.exists():
            raise DynaliteError(f"dynalite not installed: run npm install (looked for {self.binary})")
        last_error = ""
        # A port picked free can be grabbed by someone else before dynalite binds it: retry.
        for _ in range(3):
            error = self._try_start(free_port())
            if error is None:
                _RUNNING.add(self)
                return self
            last_error = error
            if "EADDRINUSE" not in error:
                break
        raise DynaliteError(last_error)

    def _try_start(self, port: int) -> str | None:
        """Start on ``port``; None when it is up, else a message with dynalite's output."""
        log = tempfile.TemporaryFile()  # noqa: SIM115 - outlives this call, closed by stop()
        cmd = [
            str(self.binary),
            "--port", str(port),
            "--host", "127.0.0.1",
            "--createTableMs", "0",
            "--deleteTableMs", "0",
            "--updateTableMs", "0",
            *self.extra_args,
        ]  # fmt: skip
        try:
            proc = subprocess.Popen(
                cmd,
                cwd=REPO_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        except OSError as exc:
            log.close()
            return f"dynalite could not start ({exc}); is node installed? run npm install"
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                error = f"dynalite exited with code {proc.returncode} before listening:\n{_read(log)}"
                log.close()
                return error
            if _port_open(port):
                self.process, self.port, self._log = proc, port, log
                return None
            time.sleep(0.05)
        _kill(proc)
        error = f"dynalite did not listen on port {port} within {self.startup_timeout} s:\n{_read(log)}"
        log.close()
        return error

    def stop(self) -> None:
        """Kill the server (its in-memory data goes with it)."""
        _RUNNING.discard(self)
        if self.process is not None:
            _kill(self.process)
            self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None
        self.port = None

    def output(self) -> str:
        """What dynalite printed so far (stdout and stderr), for debugging."""
        return _read(self._log) if self._log is not None else ""

    def __enter__(self) -> Dynalite:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def _read(log: IO[bytes]) -> str:
    # pread, not seek+read: the child shares the file offset, moving it would make it overwrite.
    fd = log.fileno()
    return os.pread(fd, os.fstat(fd).st_size, 0).decode("utf-8", "replace")
