"""`ddb-restore sync` and `migrate` end to end: the real CLI against moto, the source's exports made by the export
double (support/exportdouble.py), one fake clock for the double, the source's writers and the CLI.

A source table taking inserts, updates, deletes and re-inserts while migrate runs ends equal to the target, item for
item; a sync killed between export and apply, or during the apply, resumes without a lost or doubled window; a
second sync of the same target at once, or a sync for another source, is refused; PITR off is one line.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from ddb_restore.cli import Wiring, main
from ddb_restore.sync.lease import LEASE_SECONDS, Lease
from ddb_restore.sync.state import StateStore
from ddb_restore.write.clients import dynamodb_client
from support import source_writes
from support.clock import FakeClock
from support.compare import diff_tables, scan_items
from support.exportdouble import ExportDouble
from support.tables import KEYS

BUCKET = "sync-exports"
STATE_KEY = "exp/ddb-restore/sync/Target.json"


class Killed(BaseException):
    """The process dies here (not an error the tool could catch)."""


@dataclass
class World:
    clock: FakeClock
    double: ExportDouble
    app: Any  # the source's own writer
    source_arn: str
    wiring: Wiring

    def state(self) -> dict[str, Any]:
        return dict(json.loads(boto3.client("s3").get_object(Bucket=BUCKET, Key=STATE_KEY)["Body"].read()))

    def equal(self) -> list[str]:
        return diff_tables(scan_items(self.app, "Source"), scan_items(self.app, "Target"), KEYS)


@pytest.fixture
def world() -> Iterator[World]:
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        clock = FakeClock(1_767_000_000.0)
        double = ExportDouble(boto3.client("s3"), clock=clock, min_window=60, export_seconds=20)
        app = double.attach(boto3.client("dynamodb"))
        arn = source_writes.seed(app)
        clock.now += 1  # time passes; the fake clock moves only when told
        wiring = Wiring(clock=clock, dynamodb=lambda *a, **k: double.attach(dynamodb_client(*a, **k)))
        yield World(clock, double, app, arn, wiring)


def cli(world: World, capsys: pytest.CaptureFixture[str], command: str, *args: str) -> tuple[int, str, str]:
    argv = [command, world.source_arn, "--table", "Target", "--bucket", BUCKET, "--prefix", "exp/"]
    code = main([*argv, "--min-window", "60", "--poll-seconds", "5", *args], world.wiring)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def changes(world: World, start: int) -> None:
    source_writes.changes(world.app, start)


def test_a_first_sync_applies_a_full_export_and_later_ones_incrementals(
    world: World, capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    report = tmp_path / "report.json"
    code, out, _ = cli(world, capsys, "sync", "--verify", "--report", str(report))
    assert code == 0, out
    assert "FULL_EXPORT export" in out and "40 put" in out
    assert world.equal() == []
    state = world.state()
    assert state["source"] == world.source_arn and state["lease"] is None and state["pending"] is None
    assert [e["exportType"] for e in state["exports"]] == ["FULL_EXPORT"]
    assert state["watermark"] == state["exports"][0]["exportTime"]
    first = json.loads(report.read_text())
    assert (first["watermark_before"], first["watermark_after"]) == (None, state["watermark"])
    assert first["verify"]["status"] == "equal" and first["lag_s"] >= 20

    code, out, _ = cli(world, capsys, "sync")
    assert code == 0 and "nothing to do now" in out

    changes(world, 10)
    world.clock.now += 120
    code, out, _ = cli(world, capsys, "sync", "--verify")
    assert code == 0, out
    assert "INCREMENTAL_EXPORT export" in out and "1 deleted" in out
    assert world.equal() == []
    exports = world.state()["exports"]
    assert exports[1]["exportFromTime"] == exports[0]["exportTime"]
    assert world.state()["watermark"] == exports[1]["exportToTime"]


def test_sync_waits_for_the_window_with_wait(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(world, capsys, "sync")[0] == 0
    changes(world, 20)
    code, out, _ = cli(world, capsys, "sync", "--wait")
    assert code == 0 and "waiting" in out and "INCREMENTAL_EXPORT" in out
    assert world.equal() == []


def test_pitr_off_is_refused_in_one_line(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    world.app.update_continuous_backups(
        TableName="Source", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False}
    )
    code, out, err = cli(world, capsys, "sync")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "point-in-time recovery is DISABLED" in err and "update-continuous-backups" in err


def test_a_sync_for_another_source_is_refused(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(world, capsys, "sync")[0] == 0
    world.source_arn = world.source_arn.replace("table/Source", "table/Other")
    code, _, err = cli(world, capsys, "sync")
    assert code == 2 and "not from" in err and "table/Other" in err


def test_a_second_sync_at_once_is_refused(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    store = StateStore(boto3.client("s3"), BUCKET, STATE_KEY)
    running = Lease.take(store, world.source_arn, "Target", world.clock)
    code, _, err = cli(world, capsys, "sync")
    assert code == 2 and "another sync of Target is running" in err
    running.release()
    assert cli(world, capsys, "sync")[0] == 0


def test_a_failed_export_leaves_the_watermark_and_is_asked_for_again(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(world, capsys, "sync")[0] == 0
    watermark = world.state()["watermark"]
    changes(world, 10)
    world.clock.now += 120
    world.double.fail_next("S3_ERROR", "access denied")
    code, _, err = cli(world, capsys, "sync")
    assert code == 1 and "FAILED" in err and "S3_ERROR" in err
    assert world.state()["watermark"] == watermark and world.state()["pending"] is None
    assert cli(world, capsys, "sync")[0] == 0
    assert world.state()["exports"][1]["exportFromTime"] == watermark
    assert world.equal() == []


def hard_kill(monkeypatch: pytest.MonkeyPatch) -> None:
    """A killed sync gives nothing back: its lease stays until it expires."""
    monkeypatch.setattr(Lease, "release", lambda self: None)


def test_a_sync_killed_between_export_and_apply_resumes_the_same_export(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli(world, capsys, "sync")[0] == 0
    changes(world, 10)
    world.clock.now += 120
    with monkeypatch.context() as patch:
        hard_kill(patch)

        def die(*args: Any) -> None:
            raise Killed

        patch.setattr("ddb_restore.sync.step.apply_export", die)
        with pytest.raises(Killed):
            cli(world, capsys, "sync")
    assert world.state()["pending"]["exportArn"]
    assert cli(world, capsys, "sync")[0] == 2  # the dead sync's lease holds until it expires
    world.clock.now += LEASE_SECONDS
    changes(world, 20)  # after the export's window: the next step's
    code, out, _ = cli(world, capsys, "sync")
    assert code == 0 and "resuming" in out
    assert len(world.double.started) == 2  # the full export and one incremental: none started twice
    world.clock.now += 120
    assert cli(world, capsys, "sync")[0] == 0
    exports = world.state()["exports"]
    assert [e["exportType"] for e in exports] == ["FULL_EXPORT", "INCREMENTAL_EXPORT", "INCREMENTAL_EXPORT"]
    assert exports[2]["exportFromTime"] == exports[1]["exportToTime"]
    assert world.equal() == []


def test_a_sync_killed_during_the_apply_resumes_without_a_lost_window(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []

    def die_on_second_batch(**_: Any) -> None:
        calls.append(1)
        if len(calls) == 2:
            raise Killed

    def dying(*args: Any, **kwargs: Any) -> Any:
        client = world.double.attach(dynamodb_client(*args, **kwargs))
        client.meta.events.register("before-call.dynamodb.BatchWriteItem", die_on_second_batch)
        return client

    with monkeypatch.context() as patch:
        hard_kill(patch)
        with pytest.raises(Killed):
            main(
                ["sync", world.source_arn, "--table", "Target", "--bucket", BUCKET, "--prefix", "exp/",
                 "--min-window", "60", "--workers", "1"],
                Wiring(clock=world.clock, dynamodb=dying),
            )  # fmt: skip
    assert 0 < len(scan_items(world.app, "Target")) < 40
    assert world.state()["watermark"] is None
    world.clock.now += LEASE_SECONDS
    assert cli(world, capsys, "sync")[0] == 0
    assert len(world.double.started) == 1
    assert world.equal() == []


def test_a_source_role_exports_to_this_accounts_bucket(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(world, capsys, "sync", "--source-role-arn", "arn:aws:iam::111122223333:role/exporter")
    assert code == 0, out
    assert world.double.started[0]["S3BucketOwner"] == "123456789012"
    assert world.double.started[0]["S3Prefix"] == "exp"


def live_writes(world: World, stop: threading.Event, done: list[int]) -> None:
    """The source's application: inserts, updates, deletes and re-inserts until told to stop."""
    while not stop.is_set() and len(done) < 400:
        changes(world, 100 + 3 * (len(done) % 40))
        done.append(1)
        stop.wait(0.002)


