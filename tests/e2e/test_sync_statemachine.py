"""The sync state machine end to end: the real sync, parent and child ASL run by moto's Step Functions interpreter,
the sync and restore Lambdas in-process, the source's exports made by the export double (support/exportdouble.py),
which answers the `aws-sdk:dynamodb:exportTableToPointInTime` and `describeExport` Tasks (support/sfn_local.py's
route_sdk_tasks) and the plan's PITR check.

Time is real here (the Lambdas' clock is the system's): the shortest window is 1 s for the double and the plan, the
Wait between two DescribeExport calls 1 s, and an export takes the double 0.5 s, so every sync goes once round the
Wait and DescribeExport loop.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from ddb_restore.aws.handlers import _common
from ddb_restore.cli import main
from ddb_restore.clock import SystemClock
from ddb_restore.sync.lease import Lease
from ddb_restore.sync.state import StateStore
from support import source_writes
from support.compare import diff_tables, scan_items
from support.exportdouble import ExportDouble
from support.sfn_local import (
    LocalAws,
    deploy_template,
    failure_events,
    local_aws,
    new_containers,
    publish_stack,
    wait_for_execution,
)
from support.tables import KEYS

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
BUCKET = "sync-exports"
PREFIX = "sync/"
STATE_KEY = f"{PREFIX}ddb-restore/sync/Target.json"
SOURCE_ROLE = "arn:aws:iam::111122223333:role/exporter"
EXPORT_CALLS = ("export_table_to_point_in_time", "describe_export")


class ShiftedClock(SystemClock):
    """The system's clock, moved on by `shift` seconds: the double's, so a test can finish an export at once."""

    shift = 0.0

    def time(self) -> float:
        return super().time() + self.shift


@dataclass
class World:
    aws: LocalAws
    double: ExportDouble
    clock: ShiftedClock
    app: Any  # the source's own writer
    source_arn: str
    deploy: Callable[..., Any]
    sdk_hooks: dict[str, Callable[..., None]]  # botocore event → handler, on every aws-sdk Task's client

    def state(self) -> dict[str, Any]:
        return dict(json.loads(boto3.client("s3").get_object(Bucket=BUCKET, Key=STATE_KEY)["Body"].read()))

    def equal(self) -> list[str]:
        return diff_tables(scan_items(self.app, "Source"), scan_items(self.app, "Target"), KEYS)

    def start(self, deployed: Any, **given: Any) -> str:
        sfn = boto3.client("stepfunctions")
        arn = deployed.state_machine_arns["SyncStateMachine"]
        return str(sfn.start_execution(stateMachineArn=arn, input=json.dumps(given))["executionArn"])

    def sync(self, deployed: Any, **given: Any) -> dict[str, Any]:
        sfn = boto3.client("stepfunctions")
        execution = wait_for_execution(sfn, self.start(deployed, **given), timeout=180)
        if execution["status"] != "SUCCEEDED":
            execution["failures"] = failure_events(sfn, execution["executionArn"])
        return execution

    def export_calls(self) -> list[Any]:
        return [c for c in self.aws.sdk_calls if c.action in EXPORT_CALLS]


@pytest.fixture
def world() -> Iterator[World]:
    clock = ShiftedClock()
    doubles: list[ExportDouble] = []

    hooks: dict[str, Callable[..., None]] = {}

    def prepare(service: str, client: Any) -> Any:
        for event, handler in hooks.items():
            client.meta.events.register(event, handler)
        return doubles[0].attach(client) if service == "dynamodb" else client

    with local_aws(prepare_sdk_client=prepare) as aws:
        new_containers()
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        double = ExportDouble(s3, clock=clock, min_window=1, export_seconds=0.5)
        doubles.append(double)
        for role in (None, SOURCE_ROLE):
            double.attach(_common.dynamodb_as(role))  # the plan Lambda's source client (PITR checked)
        app = double.attach(boto3.client("dynamodb"))
        arn = source_writes.seed(app)

        def deploy(min_window: str = "1", lease: str = "21600", **parameters: str) -> Any:
            plan_env = {"SYNC_MIN_WINDOW": min_window, "SYNC_POLL_SECONDS": "1", "SYNC_LEASE_SECONDS": lease}
            overrides = {
                "SyncPlanFunction": {"Environment": {"Variables": plan_env}},
                "SyncRecordFunction": {"Environment": {"Variables": {"SYNC_LEASE_SECONDS": lease}}},
            }
            given = {"ExportBucketName": BUCKET, "ExportPrefix": PREFIX, "TargetTable": "Target", "SourceTableArn": arn}
            return deploy_template(TEMPLATE, {**given, **parameters}, overrides)

        yield World(aws, double, clock, app, arn, deploy, hooks)


def changes(world: World, start: int) -> None:
    """One window's changes of every kind; then the shortest window passes."""
    source_writes.changes(world.app, start)
    time.sleep(1.1)


