"""The rejects output: every record DynamoDB refused or we could not parse, with its file, line and reason.

One JSON object a line: {"file", "line", "reason", "record"}, where "record" is the line exactly as it stood
in the data file, so a fixed record can be replayed. The file is created on the first reject only.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import IO

__all__ = ["RejectsFile"]


class RejectsFile:
    """A thread-safe JSON Lines sink for refused records."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.count = 0
        self.first: str | None = None  # "file:line: reason" of the first reject, for the closing error line
        self._lock = threading.Lock()
        self._out: IO[str] | None = None

    def add(self, file: str, line: int, reason: str, record: bytes) -> None:
        entry = {
            "file": file,
            "line": line,
            "reason": reason,
            "record": record.decode("utf-8", "replace").rstrip("\n"),
        }
        text = json.dumps(entry, ensure_ascii=False) + "\n"
        with self._lock:
            if self._out is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._out = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
            self._out.write(text)
            self._out.flush()
            self.count += 1
            if self.first is None:
                self.first = f"{file}:{line}: {reason}"

    def close(self) -> None:
        with self._lock:
            if self._out is not None:
                self._out.close()
                self._out = None
