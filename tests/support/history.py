"""A simulated table history for series tests: a full export's state, then windows of changes as incremental
export records (inserts, updates, deletes, re-inserts, keys with two records in one window)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from support.sample import full_records, write_export
from support.tables import KEYS

TABLE_ARN = "arn:aws:dynamodb:us-east-1:111122223333:table/History"
TIMES = ["2024-05-01T10:00:00.000Z", "2024-05-01T10:15:00.000Z", "2024-05-01T10:30:00.000Z", "2024-05-01T10:45:00.000Z"]

Item = dict[str, Any]


def item(pk: str, sk: int, version: int, **extra: Any) -> Item:
    return {"pk": {"S": pk}, "sk": {"N": str(sk)}, "version": {"N": str(version)}, **extra}


def key(i: Item) -> tuple[str, str]:
    return (i["pk"]["S"], i["sk"]["N"])


def change(old: Item | None, new: Item | None, micros: int, keys_of: Item) -> str:
    record: dict[str, Any] = {
        "Metadata": {"WriteTimestampMicros": {"N": str(micros)}},
        "Keys": {k: keys_of[k] for k in KEYS},
    }
    if old is not None:
        record["OldImage"] = old
    if new is not None:
        record["NewImage"] = new
    return json.dumps(record)


class History:
    """A table's life: a full export at TIMES[0], then one incremental export per window."""

    def __init__(self) -> None:
        self.state: dict[tuple[str, str], Item] = {}
        for n in range(40):
            i = item(f"user#{n % 7}", n, 1, blob={"B": "AP8A/w=="}, big={"N": "12345678901234567890123456789012345678"})
            self.state[key(i)] = i
        self.snapshots = [dict(self.state)]
        self.windows: list[list[str]] = []
        self.micros = 1_714_557_600_000_000

    def window(self, updates: list[int], deletes: list[int], inserts: list[int], twice: list[int]) -> None:
        """Apply one window of changes; `twice` keys are updated twice, the older record written after the newer."""
        lines: list[str] = []
        for n in updates + inserts:
            k = (f"user#{n % 7}", str(n))
            old = self.state.get(k)
            new = item(k[0], n, (int(old["version"]["N"]) + 1) if old else 1, note={"S": f"window {len(self.windows)}"})
            self.micros += 10
            lines.append(change(old, new, self.micros, new))
            self.state[k] = new
        for n in deletes:
            k = (f"user#{n % 7}", str(n))
            old = self.state.pop(k)
            self.micros += 10
            lines.append(change(old, None, self.micros, old))
        for n in twice:
            k = (f"user#{n % 7}", str(n))
            old = self.state[k]
            first = item(k[0], n, 90, note={"S": "first of two"})
            last = item(k[0], n, 91, note={"S": "second of two"})
            self.micros += 10
            older = change(old, first, self.micros, old)
            self.micros += 10
            newer = change(first, last, self.micros, old)
            lines[0:0] = [newer, older]  # newer at position 0 (file 0), older at 1 (file 1): order is not time
            self.state[k] = last
        self.windows.append(lines)
        self.snapshots.append(dict(self.state))


def write_series(root: Path, history: History) -> list[Path]:
    """The history as exports under `root`: the full export of its first state, then one incremental per window
    (two data files each, NEW_AND_OLD_IMAGES), in time order."""
    full = full_records(history.snapshots[0].values())
    folders = [write_export(root, full, export_id="01714557600000-full", table_arn=TABLE_ARN)]
    for n, lines in enumerate(history.windows):
        folders.append(
            write_export(
                root,
                lines,
                export_id=f"0171455{n + 1}000000-inc{n + 1}",
                table_arn=TABLE_ARN,
                files=2,
                empty_files=0,
                incremental={
                    "exportFromTime": TIMES[n],
                    "exportToTime": TIMES[n + 1],
                    "outputView": "NEW_AND_OLD_IMAGES",
                },
            )
        )
    return folders
