"""The sync lease against moto's S3 (its conditional writes): taken, taken again by its own holder, resumed by name
in a later step (the sync state machine's record step), refused to anyone else until it expires."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from ddb_restore.errors import SyncRefused
from ddb_restore.sync.lease import Lease
from ddb_restore.sync.state import StateStore
from support.clock import FakeClock

SOURCE = "arn:aws:dynamodb:us-east-1:123456789012:table/Source"


@pytest.fixture
def store() -> Iterator[StateStore]:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="sync-state")
        yield StateStore(s3, "sync-state", "p/ddb-restore/sync/Target.json")


def fresh(store: StateStore) -> StateStore:
    """Another process's view of the same object (nothing read yet)."""
    return StateStore(store.s3, store.bucket, store.key)


def test_a_named_holder_takes_its_own_lease_again_and_no_one_else_does(store: StateStore) -> None:
    clock = FakeClock(1000.0)
    Lease.take(store, SOURCE, "Target", clock, holder="sync-1", seconds=3600)
    clock.now += 60  # a retried plan step
    again = Lease.take(fresh(store), SOURCE, "Target", clock, holder="sync-1", seconds=3600)
    assert again.state.lease == {"holder": "sync-1", "expires": 1060.0 + 3600}
    with pytest.raises(SyncRefused, match="another sync of Target is running \\(lease sync-1"):
        Lease.take(fresh(store), SOURCE, "Target", clock, holder="sync-2")
    with pytest.raises(SyncRefused, match="another sync of Target is running"):
        Lease.take(fresh(store), SOURCE, "Target", clock)  # unnamed: the CLI's


def test_a_lease_resumed_by_its_holder_writes_and_is_given_back(store: StateStore) -> None:
    clock = FakeClock(1000.0)
    taken = Lease.take(store, SOURCE, "Target", clock, holder="sync-1", seconds=3600)
    taken.state.pending = {"clientToken": "t", "request": {}}
    taken.save()
    clock.now += 1800  # the export and the restore ran meanwhile, in other processes
    resumed = Lease.resume(fresh(store), "sync-1", clock, seconds=3600)
    assert resumed.state.pending == {"clientToken": "t", "request": {}}
    resumed.state.watermark = "2026-12-03T00:00:00.000Z"
    resumed.release()
    state = fresh(store).load()
    assert state is not None and (state.watermark, state.lease) == ("2026-12-03T00:00:00.000Z", None)


def test_a_lease_taken_over_is_not_resumed(store: StateStore) -> None:
    clock = FakeClock(1000.0)
    Lease.take(store, SOURCE, "Target", clock, holder="sync-1", seconds=60)
    clock.now += 61  # expired: another sync takes it
    Lease.take(fresh(store), SOURCE, "Target", clock, holder="sync-2", seconds=60)
    with pytest.raises(SyncRefused, match="the lease of sync sync-1 was taken over by sync-2"):
        Lease.resume(fresh(store), "sync-1", clock)


def test_a_stale_holder_cannot_write_over_a_newer_state(store: StateStore) -> None:
    clock = FakeClock(1000.0)
    stale = Lease.take(store, SOURCE, "Target", clock, holder="sync-1", seconds=60)
    clock.now += 61
    Lease.take(fresh(store), SOURCE, "Target", clock, holder="sync-2", seconds=60)
    with pytest.raises(SyncRefused, match="written by another sync since this one read it"):
        stale.save()  # its ETag is the old one: the conditional put fails
