"""Results of files and runs added up, and the report document (the same fields in the CLI and in AWS)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..write.writer import WriteCounts

__all__ = ["FileResult", "build_report"]


@dataclass
class FileResult:
    export: str  # the export folder's URL
    file: str  # the data file's URL
    item_count: int  # as the manifest says
    status: str = "pending"  # pending, done, failed, skipped
    line: int = 0  # cursor: lines applied or rejected so far
    error: str | None = None
    counts: WriteCounts = field(default_factory=WriteCounts)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FileResult:
        counts = WriteCounts(**{f: data.get(f, 0) for f in WriteCounts().as_dict()})
        return cls(
            data["export"], data["file"], data["item_count"], data["status"], data["lines_done"], data["error"], counts
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "export": self.export,
            "file": self.file,
            "status": self.status,
            "item_count": self.item_count,
            "lines_done": self.line,
            "error": self.error,
            **self.counts.as_dict(),
        }


def build_report(
    *,
    table: str,
    exports: list[str],
    results: list[FileResult],
    duration_s: float,
    rejects_file: str | None,
    max_rejects: int,
) -> dict[str, Any]:
    """The run's report. `status` is succeeded only when every file is done and rejects stay within the limit."""
    total = WriteCounts()
    for result in results:
        total.add(result.counts)
    failed = [r for r in results if r.status != "done"]
    errors = [f"{r.file}: {r.error}" for r in results if r.error]
    if total.items_rejected > max_rejects:
        errors.append(f"{total.items_rejected} record(s) rejected, more than --max-rejects {max_rejects}")
    return {
        "status": "failed" if failed or total.items_rejected > max_rejects else "succeeded",
        "table": table,
        "exports": exports,
        "files": len(results),
        "files_done": sum(r.status == "done" for r in results),
        "files_failed": sum(r.status == "failed" for r in results),
        "files_skipped": sum(r.status == "skipped" for r in results),
        "items_expected": sum(r.item_count for r in results),
        **total.as_dict(),
        # calls refused whole ÷ calls sent: what CloudWatch's ThrottledRequests counts for BatchWriteItem (its
        # WriteThrottleEvents also counts each write handed back: unprocessed_retries counts those calls)
        "throttled_share": round(total.throttle_retries / total.write_calls, 4) if total.write_calls else 0.0,
        "duration_s": round(duration_s, 3),
        "rejects_file": rejects_file if total.items_rejected else None,
        "max_rejects": max_rejects,
        "errors": errors,
        "file_results": [r.as_dict() for r in results],
    }
