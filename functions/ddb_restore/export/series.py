"""Export series: a full export and the incremental exports after it, applied in order of their end times.

Before anything is written the chain is checked: one source table (`tableArn`); a full export first, unless
the caller says the table already holds the state the first incremental starts from (`from_incremental`).
Every moment from the full export's `exportTime` to the last `exportToTime` must lie in some incremental's window
[`exportFromTime`, `exportToTime`): a gap loses the changes made in it, so it is an error that names the missing
window and the export command that fills it, unless `allow_gaps`. Overlaps lose nothing: an incremental holds each
changed item's state at its end, so applying exports in order of their end times leaves every item as of the last
one (the plan says which exports overlap). An incremental that ends before the full export would undo newer
changes: refused. Reverting applies the old images newest start first, and needs NEW_AND_OLD_IMAGES.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ..errors import SeriesError
from .manifest import Export

__all__ = ["order_series", "overlaps", "revert_series"]

# AWS exports incremental windows of 15 minutes to 24 hours.
MIN_INCREMENTAL_WINDOW = timedelta(minutes=15)


def _time(value: Any) -> datetime | None:
    """A manifest time: ISO 8601 text (as in manifest-summary.json) or epoch seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=UTC)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _start(export: Export) -> datetime | None:
    return _time(export.summary.get("exportFromTime")) if export.incremental else None


def _end(export: Export) -> datetime | None:
    key = "exportToTime" if export.incremental else "exportTime"
    return _time(export.summary.get(key))


def _name(export: Export) -> str:
    return export.url.rstrip("/").rsplit("/", 1)[-1]


def _required(export: Export, moment: datetime | None, field: str) -> datetime:
    if moment is None:
        raise SeriesError(f"{export.url}: manifest-summary.json has no usable {field}: the series cannot be ordered")
    return moment


def _export_command(export: Export, start: datetime, end: datetime) -> str:
    """The AWS CLI call that exports [start, end), at least the 15 minutes AWS requires (an overlap is safe)."""
    end = max(end, start + MIN_INCREMENTAL_WINDOW)
    summary = export.summary
    prefix = f" --s3-prefix {summary['s3Prefix']}" if summary.get("s3Prefix") else ""
    return (
        f"aws dynamodb export-table-to-point-in-time --table-arn {summary.get('tableArn') or '<table ARN>'} "
        f"--s3-bucket {summary.get('s3Bucket') or '<bucket>'}{prefix} --export-type INCREMENTAL_EXPORT "
        f"--incremental-export-specification ExportFromTime={_iso(start)},ExportToTime={_iso(end)},"
        f"ExportViewType=NEW_AND_OLD_IMAGES"
    )


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _check_table(exports: list[Export]) -> None:
    first = exports[0]
    other = next((e for e in exports if e.summary.get("tableArn") != first.summary.get("tableArn")), None)
    if other is not None:
        raise SeriesError(
            f"{_name(first)} and {_name(other)} come from different tables "
            f"({first.summary.get('tableArn')} and {other.summary.get('tableArn')})"
        )


def order_series(exports: list[Export], *, allow_gaps: bool = False, from_incremental: bool = False) -> list[Export]:
    """The exports in the order they must be applied; SeriesError when they leave a gap or are not one series."""
    if len(exports) == 1 and not exports[0].incremental:
        return list(exports)
    _check_table(exports)
    fulls = [e for e in exports if not e.incremental]
    if len(fulls) > 1:
        raise SeriesError(
            f"{_name(fulls[0])} and {_name(fulls[1])} are both full exports: a series has one, then incrementals"
        )
    incrementals = [e for e in exports if e.incremental]
    windows = {
        id(e): (_required(e, _start(e), "exportFromTime"), _required(e, _end(e), "exportToTime")) for e in incrementals
    }
    if not fulls and not from_incremental:
        first = min(incrementals, key=lambda e: windows[id(e)])
        raise SeriesError(
            f"{_name(first)} is an incremental export and no full export comes before it: "
            "give the full export first, or --from-incremental if the table already holds the state it starts from"
        )
    reached: tuple[Export, datetime] | None = None
    if fulls:
        reached = (fulls[0], _required(fulls[0], _end(fulls[0]), "exportTime"))
        stale = next((e for e in incrementals if windows[id(e)][1] <= reached[1]), None)
        if stale is not None:
            raise SeriesError(
                f"{_name(stale)} ends at {_iso(windows[id(stale)][1])}, before the full export {_name(fulls[0])} "
                f"({_iso(reached[1])}): its changes are older than the full export's and would undo newer ones; "
                "leave it out"
            )
    for export in sorted(incrementals, key=lambda e: windows[id(e)]):
        start, end = windows[id(export)]
        if reached is not None and start > reached[1] and not allow_gaps:
            before, until = reached
            raise SeriesError(
                f"a gap between {_name(before)} (up to {_iso(until)}) and {_name(export)} (from {_iso(start)}): "
                f"the changes made from {_iso(until)} to {_iso(start)} are in neither export. Export that window "
                f"and add it to the series: {_export_command(before, until, start)} (or --allow-gaps to apply "
                "the exports anyway, losing those changes)"
            )
        if reached is None or end > reached[1]:
            reached = (export, end)
    return fulls + sorted(incrementals, key=lambda e: windows[id(e)][1])


def overlaps(exports: list[Export]) -> list[str]:
    """For the plan: each incremental whose window starts before one that ends earlier has ended."""
    by_end = sorted(exports, key=lambda e: (e.incremental, _end(e) or datetime.min.replace(tzinfo=UTC)))
    notes = []
    for i, export in enumerate(by_end):
        start = _start(export)
        earlier = next((e for e in by_end[:i] if start is not None and start < (_end(e) or start)), None)
        if start is not None and earlier is not None:
            end = _required(earlier, _end(earlier), "its end time")
            notes.append(
                f"{_name(export)} overlaps {_name(earlier)} by {(end - start).total_seconds():,.0f} s "
                "(applied after it, in order of end times: nothing is lost)"
            )
    return notes


def revert_series(exports: list[Export], *, allow_gaps: bool = False) -> list[Export]:
    """The incremental exports to undo, latest start first; only NEW_AND_OLD_IMAGES exports can be reverted.

    Each export's old images are its items' states at its start: undoing the latest-starting export first and the
    earliest last leaves every item as it was when the series began, overlaps included.
    """
    for export in exports:
        if not export.incremental:
            raise SeriesError(f"{_name(export)} is a full export: only incremental exports can be reverted")
        view = export.summary.get("outputView") or "NEW_AND_OLD_IMAGES"
        if view != "NEW_AND_OLD_IMAGES":
            raise SeriesError(
                f"{_name(export)} has outputView {view}: without the old images its changes cannot be undone "
                "(only NEW_AND_OLD_IMAGES exports can be reverted)"
            )
    ordered = order_series(exports, allow_gaps=allow_gaps, from_incremental=True)
    return sorted(ordered, key=lambda e: _required(e, _start(e), "exportFromTime"), reverse=True)
