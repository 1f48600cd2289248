"""The verify report document and its one line.

`status` is "equal" when nothing is missing and nothing differs (and, `exact`, when the table holds no item
the exports do not name); "different" otherwise. `extra` = counted − (expected present − missing): the items
the table holds that the exports do not have (a key the series deletes yet present is counted apart, in
`deleted_present`). With `--sample` nothing is counted: `table_count` and `extra` are null.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .tally import Tally

__all__ = ["build_report", "summary_line"]


def build_report(
    *,
    table: str,
    exports: Sequence[str],
    tally: Tally,
    table_count: int | None,
    expected: int,
    sample: float | None,
    exact: bool,
    duration_s: float,
) -> dict[str, Any]:
    """`expected`: the items the whole series leaves in the table (before any sample)."""
    extra = None
    if table_count is not None:
        extra = max(0, table_count - (tally.checked - tally.missing) - tally.deleted_present)
    differs = tally.missing or tally.different or tally.deleted_present or (exact and extra)
    return {
        "status": "different" if differs else "equal",
        "table": table,
        "exports": list(exports),
        "exact": exact,
        "sample": sample,
        "items_expected": expected,
        "items_checked": tally.checked,
        "items_equal": tally.equal,
        "missing": tally.missing,
        "missing_keys": tally.missing_keys,
        "different": tally.different,
        "different_items": tally.different_items,
        "deletes_checked": tally.deletes_checked,
        "deleted_present": tally.deleted_present,
        "deleted_present_keys": tally.deleted_present_keys,
        "records_rejected": tally.records_rejected,
        "table_count": table_count,
        "extra": extra,
        "read_units": round(tally.read_units, 1),
        "unprocessed_retries": tally.unprocessed_retries,
        "throttle_retries": tally.throttle_retries,
        "duration_s": round(duration_s, 3),
    }


def summary_line(report: dict[str, Any]) -> str:
    """e.g. `verified: 1,000 of 1,000 items equal; 0 missing, 0 different, 2 extra (in the table, not in the
    exports)`."""
    line = (
        f"verified: {report['items_equal']:,} of {report['items_checked']:,} items equal; "
        f"{report['missing']:,} missing, {report['different']:,} different, "
    )
    if report["extra"] is None:
        line += "extra not counted (--sample)"
    else:
        line += f"{report['extra']:,} extra (in the table, not in the exports)"
    if report["deletes_checked"]:
        present = report["deleted_present"]
        line += f"; {report['deletes_checked'] - present:,} of {report['deletes_checked']:,} deleted keys absent"
    if report["sample"] is not None:
        line += f"; a {report['sample']:.2%} sample of {report['items_expected']:,} items"
    return line + f"; {report['read_units']:,.0f} read units, {report['duration_s']:.1f} s"
