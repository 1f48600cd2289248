"""Writes spread over the keyspace (restore/spread.py): the file order, and workers stepping several files.

Why: an export's files are slices of the keyspace listed in keyspace order; files that run at the same time
must lie far apart, or a restore drives a few partitions and leaves the rest of the table idle.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

import ddb_restore.restore.runner
from ddb_restore.cli import main
from ddb_restore.restore.spread import SharedQueue, interleave, spread_order
from support.clock import FakeClock
from support.compare import diff_tables, scan_items
from support.dynalite import Dynalite
from support.faultproxy import FaultProxy
from support.partitions import PartitionModel, create_provisioned_table, write_partitioned_export
from support.tables import point_dynamodb_at


def test_spread_order_of_sixteen_is_bit_reversed() -> None:
    assert spread_order(list(range(16))) == [0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15]


@pytest.mark.parametrize("count", [1, 2, 5, 13, 16, 100])
def test_spread_order_is_a_permutation(count: int) -> None:
    assert sorted(spread_order(list(range(count)))) == list(range(count))


def slices_hit(order: list[int], start: int, at_once: int) -> int:
    """Of `at_once` equal slices of the manifest, how many the files order[start : start + at_once] fall in."""
    return len({i * at_once // len(order) for i in order[start : start + at_once]})


@pytest.mark.parametrize("at_once", [2, 4, 8, 16])
def test_files_running_at_once_hit_every_slice_when_counts_are_powers_of_two(at_once: int) -> None:
    order = spread_order(list(range(64)))
    assert all(slices_hit(order, s, at_once) == at_once for s in range(64 - at_once + 1))


@pytest.mark.parametrize("count", [13, 100, 1000])
@pytest.mark.parametrize("at_once", [2, 3, 4, 8, 10])
def test_files_running_at_once_hit_half_the_slices_or_more(count: int, at_once: int) -> None:
    order = spread_order(list(range(count)))
    assert min(slices_hit(order, s, at_once) for s in range(count - at_once + 1)) >= at_once // 2


def steps(name: str, count: int, log: list[str]) -> Iterator[float]:
    for i in range(count):
        log.append(f"{name}{i}")
        yield 0.0  # ready again at once


def timed(name: str, ready: list[float], log: list[str]) -> Iterator[float]:
    """A job whose step i is ready again at the clock's time ready[i] (its writer waits for room till then)."""
    for i, at in enumerate(ready):
        log.append(f"{name}{i}")
        yield at


def test_interleave_steps_its_jobs_in_turn_and_takes_new_ones_as_jobs_end() -> None:
    log: list[str] = []
    jobs = iter([steps("a", 2, log), steps("b", 3, log), steps("c", 1, log)])
    interleave(jobs, width=2, clock=FakeClock())
    assert log == ["a0", "b0", "a1", "b1", "b2", "c0"]


def test_interleave_steps_the_other_jobs_while_one_waits_for_room() -> None:
    log: list[str] = []
    clock = FakeClock(now=0.0)
    jobs = iter([timed("a", [1.0, 0.0], log), timed("b", [0.0, 0.0, 0.0], log)])
    interleave(jobs, width=2, clock=clock)
    assert log == ["a0", "b0", "b1", "b2", "a1"]  # a waits till 1.0; nobody slept: b had work
    assert clock.sleeps == []


def test_interleave_steps_the_job_ready_first_when_none_is_ready() -> None:
    log: list[str] = []
    jobs = iter([timed("a", [3.0, 0.0], log), timed("b", [2.0, 0.0], log)])
    interleave(jobs, width=2, clock=FakeClock(now=0.0))
    assert log == ["a0", "b0", "b1", "a1"]


def test_a_shared_queue_hands_each_job_out_once() -> None:
    log: list[str] = []
    jobs = SharedQueue(steps(str(n), 50, log) for n in range(40))
    threads = [
        threading.Thread(target=interleave, args=(jobs,), kwargs={"clock": FakeClock(), "width": 3}) for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(log) == sorted(f"{n}{i}" for n in range(40) for i in range(50))


def test_the_runner_starts_files_spread_and_steps_them_in_turn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """One worker, an export of 16 files in keyspace order: it opens files 0, 8, 4, 12 of the manifest first,
    and its calls go to their partitions in turn, not one file after another; the table ends exact."""
    items = [{"pk": {"S": f"user#{i}"}, "sk": {"N": "1"}, "v": {"S": "x" * 50}} for i in range(16 * 60)]
    folder = write_partitioned_export(tmp_path / "src", items, files=16)
    names = [json.loads(line)["dataFileS3Key"].rsplit("/", 1)[-1] for line in (folder / "manifest-files.json").open()]
    opened: list[int] = []
    stepped: list[int] = []
    real = ddb_restore.restore.runner.chunk_steps

    def chunk_steps(folder: Any, file: Any, *args: Any, **kw: Any) -> Any:
        index = names.index(file.name.rsplit("/", 1)[-1])
        opened.append(index)
        steps = real(folder, file, *args, **kw)
        while True:
            stepped.append(index)
            try:
                ready = next(steps)
            except StopIteration as done:
                return done.value
            yield ready

    monkeypatch.setattr(ddb_restore.restore.runner, "chunk_steps", chunk_steps)
    model = PartitionModel(partitions=8, partition_wcu=100_000)
    with Dynalite() as dynalite, FaultProxy(dynalite.endpoint) as proxy:
        proxy.admit_with(model)
        point_dynamodb_at(monkeypatch, proxy.endpoint)
        client = boto3.client("dynamodb", endpoint_url=dynalite.endpoint)
        create_provisioned_table(client, "Spread", wcu=800)
        args = ["run", str(folder), "--table", "Spread", "--workers", "1", "--report", str(tmp_path / "r.json")]
        assert main(args) == 0, capsys.readouterr()
        assert diff_tables(items, scan_items(client, "Spread"), ("pk", "sk")) == []
    assert opened[:4] == [0, 8, 4, 12]
    assert sorted(opened) == list(range(16))
    assert stepped[:8] == [0, 8, 4, 12, 0, 8, 4, 12]  # a step (25 lines) of each in turn
    assert model.stats()["items"] == len(items)
