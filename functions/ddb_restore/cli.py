"""`ddb-restore`: the command line. Parses arguments, wires clients, prints; the work is in the modules.

The CLI's composition root: `Wiring` (the clock, the client factories) and `_run` (the retry policy and the
write budget) are the only places its defaults are chosen; `main` takes a `Wiring` so tests pass fakes.

Exit status: 0 when every record was applied (or rejected within --max-rejects); 1 when the run wrote and
then failed (a file failed, too many rejects); 2 when nothing was written (bad arguments, a failed check).
`verify` (and `run --verify`): 0 when the table equals the exports, 1 when it differs, 2 when refused before reading.
`sync` and `migrate` (sync/): 0 when the target is current (or nothing was due), 1 when a step failed, 2 when refused.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from . import __version__
from .aws.follow import Snapshot, expand_exports, follow, snapshot, stack_outputs, start_restore
from .aws.state import SyncInput
from .aws.syncrun import follow_sync, outcome, start_sync
from .clock import Clock, SystemClock
from .errors import RestoreError, UsageError
from .export.manifest import Export, load_export
from .export.series import order_series, revert_series
from .export.storage import locate_exports
from .restore.capacity import PARTITION_WCU, capacity_lines, choose_workers, planned_rate, prewarm_target
from .restore.plan import TargetTable, describe_target, make_plan
from .restore.progress import Progress
from .restore.rejects import RejectsFile
from .restore.report import build_report
from .restore.runner import RunSettings, restore
from .restore.spread import FILES_PER_WORKER
from .restore.warm import prewarm as prewarm_table
from .retry import RetryPolicy
from .sync import run_command as run_sync_command
from .transform.options import add_transform_arguments, execution_input, pipeline_from_args
from .verify.plan import read_plan
from .verify.report import summary_line
from .verify.runner import VerifySettings, verify
from .write.budget import run_budget
from .write.clients import dynamodb_client, s3_client

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

__all__ = ["Wiring", "main"]

EXIT_OK, EXIT_FAILED, EXIT_NOT_STARTED = 0, 1, 2
DEFAULT_WORKERS = min(8, (os.cpu_count() or 2) * 2)


@dataclass(frozen=True)
class Wiring:
    """What every command is built from: the clock all waits and deadlines read, and the client factories
    (clients.py's, called with its arguments)."""

    clock: Clock = field(default_factory=SystemClock)
    s3: Callable[..., S3Client] = s3_client
    dynamodb: Callable[..., DynamoDBClient] = dynamodb_client


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be a fraction in (0, 1], got {text}")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ddb-restore",
        description="Restore a DynamoDB Export to S3 into an existing table.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser(
        "run",
        help="restore exports in this process (AWS or any endpoint from AWS_ENDPOINT_URL_*)",
        description="Restore a full export and the incremental exports after it (in time order) into an "
        "existing table, in this process.",
    )
    run.add_argument(
        "--from-incremental",
        action="store_true",
        help="the series starts with an incremental export: the table already holds the state it starts from",
    )
    revert = commands.add_parser(
        "revert",
        help="undo incremental exports (NEW_AND_OLD_IMAGES) in this process, newest first",
        description="Undo what incremental exports changed: put each OldImage back, delete items created in "
        "the window. A series is reverted newest first.",
    )
    for command in (run, revert):
        _add_write_options(command)
        add_transform_arguments(command)
    run.add_argument("--verify", action="store_true", help="after the restore, verify the table (as `verify` does)")
    _add_prewarm_option(run)
    _add_read_options(run)

    check = commands.add_parser(
        "verify",
        help="compare a table with what exports say, item by item (in this process)",
        description="Read back every item the exports leave in the table (the final state of a series) and "
        "compare it exactly; count the table for items the exports do not have.",
    )
    _add_series_options(check)
    check.add_argument(
        "--from-incremental",
        action="store_true",
        help="the series starts with an incremental export: only the keys it changes are checked",
    )
    check.add_argument("--report", type=Path, help="write the JSON report here")
    _add_read_options(check)

    start = commands.add_parser(
        "start",
        help="start a restore in AWS (the deployed state machines) and follow it",
        description="Start the stack's parent state machine for EXPORT(s) in S3, then follow it to the end.",
    )
    start.add_argument("exports", nargs="+", metavar="EXPORT", help="s3:// URL of an export folder or its manifest")
    start.add_argument("--stack-name", required=True, help="the deployed ddb-restore stack")
    start.add_argument("--table", help="the target table (default: the stack's TargetTable)")
    start.add_argument("--max-wcu", type=_positive, help="write units per second for the whole restore")
    start.add_argument("--max-concurrency", type=int, help="data files written at once")
    start.add_argument("--max-rejects", type=_count, help="refused records tolerated")
    start.add_argument("--allow-gaps", action="store_true", help="apply a series with gaps or overlaps")
    start.add_argument("--from-incremental", action="store_true", help="the series starts with an incremental")
    start.add_argument("--verify", action="store_true", help="after the restore, verify the table (verify.json)")
    start.add_argument("--max-rcu", type=_positive, help="read units per second for the whole verify")
    _add_prewarm_option(start)
    _add_reorder_option(start, default=None)
    start.add_argument("--no-wait", action="store_true", help="print the execution ARN and return")
    start.add_argument("--poll-seconds", type=_positive, default=5.0, help="how often to look (default 5)")
    add_transform_arguments(start)

    status = commands.add_parser("status", help="show a restore execution in AWS, running or finished")
    status.add_argument("execution_arn", metavar="EXECUTION_ARN")
    _add_sync_commands(commands)
    return parser