def test_migrate_moves_a_live_table_item_for_item(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    stop, done = threading.Event(), []
    writer = threading.Thread(target=live_writes, args=(world, stop, done))
    writer.start()
    try:
        code, out, _ = cli(world, capsys, "migrate", "--lag", "40")
        assert code == 0, out
        assert "now stop the writes to the source, then run the same command with --finish" in out
        world.clock.now += 300
        code, out, _ = cli(world, capsys, "migrate", "--lag", "40")  # later: catches up again
        assert code == 0 and "INCREMENTAL_EXPORT" in out
    finally:
        stop.set()
        writer.join()
    code, out, err = cli(world, capsys, "migrate", "--finish")
    assert code == 0, out + err
    assert f"Target equals {world.source_arn} as of {world.state()['watermark']}: switch your application" in out
    assert world.equal() == []
    assert len(world.state()["exports"]) >= 3 and len(done) > 20  # the source took writes while migrate ran


def test_a_window_dynamodb_refuses_is_not_asked_for_again(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(world, capsys, "sync")[0] == 0
    world.clock.now += 10  # 30 s since the watermark (the export took 20)
    code, _, err = cli(world, capsys, "sync", "--min-window", "30")  # the double's shortest window is 60 s
    assert code == 2 and "ValidationException" in err
    assert world.state()["pending"] is None and world.state()["lease"] is None
    world.clock.now += 30
    assert cli(world, capsys, "sync")[0] == 0
    assert world.equal() == []


def test_an_ion_export_is_synced(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(world, capsys, "sync", "--format", "ION")
    assert code == 0, out
    assert world.double.started[0]["ExportFormat"] == "ION" and "ION" in out
    assert world.equal() == []


def test_a_source_that_is_not_an_arn_is_refused(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    world.source_arn = "Source"
    code, _, err = cli(world, capsys, "sync")
    assert code == 2 and "give the source table's ARN" in err and world.double.started == []


def test_a_missing_target_is_refused_before_any_export(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    world.app.delete_table(TableName="Target")
    code, _, err = cli(world, capsys, "sync")
    assert code == 2 and "does not exist" in err and world.double.started == []
