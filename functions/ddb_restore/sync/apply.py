"""The target side of a sync: an export the source made, applied and verified with the engine `run` uses.

The same checks as `ddb-restore run` (restore/plan.py: the table, its key, the first records), the same restore
(restore/runner.py: latest record wins, deletes included), the same report; verify/ for the read-back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..clock import Clock
from ..export.manifest import Export, load_export
from ..export.storage import S3Folder
from ..restore.plan import describe_target, make_plan
from ..restore.progress import Progress
from ..restore.rejects import RejectsFile
from ..restore.report import build_report
from ..restore.runner import RunSettings, restore
from ..retry import RetryPolicy
from ..verify.plan import read_plan
from ..verify.report import summary_line
from ..verify.runner import VerifySettings, verify
from ..write.budget import run_budget

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

__all__ = ["Target", "load_manifest", "apply_export", "verify_exports"]


@dataclass(frozen=True)
class Target:
    """The table a sync writes, and how."""

    client: DynamoDBClient
    table: str
    clock: Clock
    max_wcu: float | None = None
    workers: int = 4
    show: Callable[[str], None] = print


def load_manifest(s3: S3Client, bucket: str, manifest_key: str) -> Export:
    """The export whose manifest-summary.json is at `manifest_key` (as DescribeExport's ExportManifest gives it)."""
    folder = manifest_key.rsplit("/", 1)[0] + "/" if "/" in manifest_key else ""
    return load_export(S3Folder(s3, bucket, folder))


def apply_export(export: Export, target: Target, keep_alive: Callable[[], None]) -> dict[str, Any]:
    """Restore one export into the target; the run's report (`status` "succeeded" or "failed")."""
    clock = target.clock
    started = clock.monotonic()
    table = describe_target(target.client, target.table)
    plan = make_plan([export], table, target.max_wcu)
    for line in plan.lines():
        target.show(line)
    stamp = datetime.fromtimestamp(clock.time(), UTC).strftime("%Y%m%dT%H%M%SZ")
    rejects = RejectsFile(Path(f"rejects-sync-{stamp}.jsonl"))
    settings = RunSettings(
        clock=clock,
        retry=RetryPolicy(clock=clock),
        budget=run_budget(target.max_wcu, clock),
        workers=target.workers,
    )
    try:
        with Progress(plan.items, clock=clock) as progress:

            def tick(items: int, units: int) -> None:
                progress(items, units)
                keep_alive()

            results = restore([export], table, target.client, rejects, settings, tick)
    finally:
        rejects.close()
    return build_report(
        table=table.name,
        exports=[export.url],
        results=results,
        duration_s=clock.monotonic() - started,
        rejects_file=str(rejects.path),
        max_rejects=0,
    )


def verify_exports(exports: list[Export], target: Target, *, exact: bool) -> dict[str, Any]:
    """Verify the target against `exports` (in the order they were applied); the verify report."""
    clock = target.clock
    table = describe_target(target.client, target.table)
    plan = read_plan(exports, consistent=False, sample=None, max_rcu=None)
    for line in plan.lines():
        target.show(line)
    settings = VerifySettings(clock=clock, retry=RetryPolicy(clock=clock), workers=target.workers)
    with Progress(plan.records, clock=clock, unit="RCU") as progress:
        result = verify(exports, table, target.client, settings, progress)
    report = result.report(table.name, exports, sample=None, exact=exact)
    target.show(summary_line(report))
    return report
