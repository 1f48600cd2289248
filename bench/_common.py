"""What the benches share: items of ~1 KB, export folders, measured subprocesses, tables of figures."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from support.sample import summary_document

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PYTHON = sys.executable
DDB_RESTORE = str(Path(sys.executable).with_name("ddb-restore"))
TABLE = "BenchTable"

_WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]
_WORDS += ["india", "juliett", "kilo", "lima", "mike", "november", "oscar", "papa"]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def make_item(i: int, rng: random.Random) -> dict[str, Any]:
    """One item of about 1 KB (DynamoDB size) in DynamoDB JSON, using S, N, B, BOOL, NULL, L, M, SS, NS, BS."""
    words = [rng.choice(_WORDS) for _ in range(60)]
    return {
        "pk": {"S": f"customer#{i % 997:05d}"},
        "sk": {"N": str(i)},
        "name": {"S": f"Item {i} — ünïcødé 日本語"},
        "description": {"S": " ".join(words)[:380]},
        "price": {"N": f"{rng.randint(0, 99999)}.{rng.randint(0, 99):02d}"},
        "quantity": {"N": str(rng.randint(-1000, 1000))},
        "big": {"N": "".join(rng.choice("0123456789") for _ in range(37)) + "1"},
        "ratio": {"N": f"{rng.random():.6f}E-{rng.randint(1, 100)}"},
        "thumbnail": {"B": _b64(rng.randbytes(160))},
        "active": {"BOOL": i % 3 == 0},
        "deleted_at": {"NULL": True},
        "tags": {"SS": sorted({rng.choice(_WORDS) for _ in range(6)})},
        "scores": {"NS": sorted({str(rng.randint(0, 500)) for _ in range(5)})},
        "checksums": {"BS": [_b64(rng.randbytes(8)), _b64(rng.randbytes(12))]},
        "history": {
            "L": [{"M": {"at": {"N": str(1700000000 + i + k)}, "event": {"S": rng.choice(_WORDS)}}} for k in range(4)]
        },
        "address": {
            "M": {
                "street": {"S": f"{rng.randint(1, 999)} {rng.choice(_WORDS).title()} Street"},
                "city": {"S": rng.choice(_WORDS).title()},
                "zip": {"S": f"{rng.randint(10000, 99999)}"},
                "geo": {"L": [{"N": f"{rng.uniform(-90, 90):.5f}"}, {"N": f"{rng.uniform(-180, 180):.5f}"}]},
                "verified": {"BOOL": True},
            }
        },
    }


def few_values_item(i: int, rng: random.Random) -> dict[str, Any]:
    """An item of about the same size as make_item's (~1 KB) in 8 attribute values instead of ~45: most of its
    bytes in one S. For writer_cost.py --mix few: how the item mix moves the ratio of (a) to (b)."""
    return {
        "pk": {"S": f"customer#{i % 997:05d}"},
        "sk": {"N": str(i)},
        "name": {"S": f"Item {i} — ünïcødé"},
        "price": {"N": f"{rng.randint(0, 99999)}.{rng.randint(0, 99):02d}"},
        "active": {"BOOL": i % 3 == 0},
        "tags": {"SS": sorted({rng.choice(_WORDS) for _ in range(3)})},
        "quantity": {"N": str(rng.randint(-1000, 1000))},
        "description": {"S": " ".join(rng.choice(_WORDS) for _ in range(140))[:850]},
    }


def small_item(i: int) -> dict[str, Any]:
    """An item of ~40 bytes (one write unit); every tenth ~2.1 KB (three), so batches do not all cost 25."""
    item = {"pk": {"S": f"k#{i % 4093:04d}"}, "sk": {"N": str(i)}, "v": {"S": f"value {i}"}, "n": {"N": str(i * 7)}}
    if i % 10 == 0:
        item["payload"] = {"S": "p" * 2100}
    return item


def full_lines(items: Sequence[dict[str, Any]] | Iterator[dict[str, Any]]) -> list[str]:
    return [json.dumps({"Item": item}, ensure_ascii=False) for item in items]


def export_fingerprint(lines: Sequence[str], numbers: bool = False) -> int:
    """The sink's fingerprint of these lines' items (`numbers`: numbers compared by value, not text)."""
    from sink import fingerprint_add

    total = 0
    for line in lines:
        total = fingerprint_add(total, json.loads(line)["Item"], numbers)
    return total


def data_files(folder: Path) -> list[Path]:
    return sorted((folder / "data").glob("*.json.gz"))


def write_streamed_export(root: Path, lines: Iterator[str], *, export_id: str = "01700000000000-bench001") -> Path:
    """A one-file full export written line by line (never held in memory), laid out like sample.write_export."""
    prefix = "exports"
    folder = root / prefix / "AWSDynamoDB" / export_id
    (folder / "data").mkdir(parents=True, exist_ok=True)
    key_prefix = f"{prefix}/AWSDynamoDB/{export_id}/"
    name = f"data/{hashlib.sha1(export_id.encode()).hexdigest()[:26]}.json.gz"
    count = raw_bytes = 0
    with open(folder / name, "wb") as out, gzip.GzipFile(fileobj=out, mode="wb", compresslevel=1, mtime=0) as gz:
        buffer: list[bytes] = []
        for line in lines:
            data = (line + "\n").encode()
            buffer.append(data)
            count += 1
            raw_bytes += len(data)
            if len(buffer) >= 2000:
                gz.write(b"".join(buffer))
                buffer.clear()
        gz.write(b"".join(buffer))
    md5 = hashlib.md5()
    with open(folder / name, "rb") as f:
        while chunk := f.read(1 << 20):
            md5.update(chunk)
    manifest = json.dumps(
        {
            "itemCount": count,
            "md5Checksum": _b64(md5.digest()),
            "etag": md5.hexdigest(),
            "dataFileS3Key": key_prefix + name,
        }
    )
    (folder / "manifest-files.json").write_text(manifest + "\n")
    summary = summary_document(export_id, prefix, item_count=count, billed_bytes=raw_bytes)
    (folder / "manifest-summary.json").write_text(json.dumps(summary, indent=2))
    return folder


def dynamodb_client(endpoint: str) -> Any:
    """A DynamoDB client of the bench's own (setting up tables, reading them back) at a local endpoint."""
    import boto3

    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    )