def _add_sync_commands(commands: Any) -> None:
    """`sync` and `migrate`: the source table's own exports, made and applied (sync/ holds the work)."""
    sync = commands.add_parser(
        "sync",
        help="bring a table up to date from its source table's exports (one step)",
        description="Export the source table (FULL the first time, then INCREMENTAL since the watermark) and "
        "apply it to TABLE.",
    )
    migrate = commands.add_parser(
        "migrate",
        help="move a live table: sync until close behind, then --finish after the writes stop",
        description="Sync steps until the lag is at most --lag; with --finish, the last window and an exact verify.",
    )
    # With --stack-name, sync runs in AWS: the source, the bucket and the role are the stack's.
    sync.add_argument("source", metavar="SOURCE_TABLE_ARN", nargs="?", help="(not with --stack-name)")
    sync.add_argument("--table", help="the existing target table (with --stack-name: default the stack's TargetTable)")
    sync.add_argument("--bucket", help="the bucket the exports and the sync state go to (not with --stack-name)")
    sync.add_argument("--stack-name", help="start and follow one execution of this stack's sync state machine")
    migrate.add_argument("source", metavar="SOURCE_TABLE_ARN")
    migrate.add_argument("--table", required=True, help="the existing target table")
    migrate.add_argument("--bucket", required=True, help="the bucket the exports and the sync state go to")
    for command in (sync, migrate):
        command.add_argument("--prefix", default="", help="key prefix of the exports and the state (ending in /)")
        command.add_argument("--source-role-arn", help="a role in the source's account to export with")
        command.add_argument(
            "--min-window", type=_positive, default=900.0, help="shortest incremental window, s (900; lower: emulators)"
        )
        command.add_argument("--max-wcu", type=_positive, help="write units per second for the restores")
        command.add_argument("--workers", type=int, default=min(8, (os.cpu_count() or 2) * 2), help=argparse.SUPPRESS)
        command.add_argument("--poll-seconds", type=_positive, default=10.0, help="DescribeExport every S s (10)")
        command.add_argument("--report", type=Path, help="write the JSON report here")
    sync.add_argument("--format", choices=("DYNAMODB_JSON", "ION"), default="DYNAMODB_JSON", help="export format")
    sync.add_argument("--verify", action="store_true", help="verify the table against each export applied")
    sync.add_argument("--wait", action="store_true", help="when the window is too short, wait for it")
    migrate.add_argument("--lag", type=_positive, default=1800.0, help="catch up until this close behind, s (1800)")
    migrate.add_argument("--finish", action="store_true", help="the writes stopped: last window, exact verify")