def test_a_first_sync_is_full_and_a_later_one_incremental_with_deletes(world: World) -> None:
    deployed = world.deploy()
    first = world.sync(deployed)
    assert first["status"] == "SUCCEEDED", first
    assert first["output"]["status"] == "applied" and "FULL_EXPORT export" in first["output"]["message"]
    assert first["output"]["itemsPut"] == 40
    assert world.equal() == []
    state = world.state()
    assert state["source"] == world.source_arn and state["lease"] is None and state["pending"] is None
    assert [e["exportType"] for e in state["exports"]] == ["FULL_EXPORT"]
    assert state["watermark"] == state["exports"][0]["exportTime"] == first["output"]["watermarkAfter"]
    started = world.double.started[0]
    assert (started["ExportType"], started["S3Prefix"], started["S3BucketOwner"]) == (
        "FULL_EXPORT",
        "sync",
        "123456789012",
    )
    calls = world.export_calls()
    assert [(c.action, c.role_arn) for c in calls] == [
        ("export_table_to_point_in_time", None),
        ("describe_export", None),
    ]

    changes(world, 10)
    second = world.sync(deployed)
    assert second["status"] == "SUCCEEDED", second
    assert "INCREMENTAL_EXPORT export" in second["output"]["message"]
    assert (second["output"]["itemsPut"], second["output"]["itemsDeleted"]) == (3, 1)
    assert world.equal() == []
    exports = world.state()["exports"]
    assert exports[1]["exportFromTime"] == exports[0]["exportTime"]
    assert world.state()["watermark"] == exports[1]["exportToTime"]
    assert world.double.started[1]["IncrementalExportSpecification"]["ExportViewType"] == "NEW_AND_OLD_IMAGES"


def test_a_window_too_short_ends_nothing_due_without_an_export(world: World) -> None:
    deployed = world.deploy(min_window="3600")
    assert world.sync(deployed)["status"] == "SUCCEEDED"
    changes(world, 10)
    execution = world.sync(deployed)
    assert execution["status"] == "SUCCEEDED", execution
    output = execution["output"]
    assert output["status"] == "not due" and "nothing to do now" in output["message"]
    assert output["watermark"] == world.state()["watermark"] and output["nextStepAt"] > output["watermark"]
    assert len(world.double.started) == 1 and world.state()["lease"] is None
    assert world.equal() != []  # the changes wait for the next window


def test_a_failed_export_leaves_the_watermark_and_the_next_sync_retries_the_window(world: World) -> None:
    deployed = world.deploy()
    assert world.sync(deployed)["status"] == "SUCCEEDED"
    watermark = world.state()["watermark"]
    changes(world, 10)
    world.double.fail_next("S3_ERROR", "access denied")
    failed = world.sync(deployed)
    assert (failed["status"], failed["error"]) == ("FAILED", "SyncFailed"), failed
    assert "S3_ERROR access denied" in failed["cause"] and f"the watermark stays at {watermark}" in failed["cause"]
    state = world.state()
    assert (state["watermark"], state["pending"], state["lease"], len(state["exports"])) == (watermark, None, None, 1)
    again = world.sync(deployed)
    assert again["status"] == "SUCCEEDED", again
    assert world.state()["exports"][1]["exportFromTime"] == watermark
    assert world.equal() == []