def aws_env(endpoint: str) -> dict[str, str]:
    """The environment of a client process pointed at the sink, with dummy credentials and no user config."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        {
            "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "PYTHONPATH": str(BENCH),
        }
    )
    return env


@dataclass
class Measured:
    rc: int
    wall: float
    user: float
    sys: float
    peak_rss_kb: int  # the process's own VmHWM (see _peak.py), 0 when unknown
    output: str

    @property
    def cpu(self) -> float:
        return self.user + self.sys


def run_measured(cmd: list[str], env: dict[str, str], cwd: Path | None = None) -> Measured:
    """Run the Python script `cmd[0]` (args `cmd[1:]`) to its end under this interpreter, through _peak.py.

    CPU time (user + sys, process start and imports included) comes from wait4; the peak RSS from the
    process's own VmHWM (wait4's ru_maxrss would include this process's RSS: see _peak.py).
    """
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryDirectory(prefix="bench-peak-") as tmp:
        peak_file = Path(tmp) / "peak"
        full = [PYTHON, str(BENCH / "_peak.py"), str(peak_file), *cmd]
        started = time.perf_counter()
        process = subprocess.Popen(full, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        output = out.read()
        peak = int(peak_file.read_text() or 0) if peak_file.exists() else 0
    return Measured(process.returncode, wall, usage.ru_utime, usage.ru_stime, peak, output)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain text table, right-aligned numbers."""
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        lines.append(
            "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        )
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def check_output(measured: Measured, what: str) -> None:
    if measured.rc != 0:
        print(f"{what} exited {measured.rc}:\n{measured.output[-3000:]}", file=sys.stderr)
        raise SystemExit(1)