def _add_series_options(command: argparse.ArgumentParser) -> None:
    """The options `run`, `revert` and `verify` share: the exports, the table, the workers, the chain (not the
    write budget: verify only reads, and its budget is --max-rcu)."""
    command.add_argument(
        "exports",
        nargs="+",
        metavar="EXPORT",
        help="export folder (local or s3://bucket/.../AWSDynamoDB/<id>/), the s3:// URL of its manifest, "
        "or a folder of exports (a series)",
    )
    command.add_argument("--table", required=True, help="the existing target table")
    command.add_argument(
        "--workers",
        type=int,
        help=f"writer threads, each writing up to {FILES_PER_WORKER} files at once "
        f"(default: min(8, 2 x CPUs) = {DEFAULT_WORKERS}, fewer when the files keep fewer busy)",
    )
    command.add_argument(
        "--allow-gaps",
        action="store_true",
        help="take a series even where an export does not start where the one before ended",
    )


def _add_prewarm_option(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--prewarm",
        action="store_true",
        help="raise an on-demand table's warm throughput to the planned rate before writing (a one-time charge)",
    )


def _add_read_options(command: argparse.ArgumentParser) -> None:
    """The options of a verify (`verify`, and `run --verify`)."""
    command.add_argument("--exact", action="store_true", help="an item in the table the exports lack is a difference")
    command.add_argument("--sample", type=_fraction, metavar="F", help="check this fraction of the keys (by hash)")
    command.add_argument("--max-rcu", type=_positive, help="read units per second for the whole verify")
    command.add_argument("--consistent", action="store_true", help="strongly consistent reads (twice the units)")


def _add_write_options(command: argparse.ArgumentParser) -> None:
    """The options `run` and `revert` share."""
    _add_series_options(command)
    command.add_argument("--max-wcu", type=_positive, help="write units per second for the whole run (default: no cap)")
    command.add_argument("--report", type=Path, help="write the JSON report here")
    command.add_argument("--rejects", type=Path, help="refused records go here (default rejects-<time>.jsonl)")
    command.add_argument("--max-rejects", type=_count, default=0, help="refused records tolerated (default 0)")
    command.add_argument(
        "--retry-seconds",
        type=_positive,
        default=300.0,
        help="longest a batch keeps retrying throttling or server errors without progress (default 300)",
    )
    command.add_argument(
        "--skip-newer",
        metavar="ATTR",
        help="leave an item alone when the table holds a version whose numeric ATTR is larger "
        "(conditional single-item writes: for tables that also take live writes)",
    )
    command.add_argument("--dry-run", action="store_true", help="check everything and print the plan; write nothing")
    _add_reorder_option(command, default=0)


def _add_reorder_option(command: argparse.ArgumentParser, default: int | None) -> None:
    """--reorder-window, for `run` (0) and `start` (None: left out of the input, so the plan's default, 0, holds)."""
    command.add_argument(
        "--reorder-window",
        type=_count,
        default=default,
        metavar="N",
        help="write each file's records N at a time in an order spread over the keyspace, for a target with "
        "more partitions than the source (default 0: file order)",
    )


def _load_exports(args: list[str], wired: Wiring) -> list[Export]:
    s3 = None

    def s3_factory() -> object:
        nonlocal s3
        s3 = s3 or wired.s3(pool=32)
        return s3

    return [load_export(folder) for arg in args for folder in locate_exports(arg, s3_factory)]


