"""`ddb-restore sync` and `ddb-restore migrate` as commands: the job built from the options, the one-line
outcome, the report file and the exit status (0 current or nothing due, 1 a step failed, 2 refused).

The clock and the client factories come from the CLI's composition root (cli.Wiring): the source's DynamoDB client
is made from the `--source-role-arn` session when one is given, the target's and the bucket's from this process's
own credentials.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..clock import Clock
from ..errors import UsageError
from ..write.clients import role_session
from .apply import Target
from .exports import ExportTarget
from .migrate import Migration, catch_up, finish, step_when_due
from .state import iso
from .step import StepResult, SyncJob, sync_step

__all__ = ["run_command"]

EXIT_OK, EXIT_FAILED = 0, 1


def _show(text: str) -> None:
    print(text, flush=True)


def _bucket_owner(role_arn: str | None) -> str | None:
    """The bucket's account for S3BucketOwner: this process's own, when the source is another account's."""
    if not role_arn:
        return None
    import boto3  # STS with this process's own credentials

    own = str(boto3.client("sts").get_caller_identity()["Account"])
    return own if own != role_arn.split(":")[4] else None


def _job(args: Any, clock: Clock, s3: Callable[..., Any], dynamodb: Callable[..., Any]) -> SyncJob:
    if not (args.source and args.table and args.bucket):
        raise UsageError("sync needs SOURCE_TABLE_ARN, --table and --bucket (or --stack-name, to sync in AWS)")
    if not re.fullmatch(r"arn:aws[a-z-]*:dynamodb:[a-z0-9-]+:[0-9]{12}:table/[a-zA-Z0-9_.-]{3,255}", args.source):
        raise UsageError(
            f"{args.source}: give the source table's ARN (arn:aws:dynamodb:<region>:<account>:table/<name>): "
            "exports are asked for by ARN"
        )
    session = role_session(args.source_role_arn, "ddb-restore-sync") if args.source_role_arn else None
    prefix = args.prefix or ""
    return SyncJob(
        source=args.source,
        source_client=dynamodb(session),
        s3=s3(pool=32),
        exports=ExportTarget(
            bucket=args.bucket,
            prefix=prefix if not prefix or prefix.endswith("/") else prefix + "/",
            export_format=getattr(args, "format", "DYNAMODB_JSON"),
            bucket_owner=_bucket_owner(args.source_role_arn),
        ),
        target=Target(
            client=dynamodb(pool=max(10, args.workers + 2)),
            table=args.table,
            clock=clock,
            max_wcu=args.max_wcu,
            workers=args.workers,
            show=_show,
        ),
        min_window=args.min_window,
        verify=getattr(args, "verify", False),
        poll=args.poll_seconds,
    )


def _step_line(job: SyncJob, result: StepResult, now: float) -> str:
    table = job.target.table
    if result.status == "not due":
        due = result.due_at or now
        return (
            f"{table} is current to {result.watermark_before}; the next window can be exported at {iso(due)} "
            f"(in {max(due - now, 0):,.0f} s, --min-window {job.min_window:,.0f} s): nothing to do now"
        )
    if result.status == "applied" and result.restore and result.export:
        return (
            f"{table} synced from {job.source}: {result.export.get('ExportType')} export "
            f"{result.export['ExportArn'].rsplit('/', 1)[-1]} applied ({result.restore['items_put']:,} put, "
            f"{result.restore['items_deleted']:,} deleted); watermark {result.watermark_before} → "
            f"{result.watermark_after}, lag {result.lag(now) or 0:,.0f} s"
        )
    return f"{table}: the sync step failed; the watermark stays at {result.watermark_before}"


def _write_report(path: Path | None, report: dict[str, Any]) -> None:
    if path:
        path.write_text(json.dumps(report, indent=2, default=str) + "\n")


def _sync(job: SyncJob, args: Any) -> int:
    result = (step_when_due if args.wait else sync_step)(job, _show)
    now = job.target.clock.time()
    _show(_step_line(job, result, now))
    for error in result.errors:
        print(f"error: {error}", file=sys.stderr)
    _write_report(args.report, result.report(job, now))
    return EXIT_FAILED if result.status == "failed" else EXIT_OK


def _migrate(job: SyncJob, args: Any) -> int:
    migration: Migration = finish(job, _show) if args.finish else catch_up(job, args.lag, _show)
    now = job.target.clock.time()
    for result in migration.steps:
        _show(_step_line(job, result, now))
        for error in result.errors:
            print(f"error: {error}", file=sys.stderr)
    _write_report(
        args.report,
        {
            "status": "failed" if migration.failed else "succeeded",
            "source": job.source,
            "table": job.target.table,
            "steps": [s.report(job, now) for s in migration.steps],
            "verify": migration.verify,
        },
    )
    if migration.failed:
        if migration.verify is not None:
            print(f"error: {job.target.table} differs from the exports of {job.source}: do not switch", file=sys.stderr)
        return EXIT_FAILED
    last = migration.steps[-1]
    if args.finish:
        _show(f"{job.target.table} equals {job.source} as of {migration.equal_as_of}: switch your application")
    else:
        _show(
            f"{job.target.table} is {last.lag(now) or 0:,.0f} s behind {job.source} (at most --lag {args.lag:,.0f} s): "
            "now stop the writes to the source, then run the same command with --finish"
        )
    return EXIT_OK


def run_command(args: Any, *, clock: Clock, s3: Callable[..., Any], dynamodb: Callable[..., Any]) -> int:
    """`sync` or `migrate` (args.command) with the parsed options; the exit status. Refusals raise SyncRefused."""
    job = _job(args, clock, s3, dynamodb)
    return _migrate(job, args) if args.command == "migrate" else _sync(job, args)
