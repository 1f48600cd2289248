"""`ddb-restore run` end to end: real CLI, real DynamoDB server (dynalite) or moto, tables compared after.

Bad input is fed for real; each case must end in one clear line naming the file (and line) with its reason,
a non-zero exit, no traceback, and either every good item in the table or nothing written at all.
"""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from ddb_restore.cli import main
from support.compare import diff_tables, scan_items
from support.exports import data_files, rewrite_manifest
from support.faultproxy import FaultProxy
from support.sample import full_records, incremental_records, sample_items, upload_folder, write_export
from support.tables import KEYS, create_table, dynamodb


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["run", *args])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


@pytest.fixture
def table(dynalite: str) -> str:
    return create_table(dynamodb(dynalite), f"t-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def items() -> list[dict[str, Any]]:
    return sample_items(150)


@pytest.fixture
def export(tmp_path: Path, items: list[dict[str, Any]]) -> Path:
    return write_export(tmp_path / "src", full_records(items), files=4)


def table_items(table: str) -> list[dict[str, Any]]:
    return scan_items(dynamodb(), table)


def test_a_local_export_is_restored_exactly_with_a_report(
    dynalite: str, table: str, export: Path, items: list, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report_path = tmp_path / "report.json"
    code, out, _ = run(capsys, str(export), "--table", table, "--workers", "3", "--report", str(report_path))
    assert code == 0, out
    assert diff_tables(items, table_items(table), KEYS) == []
    report = json.loads(report_path.read_text())
    assert report["status"] == "succeeded"
    assert (report["files"], report["files_done"], report["items_put"]) == (4, 4, 150)
    assert report["items_deleted"] == report["items_rejected"] == 0
    assert report["write_units"] >= 149 + 386  # the last item holds 394,560 bytes of payload: 386 units
    for field in ("throttle_retries", "unprocessed_retries", "duration_s"):
        assert field in report
    assert "succeeded: 150 put" in out


def test_a_local_run_never_imports_boto3(dynalite: str, table: str, export: Path, items: list) -> None:
    """`run` on a local export goes without boto3 (clients.py: its import is ~0.06–0.08 s of every run's CPU).
    Run in a fresh interpreter: this one has imported boto3 long ago."""
    script = (
        "import sys\n"
        "from ddb_restore.cli import main\n"
        f"code = main(['run', {str(export)!r}, '--table', {table!r}, '--rejects', 'rejects.jsonl'])\n"
        "print(code, sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 's3transfer')))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "0 []", done.stdout + done.stderr
    assert diff_tables(items, table_items(table), KEYS) == []


def test_a_full_export_then_an_incremental_one_apply_in_order(
    dynalite: str, table: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    items = sample_items(60, large=False)
    full = write_export(tmp_path, full_records(items), export_id="01700000000000-full0001")
    updated = {**items[0], "name": {"S": "changed"}}
    inserted = {"pk": {"S": "new"}, "sk": {"N": "1"}}
    changes = [(items[0], items[0], updated), (items[1], items[1], None), (inserted, None, inserted)]
    incremental = write_export(
        tmp_path,
        incremental_records(changes, KEYS, first_micros=1),
        export_id="01700000000900-incr0001",
        files=2,
        empty_files=0,
        incremental={
            "exportFromTime": "2024-05-01T10:00:00.000Z",
            "exportToTime": "2024-05-01T10:15:00.000Z",
        },
    )
    code, out, _ = run(capsys, str(full), str(incremental / "manifest-summary.json"), "--table", table)
    assert code == 0, out
    expected = [updated, *items[2:], inserted]
    assert diff_tables(expected, table_items(table), KEYS) == []
    assert "62 put, 1 deleted" in out


def five_changes(tmp_path: Path) -> Path:
    """An incremental export of 5 records, its summary billed at AWS's 10 MB minimum, as real ones are."""
    items = sample_items(5, large=False)
    return write_export(
        tmp_path,
        incremental_records([(i, None, i) for i in items], KEYS, first_micros=1),
        export_id="01700000000900-incr0001",
        files=2,
        empty_files=0,
        incremental={"exportFromTime": "2024-05-01T10:00:00.000Z", "exportToTime": "2024-05-01T10:15:00.000Z"},
    )


def test_the_estimate_comes_from_the_records_when_billed_bytes_are_a_billing_minimum(
    dynalite: str, table: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = five_changes(tmp_path)
    assert json.loads((export / "manifest-summary.json").read_text())["billedSizeBytes"] == 10_000_000
    code, out, _ = run(capsys, str(export), "--table", table, "--from-incremental", "--dry-run")
    assert code == 0, out
    assert "~5 write units" in out  # ~1 KB records; from billedSizeBytes it would have been ~9,766
    assert (
        "size estimate: the 3 sampled records' sizes (billedSizeBytes 10,000,000 is the incremental export's "
        "billing minimum, not a size)"
    ) in out


def test_an_incremental_export_copied_without_the_shared_data_folder_is_refused_in_one_line(
    dynalite: str, table: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = five_changes(tmp_path / "src")
    alone = tmp_path / "downloads" / export.name
    shutil.copytree(export, alone)
    code, out, err = run(capsys, str(alone), "--table", table, "--from-incremental")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"shared data folder {tmp_path / 'downloads' / 'data'}" in err and "aws s3 sync" in err
    assert table_items(table) == []


def test_throttling_and_unprocessed_items_lose_nothing(
    dynalite: str,
    table: str,
    export: Path,
    items: list,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with FaultProxy(dynalite) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", proxy.endpoint)
        proxy.throttle_probability(0.3, seed=1)
        proxy.partial_probability(0.5, keep=0.5, seed=2)
        report_path = tmp_path / "r.json"
        code, out, _ = run(capsys, str(export), "--table", table, "--report", str(report_path))
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynalite)
    assert code == 0, out
    report = json.loads(report_path.read_text())
    assert report["throttle_retries"] == proxy.throttled > 0
    assert report["unprocessed_retries"] == proxy.partials > 0
    assert diff_tables(items, table_items(table), KEYS) == []


def test_throttling_past_the_bound_fails_then_a_second_run_finishes(
    dynalite: str,
    table: str,
    export: Path,
    items: list,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    report_path = tmp_path / "r.json"
    with FaultProxy(dynalite) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", proxy.endpoint)
        proxy.throttle_probability(1.0)
        code, out, err = run(
            capsys, str(export), "--table", table, "--retry-seconds", "0.3", "--report", str(report_path)
        )
    assert code == 1
    report = json.loads(report_path.read_text())
    assert report["status"] == "failed" and report["files_failed"] == 3
    failed = [f for f in report["file_results"] if f["status"] == "failed"]
    assert all("gave up after" in f["error"] and f["lines_done"] == 0 for f in failed)
    assert "gave up after" in err and ".json.gz" in err
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynalite)
    code, out, _ = run(capsys, str(export), "--table", table)
    assert code == 0, out
    assert diff_tables(items, table_items(table), KEYS) == []


def test_refused_and_malformed_records_go_to_rejects_and_the_rest_is_written(
    dynalite: str, table: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    items = sample_items(40, large=False)
    lines = full_records(items)
    lines[5:5] = [
        "this is not json",
        '{"Item":{"pk":{"S":"a"},"sk":{"N":"1"},"x":{"Q":"unknown type"}}}',
        '{"Item":{"pk":{"S":"big"},"sk":{"N":"1"},"x":{"S":"' + "y" * 420_000 + '"}}}',
    ]
    export = write_export(tmp_path / "src", lines, files=1, empty_files=0)
    rejects = tmp_path / "rejects.jsonl"
    code, out, err = run(capsys, str(export), "--table", table, "--rejects", str(rejects))
    assert code == 1
    assert "3 record(s) rejected, more than --max-rejects 0" in err
    assert diff_tables(items, table_items(table), KEYS) == []
    entries = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert sorted(e["line"] for e in entries) == [6, 7, 8]
    by_line = {e["line"]: e for e in entries}
    assert "not JSON" in by_line[6]["reason"] and by_line[6]["record"] == "this is not json"
    assert "unknown attribute type 'Q'" in by_line[7]["reason"]
    assert "Item size has exceeded" in by_line[8]["reason"]
    assert all(e["file"].endswith(".json.gz") for e in entries)
    code, out, _ = run(capsys, str(export), "--table", table, "--rejects", str(rejects), "--max-rejects", "3")
    assert code == 0, out


def test_dry_run_checks_and_plans_but_writes_nothing(
    dynalite: str, table: str, export: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, str(export), "--table", table, "--dry-run", "--max-wcu", "100")
    assert code == 0
    assert "files 4 (1 empty), items 150" in out
    assert "write units" in out and "at 100 WCU/s (--max-wcu)" in out
    assert "point-in-time recovery" in out
    assert "manifest-files.json matches manifest-files.md5" in out
    assert table_items(table) == []


# ---- bad data files: the file is named with its reason; every other file's items are written ----


def corrupt(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 16] = b"\x00" * 16
    path.write_bytes(bytes(data))


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (corrupt, "corrupt gzip data"),
        (truncate, "truncated"),
        (
            lambda p: rewrite_manifest(
                p.parent.parent, lambda es: es[1].update(md5Checksum="AAAAAAAAAAAAAAAAAAAAAA==")
            ),
            "differs from md5Checksum",
        ),
        (
            lambda p: rewrite_manifest(p.parent.parent, lambda es: es[1].update(itemCount=es[1]["itemCount"] + 1)),
            "says itemCount",
        ),
    ],
    ids=["corrupt-gzip", "truncated", "wrong-md5", "wrong-item-count"],
)
def test_a_broken_data_file_fails_by_name_and_the_others_are_written(
    dynalite: str, table: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], breakage: Any, message: str
) -> None:
    items = sample_items(120, large=False)
    export = write_export(tmp_path / "src", full_records(items), files=4)
    files = data_files(export)
    broken = files[1]  # not the first: that one is also read by the plan's key check, before any write
    breakage(broken)
    good_lines = set()
    for path in files[:1] + files[2:]:
        good_lines |= set(gzip.decompress(path.read_bytes()).splitlines()) if path.stat().st_size else set()
    code, out, err = run(capsys, str(export), "--table", table)
    assert code == 1
    # Corrupt deflate data may first decode to garbage lines: those are rejects (kept, counted), not lost.
    (line,) = [line for line in err.splitlines() if line.startswith("error:") and broken.name in line]
    assert message in line
    from_good_files = [json.loads(line)["Item"] for line in good_lines]
    good_keys = {(i["pk"]["S"], i["sk"]["N"]) for i in from_good_files}
    written = [i for i in table_items(table) if (i["pk"]["S"], i["sk"]["N"]) in good_keys]
    assert diff_tables(from_good_files, written, KEYS) == []


# ---- refused before any write: one line, exit 2, the table untouched ----


def outside(folder: Path) -> None:
    rewrite_manifest(folder, lambda es: es[1].update(dataFileS3Key="exports/AWSDynamoDB/other/data/x.json.gz"))


def dotdot(folder: Path) -> None:
    key = "exports/AWSDynamoDB/01700000000000-abcdef12/data/../../../secret.json.gz"
    rewrite_manifest(folder, lambda es: es[1].update(dataFileS3Key=key))


def tampered(folder: Path) -> None:
    path = folder / "manifest-files.json"
    path.write_text(path.read_text().replace('"etag": "', '"etag": "0', 1))


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (outside, "lies outside the export folder"),
        (dotdot, "lies outside the export folder"),
        (tampered, "does not match manifest-files.md5"),
    ],
    ids=["outside-export", "dot-dot", "manifest-checksum"],
)
def test_a_bad_manifest_is_refused_before_anything_is_written(
    dynalite: str, table: str, export: Path, capsys: pytest.CaptureFixture[str], breakage: Any, message: str
) -> None:
    breakage(export)
    code, out, err = run(capsys, str(export), "--table", table)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and message in err
    assert table_items(table) == []


def test_a_missing_table_is_refused(dynalite: str, export: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, str(export), "--table", "no-such-table")
    assert code == 2
    assert err.strip() == "error: table 'no-such-table' does not exist (ddb-restore writes into an existing table)"


def test_a_key_schema_mismatch_is_refused(dynalite: str, export: Path, capsys: pytest.CaptureFixture[str]) -> None:
    client = dynamodb()
    name = f"k-{uuid.uuid4().hex[:8]}"
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "N"}],
        BillingMode="PAY_PER_REQUEST",
    )
    code, _, err = run(capsys, str(export), "--table", name)
    assert code == 2
    assert "key attribute 'pk' as S, but table" in err and "pk (N)" in err and ".json.gz:1" in err
    assert table_items(name) == []


@pytest.mark.usefixtures("moto")
@pytest.mark.parametrize("form", ["folder", "summary", "files"])
def test_an_export_in_s3_is_found_by_folder_or_manifest_url(
    tmp_path: Path, items: list, capsys: pytest.CaptureFixture[str], form: str
) -> None:
    write_export(tmp_path, full_records(items))
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="copied-exports")
    upload_folder(s3, tmp_path, "copied-exports", "moved/elsewhere/")  # a copied export keeps working
    table = create_table(boto3.client("dynamodb"))
    base = "s3://copied-exports/moved/elsewhere/exports/AWSDynamoDB/01700000000000-abcdef12/"
    url = {"folder": base, "summary": base + "manifest-summary.json", "files": base + "manifest-files.json"}[form]
    code, out, _ = run(capsys, url, "--table", table)
    assert code == 0, out
    assert diff_tables(items, scan_items(boto3.client("dynamodb"), table), KEYS) == []