def _run(args: argparse.Namespace, wired: Wiring) -> int:
    clock = wired.clock
    started = clock.monotonic()
    reverting = args.command == "revert"
    verifying = getattr(args, "verify", False)  # `revert` has no --verify
    if verifying:
        _check_read_options(args)
    loaded = _load_exports(args.exports, wired)
    if reverting:
        exports = revert_series(loaded, allow_gaps=args.allow_gaps)
    else:
        exports = order_series(loaded, allow_gaps=args.allow_gaps, from_incremental=args.from_incremental)
    client = wired.dynamodb(pool=max(10, (args.workers or DEFAULT_WORKERS) + 2))
    table = describe_target(client, args.table)
    transform = pipeline_from_args(args, table)
    if transform and verifying:
        raise UsageError("--verify compares the table with the exports as they are: it cannot check a transformed copy")
    plan = make_plan(exports, table, args.max_wcu, transform)
    busiest = max((sum(f.item_count > 0 for f in e.files) for e in exports), default=1)
    fleet = choose_workers(args.workers, DEFAULT_WORKERS, busiest, args.max_wcu, table.capacity)
    rate = planned_rate(args.max_wcu, table.capacity, fleet.count * FILES_PER_WORKER, PARTITION_WCU)
    prewarm = getattr(args, "prewarm", False)  # `revert` has no --prewarm
    _print_lines(
        [
            *plan.lines(),
            f"workers: {fleet.count} ({fleet.reason})",
            *capacity_lines(table.name, table.capacity, args.max_wcu, rate, prewarm=prewarm),
        ]
    )
    if args.skip_newer:
        print(
            f"--skip-newer {args.skip_newer}: one conditional PutItem per record instead of 25-item batches "
            "(more requests, same write units); deletes are applied as they are",
            flush=True,
        )
    if args.dry_run:
        print("dry run: nothing written")
        return EXIT_OK
    if prewarm and (target := prewarm_target(table.capacity, rate)):
        prewarm_table(client, table.name, target, _print_line, clock=clock)

    stamp = datetime.fromtimestamp(clock.time(), UTC).strftime("%Y%m%dT%H%M%SZ")
    rejects = RejectsFile(args.rejects or Path(f"rejects-{stamp}.jsonl"))
    settings = RunSettings(
        clock=clock,
        retry=RetryPolicy(clock=clock, max_total=args.retry_seconds),
        budget=run_budget(args.max_wcu, clock),
        workers=fleet.count,
        revert=reverting,
        skip_newer=args.skip_newer,
        transform=transform,
        reorder_window=args.reorder_window,
    )
    try:
        with Progress(plan.items, clock=clock) as progress:
            results = restore(exports, table, client, rejects, settings, progress)
    finally:
        rejects.close()
    report = build_report(
        table=table.name,
        exports=[e.url for e in exports],
        results=results,
        duration_s=clock.monotonic() - started,
        rejects_file=str(rejects.path),
        max_rejects=args.max_rejects,
    )
    _summary(report, rejects)
    status = EXIT_OK if report["status"] == "succeeded" else EXIT_FAILED
    if status == EXIT_OK and verifying:
        report["verify"] = _verify_table(args, exports, table, client, clock)
        status = EXIT_OK if report["verify"]["status"] == "equal" else EXIT_FAILED
    if args.report:
        args.report.write_text(json.dumps(report, indent=2) + "\n")
    return status


def _check_read_options(args: argparse.Namespace) -> None:
    if args.exact and args.sample is not None:
        raise UsageError("--exact needs the table counted, and --sample does not count it: give one of them")


def _verify(args: argparse.Namespace, wired: Wiring) -> int:
    _check_read_options(args)
    exports = order_series(
        _load_exports(args.exports, wired), allow_gaps=args.allow_gaps, from_incremental=args.from_incremental
    )
    client = wired.dynamodb(pool=max(10, (args.workers or DEFAULT_WORKERS) + 2))
    table = describe_target(client, args.table)
    make_plan(exports, table, None)  # the checks `run` makes before it writes: the table, its key, the records
    report = _verify_table(args, exports, table, client, wired.clock)
    if args.report:
        args.report.write_text(json.dumps(report, indent=2) + "\n")
    return EXIT_OK if report["status"] == "equal" else EXIT_FAILED