def test_a_retried_execution_finds_the_same_export_by_its_client_token(world: World) -> None:
    deployed = world.deploy(lease="2")
    assert world.sync(deployed)["status"] == "SUCCEEDED"
    changes(world, 10)
    world.double.export_seconds = 600  # this export stays IN_PROGRESS: the execution loops on DescribeExport
    sfn = boto3.client("stepfunctions")
    arn = world.start(deployed)
    deadline = time.monotonic() + 30
    while len([c for c in world.export_calls() if c.action == "describe_export"]) < 2:
        assert time.monotonic() < deadline, "the sync never described its export"
        time.sleep(0.1)
    sfn.stop_execution(executionArn=arn)  # killed between export and apply: its lease stays
    pending = world.state()["pending"]
    assert pending["clientToken"] and world.state()["lease"]["holder"] == arn.rsplit(":", 1)[-1]
    assert len(world.double.started) == 2

    world.clock.shift = 600  # the export is done now
    time.sleep(2)  # and the dead execution's lease has expired
    resumed = world.sync(deployed)
    assert resumed["status"] == "SUCCEEDED", resumed
    assert len(world.double.started) == 2  # the same export, found by its token: none started twice
    tokens = [c.parameters["ClientToken"] for c in world.export_calls() if c.action != "describe_export"]
    assert tokens[-2] == tokens[-1] == pending["clientToken"]
    assert world.state()["pending"] is None and len(world.state()["exports"]) == 2
    assert world.equal() == []


def test_a_held_lease_refuses_a_second_sync(world: World) -> None:
    deployed = world.deploy()
    store = StateStore(boto3.client("s3"), BUCKET, STATE_KEY)
    running = Lease.take(store, world.source_arn, "Target", SystemClock())
    refused = world.sync(deployed)
    assert (refused["status"], refused["error"]) == ("FAILED", "SyncRefused"), refused
    assert "another sync of Target is running" in json.loads(refused["cause"])["errorMessage"]
    assert world.double.started == [] and world.export_calls() == []
    running.release()
    assert world.sync(deployed)["status"] == "SUCCEEDED"
    assert world.equal() == []


def test_the_export_tasks_run_as_the_source_role_when_one_is_given(world: World) -> None:
    execution = world.sync(world.deploy(SourceRoleArn=SOURCE_ROLE))
    assert execution["status"] == "SUCCEEDED", execution
    calls = world.export_calls()
    assert [(c.action, c.role_arn) for c in calls] == [
        ("export_table_to_point_in_time", SOURCE_ROLE),
        ("describe_export", SOURCE_ROLE),
    ]
    assert world.equal() == []


