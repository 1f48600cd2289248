"""Building and breaking export folders for the CLI tests."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any


def data_files(folder: Path) -> list[Path]:
    """The export's data files in manifest order."""
    lines = (folder / "manifest-files.json").read_text().splitlines()
    keys = [json.loads(line)["dataFileS3Key"] for line in lines]
    # A full export's files are in its own data/ folder, an incremental's in the shared AWSDynamoDB/data/.
    return [(folder if f"/{folder.name}/data/" in key else folder.parent) / "data" / Path(key).name for key in keys]


def rewrite_manifest(folder: Path, change: Callable[[list[dict[str, Any]]], None]) -> None:
    """Edit manifest-files.json entries in place and keep the checksum files and summary consistent with it,
    so a test breaks exactly one thing."""
    path = folder / "manifest-files.json"
    entries = [json.loads(line) for line in path.read_text().splitlines()]
    change(entries)
    data = ("\n".join(json.dumps(e) for e in entries) + "\n").encode()
    path.write_bytes(data)
    for name in ("manifest-files.md5", "manifest-files.checksum"):
        (folder / name).unlink(missing_ok=True)
    (folder / "manifest-files.md5").write_text(hashlib.md5(data).hexdigest())
    summary = json.loads((folder / "manifest-summary.json").read_text())
    summary["itemCount"] = sum(e["itemCount"] for e in entries)
    summary_bytes = json.dumps(summary).encode()
    (folder / "manifest-summary.json").write_bytes(summary_bytes)
    for name in ("manifest-summary.md5", "manifest-summary.checksum"):
        (folder / name).unlink(missing_ok=True)