def _verify_table(
    args: argparse.Namespace, exports: list[Export], table: TargetTable, client: Any, clock: Clock
) -> dict:
    """Print the read plan, verify `table` against `exports`, print the one line; the report document."""
    plan = read_plan(exports, consistent=args.consistent, sample=args.sample, max_rcu=args.max_rcu)
    for line in plan.lines():
        print(line, flush=True)
    settings = VerifySettings(
        clock=clock,
        retry=RetryPolicy(clock=clock, max_total=getattr(args, "retry_seconds", 300.0)),
        workers=args.workers or DEFAULT_WORKERS,
        consistent=args.consistent,
        sample=args.sample,
        max_rcu=args.max_rcu,
    )
    with Progress(plan.records, clock=clock, unit="RCU") as progress:
        result = verify(exports, table, client, settings, progress)
    report = result.report(table.name, exports, sample=args.sample, exact=args.exact)
    print(summary_line(report), flush=True)
    return report


def _summary(report: dict, rejects: RejectsFile) -> None:
    print(
        f"{report['status']}: {report['items_put']:,} put, {report['items_deleted']:,} deleted, "
        f"{report['items_rejected']:,} rejected of {report['items_expected']:,} records in "
        f"{report['files_done']}/{report['files']} files; {report['write_units']:,} write units, "
        f"{report['throttle_retries']:,} of {report['write_calls']:,} write calls throttled "
        f"({report['throttled_share']:.1%}), {report['unprocessed_retries']:,} handed back in part, "
        f"{report['duration_s']:.1f} s"
    )
    if report["items_rejected"]:
        print(f"rejects: {rejects.path} (first: {rejects.first})")
    for error in report["errors"]:
        print(f"error: {error}", file=sys.stderr)


def _print_line(line: str) -> None:
    print(line, flush=True)


def _print_lines(lines: list[str]) -> None:
    for line in lines:
        _print_line(line)


def _show_snapshot(snap: Snapshot) -> None:
    print(snap.line(), file=sys.stderr, flush=True)


def _finish(snap: Snapshot) -> int:
    """Print how an execution ended and return the exit status."""
    if snap.report:
        print(
            f"{snap.report['status']}: {snap.report['items_put']:,} put, {snap.report['items_deleted']:,} deleted, "
            f"{snap.report['items_rejected']:,} rejected of {snap.report['items_expected']:,} records in "
            f"{snap.report['files_done']}/{snap.report['files']} files"
        )
        for error in snap.report.get("errors", []):
            print(f"error: {error}", file=sys.stderr)
    if snap.verify:
        print(summary_line(snap.verify))
    if snap.status == "SUCCEEDED":
        return EXIT_OK
    if snap.status == "RUNNING":
        return EXIT_OK
    cause = snap.cause or ""
    with contextlib.suppress(ValueError, AttributeError):  # a Lambda error's cause is its JSON error payload
        cause = json.loads(cause).get("errorMessage", cause)
    print(f"error: execution {snap.status}: {snap.error or ''}: {cause}".rstrip(": "), file=sys.stderr)
    return EXIT_FAILED