def test_the_cli_starts_and_follows_one_sync_in_the_stack(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    publish_stack(world.deploy(min_window="60"), "sam-app")
    argv = ["sync", "--stack-name", "sam-app", "--poll-seconds", "0.2"]
    running = Lease.take(StateStore(boto3.client("s3"), BUCKET, STATE_KEY), world.source_arn, "Target", SystemClock())
    code = main(argv)
    _, err = capsys.readouterr()
    assert code == 2 and "error: sync execution FAILED: SyncRefused: another sync of Target is running" in err
    running.release()

    world.double.fail_next("S3_ERROR", "access denied")
    code = main(argv)
    _, err = capsys.readouterr()
    assert code == 1 and "error: sync execution FAILED: SyncFailed: Target: export" in err and "S3_ERROR" in err

    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 0, out + err
    lines = out.splitlines()
    assert lines[0].startswith("started arn:aws:states:us-east-1:123456789012:execution:sam-app-sync:sync-")
    assert lines[1].startswith("plan: FULL_EXPORT export of " + world.source_arn)
    assert lines[2].startswith("export started: " + world.source_arn + "/export/")
    assert any(line.endswith(": COMPLETED") and line.startswith("export ") for line in lines)
    assert any(line.startswith("restore: nested execution arn:aws:states:") for line in lines)
    assert "SUCCEEDED: files 3/3 finished (0 failed, 0 running), 40 records" in err  # followed as `start` follows
    assert lines[-1].startswith("Target synced from " + world.source_arn + ": FULL_EXPORT export")
    assert world.equal() == [] and "Traceback" not in err

    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 0 and out.splitlines()[-1].endswith("nothing to do now"), out + err  # within the window
    assert main([*argv, "--bucket", BUCKET]) == 2
    assert "with --stack-name the source, bucket" in capsys.readouterr().err


def test_verify_when_asked_checks_each_export_applied(world: World) -> None:
    deployed = world.deploy()
    first = world.sync(deployed, verify=True)
    assert first["status"] == "SUCCEEDED", first
    assert first["output"]["verify"].startswith("verified: 40 of 40 items equal; 0 missing, 0 different")
    changes(world, 10)
    second = world.sync(deployed, verify=True)
    assert second["status"] == "SUCCEEDED", second
    # An incremental export is verified for the keys it changed (the parent's "fromIncremental"): 3 put, 1 deleted.
    assert second["output"]["verify"].startswith("verified: 3 of 3 items equal; 0 missing, 0 different")
    assert second["output"]["message"].endswith(second["output"]["verify"])
    restores = [c.event["input"] for c in world.aws.calls if c.function_name == "PlanFunction"]
    assert [(r["verify"], r["fromIncremental"]) for r in restores] == [(True, False), (True, True)]
    assert world.equal() == []


def test_a_record_step_called_again_finds_its_export_recorded(world: World) -> None:
    assert world.sync(world.deploy())["status"] == "SUCCEEDED"
    before = world.state()
    (recorded,) = [c for c in world.aws.calls if c.function_name == "SyncRecordFunction"]
    again = boto3.client("lambda").invoke(FunctionName="SyncRecordFunction", Payload=json.dumps(recorded.event))
    outcome = json.loads(again["Payload"].read())
    assert "FunctionError" not in again, outcome
    assert outcome["status"] == "applied" and "was recorded already" in outcome["message"]
    assert (outcome["exportArn"], outcome["watermarkAfter"]) == (before["exports"][0]["exportArn"], before["watermark"])
    assert world.state() == before  # nothing written twice
    # Called again before it gave the lease back (its lease still held): the same, and the lease is given back.
    store = StateStore(boto3.client("s3"), BUCKET, STATE_KEY)
    Lease.take(store, world.source_arn, "Target", SystemClock(), holder=recorded.event["plan"]["holder"])
    again = boto3.client("lambda").invoke(FunctionName="SyncRecordFunction", Payload=json.dumps(recorded.event))
    assert "was recorded already" in json.loads(again["Payload"].read())["message"]
    assert world.state() == before


def test_a_refused_export_request_is_not_sent_again(world: World) -> None:
    deployed = world.deploy()
    assert world.sync(deployed)["status"] == "SUCCEEDED"
    watermark = world.state()["watermark"]
    changes(world, 10)
    world.double.min_window = 3600  # DynamoDB refuses a window this short (ValidationException)
    refused = world.sync(deployed)
    assert (refused["status"], refused["error"]) == ("FAILED", "SyncFailed"), refused
    assert "incremental export period must be at least 3600 seconds" in refused["cause"]
    state = world.state()
    assert (state["watermark"], state["pending"], state["lease"]) == (watermark, None, None)
    world.double.min_window = 1
    assert world.sync(deployed)["status"] == "SUCCEEDED"
    assert world.state()["exports"][1]["exportFromTime"] == watermark
    assert world.equal() == []


def test_a_failed_restore_keeps_the_export_pending_and_the_next_sync_applies_it(world: World) -> None:
    deployed = world.deploy()
    assert world.sync(deployed)["status"] == "SUCCEEDED"
    changes(world, 10)
    s3, broken = boto3.client("s3"), {}

    def break_the_export(parsed: dict[str, Any], **_: Any) -> None:
        export = parsed.get("ExportDescription", {})
        if export.get("ExportStatus") == "COMPLETED" and not broken:
            key = export["ExportManifest"].replace("manifest-summary.json", "manifest-files.json")
            broken[key] = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
            s3.put_object(Bucket=BUCKET, Key=key, Body=b"not the manifest\n")  # its checksum no longer matches

    world.sdk_hooks["after-call.dynamodb.DescribeExport"] = break_the_export
    failed = world.sync(deployed)
    assert (failed["status"], failed["error"]) == ("FAILED", "SyncFailed"), failed
    assert "Target: PlanRefused: s3://sync-exports/sync/AWSDynamoDB/" in failed["cause"]  # the nested one's own cause
    assert "manifest-files.json: does not match manifest-files.checksum" in failed["cause"]
    assert "the export stays pending" in failed["cause"] and "stackTrace" not in failed["cause"]
    pending = world.state()["pending"]
    assert pending and world.state()["lease"] is None and len(world.state()["exports"]) == 1
    ((key, body),) = broken.items()
    s3.put_object(Bucket=BUCKET, Key=key, Body=body)  # mended
    again = world.sync(deployed)
    assert again["status"] == "SUCCEEDED", again
    assert len(world.double.started) == 2  # the pending export again, by its token: not a third one
    assert world.state()["exports"][1]["exportArn"].endswith(again["output"]["exportArn"].rsplit("/", 1)[-1])
    assert world.state()["pending"] is None and world.equal() == []
