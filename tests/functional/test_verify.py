"""`ddb-restore verify` end to end against a real DynamoDB server (dynalite): restore, tamper, verify.

The table is tampered with through the raw endpoint, as someone (or a bug) would; verify must name exactly the
keys and attribute paths that were touched, and nothing else.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from ddb_restore.cli import main
from support.sample import create_sample_table, full_records, incremental_records, sample_items, write_export

KEYS = ("pk", "sk")


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


@pytest.fixture
def raw(dynalite: str) -> Any:
    return boto3.client("dynamodb", endpoint_url=dynalite)


@pytest.fixture
def table(raw: Any) -> str:
    return create_sample_table(raw, f"v-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def items() -> list[dict[str, Any]]:
    items = sample_items(120)
    items[3]["price"] = {"N": "1.50"}  # DynamoDB keeps it as 1.5: not a difference
    items[4]["price"] = {"N": "10.0"}
    return items


@pytest.fixture
def export(tmp_path: Path, items: list[dict[str, Any]]) -> Path:
    return write_export(tmp_path / "src", full_records(items), files=4)


def key(item: dict[str, Any]) -> dict[str, Any]:
    return {name: item[name] for name in KEYS}


def verify_report(capsys: pytest.CaptureFixture[str], tmp_path: Path, *args: str) -> tuple[int, dict, str]:
    path = tmp_path / f"verify-{uuid.uuid4().hex[:6]}.json"
    code, out, _ = cli(capsys, "verify", *args, "--report", str(path))
    return code, json.loads(path.read_text()), out


def test_an_untampered_table_verifies_equal(
    table: str, export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(capsys, "run", str(export), "--table", table)[0] == 0
    code, report, out = verify_report(capsys, tmp_path, str(export), "--table", table, "--exact")
    assert code == 0, out
    assert out.splitlines()[0].startswith("verify: 120 records to read back (eventually consistent): ~")
    assert "verified: 120 of 120 items equal; 0 missing, 0 different, 0 extra (in the table, not in the exports)" in out
    assert report["status"] == "equal"
    assert (report["table"], report["exports"]) == (table, [str(export)])
    assert (report["items_expected"], report["items_checked"], report["table_count"], report["extra"]) == (
        120,
        120,
        120,
        0,
    )
    assert report["missing"] == report["different"] == 0
    assert report["missing_keys"] == report["different_items"] == []
    assert report["read_units"] > 0 and report["duration_s"] > 0


def test_tampering_is_reported_by_key_and_path_and_nothing_else(
    raw: Any, table: str, export: Path, items: list, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(capsys, "run", str(export), "--table", table)[0] == 0
    for gone in (items[10], items[20]):
        raw.delete_item(TableName=table, Key=key(gone))
    raw.update_item(
        TableName=table,
        Key=key(items[30]),
        UpdateExpression="SET price = :p",
        ExpressionAttributeValues={":p": {"N": "7"}},
    )
    raw.update_item(
        TableName=table,
        Key=key(items[31]),
        UpdateExpression="SET #b = :b",
        ExpressionAttributeNames={"#b": "blob"},
        ExpressionAttributeValues={":b": {"B": bytes([0, 255, 31, 0, 10, 14])}},  # the last byte was 13
    )
    raw.update_item(
        TableName=table,
        Key=key(items[32]),
        UpdateExpression="SET #m.#n.#d[0].#k = :v",
        ExpressionAttributeNames={"#m": "map", "#n": "nested", "#d": "deep", "#k": "k"},
        ExpressionAttributeValues={":v": {"S": "changed"}},
    )
    raw.update_item(
        TableName=table,
        Key=key(items[33]),
        UpdateExpression="DELETE tags :x",
        ExpressionAttributeValues={":x": {"SS": ["x"]}},
    )
    raw.update_item(  # the same numbers, spelled otherwise: not a difference
        TableName=table,
        Key=key(items[3]),
        UpdateExpression="SET price = :p",
        ExpressionAttributeValues={":p": {"N": "1.5000"}},
    )
    for n in range(3):
        raw.put_item(TableName=table, Item={"pk": {"S": "extra"}, "sk": {"N": str(n)}})

    code, report, out = verify_report(capsys, tmp_path, str(export), "--table", table, "--workers", "3")
    assert code == 1, out
    assert report["status"] == "different"
    assert "verified: 114 of 120 items equal; 2 missing, 4 different, 3 extra" in out
    assert sorted(report["missing_keys"], key=lambda k: int(k["sk"]["N"])) == [key(items[10]), key(items[20])]
    different = sorted(report["different_items"], key=lambda d: int(d["key"]["sk"]["N"]))
    assert different == [
        {"key": key(items[30]), "attributes": ["price"]},
        {"key": key(items[31]), "attributes": ["blob"]},
        {"key": key(items[32]), "attributes": ["map.nested.deep[0].k"]},
        {"key": key(items[33]), "attributes": ["tags"]},
    ]
    assert (report["missing"], report["different"], report["table_count"], report["extra"]) == (2, 4, 121, 3)


def test_extra_items_fail_only_with_exact(
    raw: Any, table: str, export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(capsys, "run", str(export), "--table", table)[0] == 0
    raw.put_item(TableName=table, Item={"pk": {"S": "extra"}, "sk": {"N": "1"}})
    code, report, _ = verify_report(capsys, tmp_path, str(export), "--table", table)
    assert (code, report["status"], report["extra"]) == (0, "equal", 1)
    code, report, _ = verify_report(capsys, tmp_path, str(export), "--table", table, "--exact")
    assert (code, report["status"], report["extra"]) == (1, "different", 1)


def _series(tmp_path: Path) -> tuple[list[Path], list[dict[str, Any]]]:
    """A full export and two incrementals: updates, a delete, an insert, a delete of the insert, a re-insert of
    the deleted item, and one key changed twice within one export (the later timestamp wins). Returns the
    exports and the final state."""
    items = sample_items(40, large=False)
    full = write_export(tmp_path, full_records(items), export_id="01700000000000-full0001")
    first = {**items[0], "name": {"S": "first change"}}
    inserted = {"pk": {"S": "new"}, "sk": {"N": "1"}, "v": {"S": "inserted"}}
    changes1 = [(items[0], items[0], first), (items[1], items[1], None), (inserted, None, inserted)]
    incr1 = write_export(
        tmp_path,
        incremental_records(changes1, KEYS, first_micros=100),
        export_id="01700000000900-incr0001",
        files=2,
        empty_files=0,
        incremental={"exportFromTime": "2024-05-01T10:00:00.000Z", "exportToTime": "2024-05-01T10:15:00.000Z"},
    )
    second = {**items[0], "name": {"S": "second change"}}
    back = {**items[1], "m": {"M": {"deep": {"M": {"x": {"N": "2"}}}}}}
    loser = {**items[2], "name": {"S": "loses"}}
    winner = {**items[2], "name": {"S": "wins"}}
    changes2 = [(items[2], items[2], loser), (first, first, second), (inserted, inserted, None), (items[1], None, back)]
    lines = incremental_records(changes2, KEYS, first_micros=200)
    lines.append(incremental_records([(items[2], loser, winner)], KEYS, first_micros=300)[0])  # same key, later
    incr2 = write_export(
        tmp_path,
        lines,
        export_id="01700000001800-incr0002",
        files=3,
        empty_files=0,
        incremental={"exportFromTime": "2024-05-01T10:15:00.000Z", "exportToTime": "2024-05-01T10:30:00.000Z"},
    )
    return [full, incr1, incr2], [second, back, winner, *items[3:]]


def test_a_series_with_deletes_and_reinserts_verifies_equal_after_run(
    table: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exports, final = _series(tmp_path)
    code, out, _ = cli(capsys, "run", *map(str, reversed(exports)), "--table", table, "--verify", "--exact")
    assert code == 0, out
    assert f"verified: {len(final)} of {len(final)} items equal; 0 missing, 0 different, 0 extra" in out
    assert "; 1 of 1 deleted keys absent" in out


def test_part_of_a_series_applied_reports_what_the_rest_would_change(
    table: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (full, incr1, incr2), final = _series(tmp_path)
    assert cli(capsys, "run", str(full), str(incr1), "--table", table)[0] == 0
    code, report, out = verify_report(capsys, tmp_path, str(full), str(incr1), str(incr2), "--table", table)
    assert code == 1, out
    assert report["missing_keys"] == [key(final[1])]  # deleted by incr1, back in incr2
    different = sorted(report["different_items"], key=lambda d: int(d["key"]["sk"]["N"]))
    assert different == [{"key": key(final[0]), "attributes": ["name"]}, {"key": key(final[2]), "attributes": ["name"]}]
    assert report["deleted_present_keys"] == [{"pk": {"S": "new"}, "sk": {"N": "1"}}]  # incr2 deletes it
    assert (report["items_expected"], report["extra"]) == (len(final), 0)


def test_refused_before_reading_exits_2_with_one_line(
    table: str, export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(capsys, "verify", str(export), "--table", "no-such-table")
    assert (code, out) == (2, "")
    assert err == "error: table 'no-such-table' does not exist (ddb-restore writes into an existing table)\n"
    code, out, err = cli(capsys, "verify", str(export), "--table", table, "--exact", "--sample", "0.5")
    assert (code, out) == (2, "")
    assert err.startswith("error: --exact needs the table counted") and err.count("\n") == 1
    (full, incr1, incr2), _ = _series(tmp_path / "series")
    code, out, err = cli(capsys, "verify", str(full), str(incr2), "--table", table)
    assert (code, out) == (2, "")
    assert err.startswith("error: a gap between") and err.count("\n") == 1
    assert cli(capsys, "verify", str(full), str(incr2), "--table", table, "--allow-gaps")[0] == 1


def test_a_sample_checks_the_same_keys_every_time_and_counts_nothing(
    table: str, export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(capsys, "run", str(export), "--table", table)[0] == 0
    reports = [verify_report(capsys, tmp_path, str(export), "--table", table, "--sample", "0.25") for _ in range(2)]
    (code, first, out), (_, second, _) = reports
    assert code == 0, out
    assert 15 <= first["items_checked"] <= 45 and first["items_checked"] == second["items_checked"]
    assert (first["table_count"], first["extra"], first["items_expected"]) == (None, None, 120)
    assert "extra not counted (--sample)" in out
