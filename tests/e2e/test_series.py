"""Export series: a full export and three incrementals from a simulated table history restore to exactly the
final state; `revert` brings back exactly the earlier states; a broken chain is refused before any write.

The history has inserts, updates, deletes, re-inserts of deleted keys, one key touched in every window, and
keys with several records inside one export, the older record placed in a later data file.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ddb_restore.cli import main
from ddb_restore.export.supersede import _repeated
from support.compare import diff_tables, scan_items
from support.history import TABLE_ARN, TIMES, History, Item, item, key, write_series
from support.sample import full_records, write_export
from support.tables import KEYS, create_table, dynamodb


@pytest.fixture
def history() -> History:
    h = History()
    h.window(updates=[1, 2, 3], deletes=[4, 5], inserts=[100, 101], twice=[6])
    h.window(updates=[1, 100], deletes=[2, 101], inserts=[4, 102], twice=[7])  # 4: re-insert of a deleted key
    h.window(updates=[1, 4], deletes=[100], inserts=[5, 103], twice=[1 + 7 * 3])  # 1 touched in every window
    return h


@pytest.fixture
def exports(tmp_path: Path, history: History) -> list[Path]:
    return write_series(tmp_path, history)


@pytest.fixture
def table(dynalite: str) -> str:
    return create_table(dynamodb(dynalite), f"s-{uuid.uuid4().hex[:8]}")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def table_state(table: str) -> list[Item]:
    return scan_items(dynamodb(), table)


def test_a_full_export_and_three_incrementals_restore_the_final_history_state(
    table: str, exports: list[Path], history: History, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    shuffled = [exports[2], exports[0], exports[3], exports[1]]  # given out of order: sorted by their times
    report = tmp_path / "report.json"
    code, out, _ = run(capsys, "run", *map(str, shuffled), "--table", table, "--report", str(report))
    assert code == 0, out
    assert diff_tables(history.snapshots[-1].values(), table_state(table), KEYS) == []
    order = [line.split()[-1].rsplit("/", 1)[-1] for line in out.splitlines() if line.startswith("export ")]
    assert order == ["01714557600000-full", "01714551000000-inc1", "01714552000000-inc2", "01714553000000-inc3"]
    assert json.loads(report.read_text())["items_superseded"] == 3  # the older of each doubled key


def test_a_series_folder_is_one_argument(
    table: str, exports: list[Path], history: History, capsys: pytest.CaptureFixture[str]
) -> None:
    series_folder = exports[0].parent.parent  # .../exports, holding AWSDynamoDB/<id>/ for each export
    code, out, _ = run(capsys, "run", str(series_folder), "--table", table)
    assert code == 0, out
    assert diff_tables(history.snapshots[-1].values(), table_state(table), KEYS) == []


def test_revert_brings_back_each_earlier_state(
    table: str, exports: list[Path], history: History, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "run", *map(str, exports), "--table", table)[0] == 0
    code, out, _ = run(capsys, "revert", str(exports[3]), "--table", table)
    assert code == 0, out
    assert diff_tables(history.snapshots[2].values(), table_state(table), KEYS) == []
    code, out, _ = run(capsys, "revert", str(exports[1]), str(exports[2]), "--table", table)  # newest first
    assert code == 0, out
    assert diff_tables(history.snapshots[0].values(), table_state(table), KEYS) == []


def test_incrementals_from_a_restored_state_need_from_incremental(
    table: str, exports: list[Path], history: History, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "run", str(exports[0]), "--table", table)[0] == 0
    code, _, err = run(capsys, "run", str(exports[1]), "--table", table)
    assert code == 2 and "no full export comes before it" in err and "--from-incremental" in err
    code, out, _ = run(capsys, "run", str(exports[1]), str(exports[2]), "--table", table, "--from-incremental")
    assert code == 0, out
    assert diff_tables(history.snapshots[2].values(), table_state(table), KEYS) == []


def edit_summary(folder: Path, **fields: Any) -> None:
    path = folder / "manifest-summary.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **fields}))
    for checksum in folder.glob("manifest-summary.*"):
        if checksum.suffix != ".json":
            checksum.unlink()


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (lambda e: edit_summary(e[2], exportFromTime="2024-05-01T10:20:00.000Z"), "a gap between"),
        (
            lambda e: edit_summary(e[2], tableArn="arn:aws:dynamodb:us-east-1:111122223333:table/Other"),
            "different tables",
        ),
        (lambda e: edit_summary(e[1], exportType="FULL_EXPORT", exportTime=TIMES[1]), "are both full exports"),
    ],
    ids=["gap", "other-table", "two-fulls"],
)
def test_a_broken_chain_is_refused_before_any_write(
    table: str, exports: list[Path], capsys: pytest.CaptureFixture[str], breakage: Any, message: str
) -> None:
    breakage(exports)
    code, _, err = run(capsys, "run", *map(str, exports), "--table", table)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and message in err
    assert table_state(table) == []


def test_a_gap_is_refused_naming_the_missing_window_and_the_export_that_fills_it(
    table: str, exports: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    edit_summary(exports[2], exportFromTime="2024-05-01T10:16:09.000Z")  # 69 s after inc1 ends, as AWS left one
    code, _, err = run(capsys, "run", *map(str, exports), "--table", table)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "from 2024-05-01T10:15:00.000Z to 2024-05-01T10:16:09.000Z are in neither export" in err
    # AWS exports windows of at least 15 minutes: the command's window overlaps the next export, which is safe.
    assert (
        "aws dynamodb export-table-to-point-in-time --table-arn " + TABLE_ARN + " --s3-bucket source-export-bucket "
        "--s3-prefix exports --export-type INCREMENTAL_EXPORT --incremental-export-specification "
        "ExportFromTime=2024-05-01T10:15:00.000Z,ExportToTime=2024-05-01T10:30:00.000Z,"
        "ExportViewType=NEW_AND_OLD_IMAGES"
    ) in err
    assert table_state(table) == []


def test_an_overlapping_incremental_applies_after_the_one_that_ends_first(
    tmp_path: Path, table: str, exports: list[Path], history: History, capsys: pytest.CaptureFixture[str]
) -> None:
    """[10:00, 10:30) holds windows 1 and 2 and overlaps inc1 [10:00, 10:15): applied after it, nothing lost."""
    wide = write_export(
        tmp_path,
        history.windows[0] + history.windows[1],
        export_id="01714552500000-wide",
        table_arn=TABLE_ARN,
        files=3,
        empty_files=1,
        incremental={"exportFromTime": TIMES[0], "exportToTime": TIMES[2], "outputView": "NEW_AND_OLD_IMAGES"},
    )
    series = [exports[3], wide, exports[0], exports[1]]
    code, out, _ = run(capsys, "run", *map(str, series), "--table", table)
    assert code == 0, out
    assert diff_tables(history.snapshots[-1].values(), table_state(table), KEYS) == []
    order = [line.split()[-1].rsplit("/", 1)[-1] for line in out.splitlines() if line.startswith("export ")]
    assert order == ["01714557600000-full", "01714551000000-inc1", "01714552500000-wide", "01714553000000-inc3"]
    (note,) = [line for line in out.splitlines() if "overlaps" in line]
    assert note.startswith("note: 01714552500000-wide overlaps 01714551000000-inc1 by 900 s")


def test_an_incremental_that_ends_before_the_full_export_is_refused(
    table: str, exports: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    edit_summary(exports[1], exportFromTime="2024-05-01T09:00:00.000Z", exportToTime="2024-05-01T09:30:00.000Z")
    code, _, err = run(capsys, "run", *map(str, exports), "--table", table)
    assert code == 2 and "before the full export" in err and "would undo newer ones" in err
    assert table_state(table) == []


def test_allow_gaps_applies_a_series_with_a_gap(
    table: str, exports: list[Path], history: History, capsys: pytest.CaptureFixture[str]
) -> None:
    edit_summary(exports[2], exportFromTime="2024-05-01T10:20:00.000Z")
    code, out, _ = run(capsys, "run", *map(str, exports), "--table", table, "--allow-gaps")
    assert code == 0, out
    assert diff_tables(history.snapshots[-1].values(), table_state(table), KEYS) == []


def test_a_new_image_export_applies_but_cannot_be_reverted(
    table: str, exports: list[Path], history: History, capsys: pytest.CaptureFixture[str]
) -> None:
    for folder in exports[1:]:
        edit_summary(folder, outputView="NEW_IMAGE")
    code, out, _ = run(capsys, "run", *map(str, exports), "--table", table)
    assert code == 0, out
    code, _, err = run(capsys, "revert", str(exports[3]), "--table", table)
    assert code == 2 and "outputView NEW_IMAGE" in err and "cannot be undone" in err
    assert diff_tables(history.snapshots[-1].values(), table_state(table), KEYS) == []


def test_skip_newer_leaves_items_that_live_writes_made_newer(
    table: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    items = [item("user#1", n, 5) for n in range(30)]
    client = dynamodb()
    live = {**item("user#1", 3, 9), "note": {"S": "written live after the export"}}
    older = {**item("user#1", 4, 2), "note": {"S": "older than the export"}}
    client.put_item(TableName=table, Item=live)
    client.put_item(TableName=table, Item=older)
    export = write_export(tmp_path, full_records(items), files=2, empty_files=0)
    report = tmp_path / "r.json"
    code, out, _ = run(capsys, "run", str(export), "--table", table, "--skip-newer", "version", "--report", str(report))
    assert code == 0, out
    assert "one conditional PutItem per record" in out
    expected = [live if key(i) == key(live) else i for i in items]
    assert diff_tables(expected, table_state(table), KEYS) == []
    counts = json.loads(report.read_text())
    assert (counts["items_put"], counts["items_skipped_newer"]) == (29, 1)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 2**64 - 1) | st.sampled_from([0, 1, 2**56, 2**64 - 1]), max_size=60))
def test_the_first_pass_finds_exactly_the_hashes_that_repeat(digests: list[int]) -> None:
    """supersede.py keeps the hashes in 8-byte arrays bucketed by their top byte: no repeat may hide in there."""
    assert _repeated(iter(digests)) == {d for d in digests if digests.count(d) > 1}
