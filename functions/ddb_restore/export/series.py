"""Export series: a full export and the incremental exports after it, applied strictly in time order.

Before anything is written the chain is checked: one source table (`tableArn`); a full export first, unless
the caller says the table already holds the state the first incremental starts from (`from_incremental`);
each incremental's `exportFromTime` equal to the `exportToTime` of the one before (or the full export's
`exportTime`). A gap or an overlap means changes would be lost or replayed out of order, so it is an error
naming the two exports, unless `allow_gaps`. Exports given out of order are sorted by their times.
Reverting walks the same chain backwards, newest first, and needs the old images (NEW_AND_OLD_IMAGES).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..errors import SeriesError
from .manifest import Export

__all__ = ["order_series", "revert_series"]


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


def order_series(exports: list[Export], *, allow_gaps: bool = False, from_incremental: bool = False) -> list[Export]:
    """The exports in the order they must be applied; SeriesError when they are not one unbroken series."""
    if len(exports) == 1 and not exports[0].incremental:
        return list(exports)
    tables = {e.summary.get("tableArn") for e in exports}
    if len(tables) > 1:
        first = exports[0]
        other = next(e for e in exports if e.summary.get("tableArn") != first.summary.get("tableArn"))
        raise SeriesError(
            f"{_name(first)} and {_name(other)} come from different tables "
            f"({first.summary.get('tableArn')} and {other.summary.get('tableArn')})"
        )
    fulls = [e for e in exports if not e.incremental]
    if len(fulls) > 1:
        raise SeriesError(
            f"{_name(fulls[0])} and {_name(fulls[1])} are both full exports: a series has one, then incrementals"
        )
    incrementals = sorted(
        (e for e in exports if e.incremental), key=lambda e: _required(e, _start(e), "exportFromTime")
    )
    if not fulls and not from_incremental:
        raise SeriesError(
            f"{_name(incrementals[0])} is an incremental export and no full export comes before it: "
            "give the full export first, or --from-incremental if the table already holds the state it starts from"
        )
    ordered = fulls + incrementals
    for before, after in zip(ordered, ordered[1:], strict=False):
        end = _required(before, _end(before), "exportToTime" if before.incremental else "exportTime")
        start = _required(after, _start(after), "exportFromTime")
        if start == end or allow_gaps:
            continue
        what = "a gap" if start > end else "an overlap"
        raise SeriesError(
            f"{what} between {_name(before)} (up to {end.isoformat()}) and {_name(after)} "
            f"(from {start.isoformat()}): changes would be {'lost' if start > end else 'applied twice'} "
            "(--allow-gaps to apply them anyway)"
        )
    return ordered


def revert_series(exports: list[Export], *, allow_gaps: bool = False) -> list[Export]:
    """The incremental exports to undo, newest first; only NEW_AND_OLD_IMAGES exports can be reverted."""
    for export in exports:
        if not export.incremental:
            raise SeriesError(f"{_name(export)} is a full export: only incremental exports can be reverted")
        view = export.summary.get("outputView") or "NEW_AND_OLD_IMAGES"
        if view != "NEW_AND_OLD_IMAGES":
            raise SeriesError(
                f"{_name(export)} has outputView {view}: without the old images its changes cannot be undone "
                "(only NEW_AND_OLD_IMAGES exports can be reverted)"
            )
    return list(reversed(order_series(exports, allow_gaps=allow_gaps, from_incremental=True)))
