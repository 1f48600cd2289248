"""Memory (issue 6, part 3): the writer's peak RSS on one large data file stays small and flat.

One gzip data file of MB megabytes uncompressed (~2 KB items of mixed types, written as a stream: never held
in memory) is restored by `ddb-restore run --workers 1` into bench/sink.py (which counts the items it gets
and keeps nothing). The child's peak RSS is its own VmHWM (bench/_peak.py; wait4's ru_maxrss would count this
process's RSS too). The baseline, in the same run, is the same command on a 1 MB file of the same items: the
difference is what the file's size costs.
A run that succeeds has read the whole file and checked its MD5 and its count against the manifest.

    .venv/bin/python bench/memory.py [--mb 200] [--reorder-window 0]     # the issue's case: --mb 1024

Target (issue 6): peak RSS < 256 MB for a 1 GB file.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # support.sample: the export writer

from _common import (  # noqa: E402
    DDB_RESTORE,
    TABLE,
    Measured,
    aws_env,
    check_output,
    data_files,
    run_measured,
    table,
    write_streamed_export,
)
from sink import Sink  # noqa: E402

TARGET_MB = 256
_TEMPLATES = 64


def _bodies() -> list[str]:
    """JSON text of item bodies without their keys (the part after `{"Item":{pk,sk,`)."""
    rng = random.Random(7)
    bodies = []
    for n in range(_TEMPLATES):
        body = {
            "description": {"S": "".join(rng.choice("abcdefghij klmnopqrst uvwxyz éü日") for _ in range(1500))},
            "thumbnail": {"B": __import__("base64").b64encode(rng.randbytes(200)).decode()},
            "price": {"N": f"{rng.randint(0, 99999)}.{rng.randint(0, 99):02d}"},
            "active": {"BOOL": n % 2 == 0},
            "tags": {"SS": sorted({f"t{rng.randint(0, 50)}" for _ in range(4)})},
            "scores": {"NS": sorted({str(rng.randint(0, 500)) for _ in range(3)})},
            "address": {"M": {"city": {"S": "Lyon"}, "geo": {"L": [{"N": "45.76"}, {"N": "4.83"}]}}},
        }
        bodies.append(json.dumps(body, ensure_ascii=False)[1:])  # drop the opening brace
    return bodies


def lines(target_bytes: int, counter: list[int]) -> Iterator[str]:
    """Lines until about `target_bytes` of JSON (UTF-8); counter[0] ends as the number of lines."""
    bodies = _bodies()
    written = 0
    i = 0
    while written < target_bytes:
        line = f'{{"Item":{{"pk":{{"S":"customer#{i % 997:05d}"}},"sk":{{"N":"{i}"}},{bodies[i % _TEMPLATES]}}}'
        written += len(line.encode()) + 1
        i += 1
        yield line
    counter[0] = i


def restore(folder: Path, work: Path, sink: Sink, tag: str, window: int) -> tuple[Measured, dict]:
    report_path = work / f"report-{tag}.json"
    cmd = [DDB_RESTORE, "run", str(folder), "--table", TABLE, "--workers", "1", "--reorder-window", str(window)]
    cmd += ["--report", str(report_path), "--rejects", str(work / f"rejects-{tag}.jsonl")]
    sink.reset()
    measured = run_measured(cmd, aws_env(sink.endpoint))
    check_output(measured, f"ddb-restore run ({tag})")
    return measured, sink.stats() | {"report": json.loads(report_path.read_text())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=float, default=200, help="uncompressed size of the data file in MB (200)")
    parser.add_argument("--reorder-window", type=int, default=0, help="ddb-restore run --reorder-window (0)")
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp, Sink(track=False) as sink:
        work = Path(tmp)
        results = {}
        for tag, mb in (("baseline", 1.0), ("large", args.mb)):
            count = [0]
            folder = write_streamed_export(work / tag, lines(int(mb * 1e6), count), export_id=f"01700000000000-{tag}")
            gz_mb = data_files(folder)[0].stat().st_size / 1e6
            measured, stats = restore(folder, work, sink, tag, args.reorder_window)
            report = stats["report"]
            verified = report["status"] == "succeeded" and report["files_done"] == 1 and stats["items"] == count[0]
            results[tag] = measured
            rows.append(
                (
                    f"{mb:,.0f} MB file ({tag})",
                    count[0],
                    gz_mb,
                    measured.wall,
                    measured.cpu,
                    count[0] / measured.cpu,
                    mb / measured.wall,
                    measured.peak_rss_kb / 1024,
                    "yes" if verified else f"NO ({report['status']}, sink got {stats['items']:,})",
                )
            )
            for path in data_files(folder):
                path.unlink()  # the next file may be large: do not keep both on disk

    print(
        table(
            [
                "data file",
                "items",
                "gzip MB",
                "wall s",
                "CPU s",
                "items/CPU-s",
                "MB/wall-s",
                "peak RSS MB",
                "MD5+count checked, all written",
            ],
            rows,
        )
    )
    big, small = results["large"].peak_rss_kb / 1024, results["baseline"].peak_rss_kb / 1024
    print(f"\npeak RSS: {big:,.0f} MB for {args.mb:,.0f} MB vs {small:,.0f} MB for 1 MB: +{big - small:,.1f} MB")
    print(
        f"\nSUMMARY memory: peak RSS {big:,.0f} MB on a {args.mb:,.0f} MB file ({big / small:.2f}x the 1 MB baseline); "
        f"target < {TARGET_MB} MB: {'MET' if big < TARGET_MB else 'NOT MET'}"
        + ("" if args.mb >= 1000 else " (at this size; the issue's case is --mb 1024)")
    )


if __name__ == "__main__":
    main()