def _start(args: argparse.Namespace, wired: Wiring) -> int:
    import boto3  # only start and status need it: `run` goes without (clients.py says why)

    session = boto3.session.Session()
    outputs = stack_outputs(session.client("cloudformation"), args.stack_name)
    sfn = session.client("stepfunctions")
    options = {
        "table": args.table,
        "maxWcu": args.max_wcu,
        "maxConcurrency": args.max_concurrency,
        "maxRejects": args.max_rejects,
        "allowGaps": args.allow_gaps or None,
        "fromIncremental": args.from_incremental or None,
        "verify": args.verify or None,
        "maxRcu": args.max_rcu,
        "prewarm": args.prewarm or None,
        "reorderWindow": args.reorder_window,
    }
    s3 = wired.s3(session)
    exports = expand_exports(args.exports, s3)
    options.update(execution_input(args, exports[0].removeprefix("s3://").split("/")[0]))
    arn = start_restore(sfn, outputs["ParentStateMachineArn"], exports, options, wired.clock)
    print(f"started {arn}", flush=True)
    if args.no_wait:
        return EXIT_OK
    snap = follow(sfn, s3, arn, _show_snapshot, clock=wired.clock, interval=args.poll_seconds, show_plan=_print_lines)
    return _finish(snap)


def _status(args: argparse.Namespace, wired: Wiring) -> int:
    import boto3

    session = boto3.session.Session()
    snap = snapshot(session.client("stepfunctions"), wired.s3(session), args.execution_arn)
    _print_lines(snap.plan or [])
    print(snap.line())
    return _finish(snap)


def _sync_in_aws(args: argparse.Namespace, wired: Wiring) -> int:
    """`sync --stack-name`: one execution of the stack's sync state machine, started and followed to its end."""
    import boto3

    local_only = (args.source, args.bucket, args.prefix, args.source_role_arn, args.max_wcu, args.wait)
    if any(local_only) or args.min_window != 900.0 or args.format != "DYNAMODB_JSON":
        raise UsageError(
            "with --stack-name the source, bucket, prefix, role, window and format are the stack's (SourceTableArn, "
            "ExportBucketName, ExportPrefix, SourceRoleArn, ...) and its schedule does the waiting: give --table, "
            "--verify, --poll-seconds, --report only"
        )
    session = boto3.session.Session()
    outputs = stack_outputs(session.client("cloudformation"), args.stack_name)
    if "SyncStateMachineArn" not in outputs:
        raise UsageError(f"stack {args.stack_name!r} has no sync state machine: deploy it with SourceTableArn")
    sfn = session.client("stepfunctions")
    given: SyncInput = {"table": args.table} if args.table else {}
    if args.verify:
        given["verify"] = True
    arn = start_sync(sfn, outputs["SyncStateMachineArn"], given, wired.clock)
    print(f"started {arn}", flush=True)
    described = follow_sync(
        sfn,
        wired.s3(session),
        arn,
        _print_line,
        clock=wired.clock,
        interval=args.poll_seconds,
        show_snapshot=_show_snapshot,
    )
    status, line = outcome(described)
    if status == EXIT_OK:
        print(line, flush=True)
    else:
        print(f"error: {line}", file=sys.stderr)
    if args.report:
        report = {name: described.get(name) for name in ("executionArn", "status", "error", "cause")}
        report["output"] = json.loads(described.get("output") or "null")
        args.report.write_text(json.dumps(report, indent=2) + "\n")
    return status


def main(argv: Sequence[str] | None = None, wiring: Wiring | None = None) -> int:
    args = build_parser().parse_args(argv)
    wired = wiring or Wiring()
    try:
        if args.command == "start":
            return _start(args, wired)
        if args.command == "status":
            return _status(args, wired)
        if args.command == "verify":
            return _verify(args, wired)
        if args.command == "sync" and args.stack_name:
            return _sync_in_aws(args, wired)
        if args.command in ("sync", "migrate"):
            return run_sync_command(args, clock=wired.clock, s3=wired.s3, dynamodb=wired.dynamodb)
        return _run(args, wired)  # run and revert
    except RestoreError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_NOT_STARTED
    except (ClientError, BotoCoreError) as err:
        print(f"error: AWS: {err}", file=sys.stderr)
        return EXIT_NOT_STARTED
    except KeyboardInterrupt:
        print("interrupted: re-run the same command to finish (writes are idempotent)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
