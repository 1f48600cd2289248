"""Transforms end to end: a full export and its incrementals restored with masking, dropping, renaming, a filter
and a key remap (`ddb-restore run` into dynalite), each table compared attribute by attribute with what the test
computes on its own from the simulated history; bad results are rejects by file and line; refusals write nothing.
"""

from __future__ import annotations

import base64
import gzip
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from ddb_restore.cli import main
from support.compare import diff_tables, scan_items
from support.history import History, Item, write_series
from support.masking import masked_words
from support.tables import KEYS, create_table, dynamodb


@pytest.fixture
def history() -> History:
    h = History()
    h.window(updates=[1, 2, 3], deletes=[4, 5, 10], inserts=[100, 101], twice=[6])  # 5 and 10: filtered keys
    h.window(updates=[1, 100], deletes=[2, 101], inserts=[4, 102, 15], twice=[7])
    h.window(updates=[1, 4, 15], deletes=[100, 15], inserts=[5, 103], twice=[22])
    return h


@pytest.fixture
def exports(tmp_path: Path, history: History) -> list[Path]:
    return write_series(tmp_path, history)


@pytest.fixture
def table(dynalite: str) -> str:
    return create_table(dynamodb(dynalite), f"x-{uuid.uuid4().hex[:8]}")


def transform_file(tmp_path: Path, source: str) -> str:
    path = tmp_path / "transform.py"
    path.write_text(source)
    return str(path)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["run", *args])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


FILTER = "def transform(item):\n    return None if int(item['sk']['N']) % 5 == 0 else item\n"


def expected_dev_copy(state: dict[Any, Item]) -> list[Item]:
    """--mask-attribute note --mask-attribute blob --drop-attribute big --rename-attribute version=rev, and
    items whose sk is a multiple of 5 filtered out."""
    out = []
    for item in state.values():
        if int(item["sk"]["N"]) % 5 == 0:
            continue
        copy = {name: value for name, value in item.items() if name not in ("big", "version")}
        copy["rev"] = item["version"]
        if "note" in item:
            copy["note"] = {"S": masked_words(item["note"]["S"])}
        if "blob" in item:
            copy["blob"] = {"B": base64.b64encode(b"*").decode()}
        out.append(copy)
    return out


DEV_OPTIONS = (
    "--mask-attribute", "note", "--mask-attribute", "blob", "--drop-attribute", "big",
    "--rename-attribute", "version=rev",
)  # fmt: skip


def test_a_series_restored_with_masks_drops_a_rename_and_a_filter_holds_exactly_the_dev_copy(
    table: str, exports: list[Path], history: History, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "report.json"
    code, out, _ = run(
        capsys, *map(str, exports), "--table", table, *DEV_OPTIONS, "--transform", transform_file(tmp_path, FILTER),
        "--report", str(report),
    )  # fmt: skip
    assert code == 0, out
    assert "transforms: mask note, then mask blob, then drop big, then rename version=rev, then transform()" in out
    assert diff_tables(expected_dev_copy(history.snapshots[-1]), scan_items(dynamodb(), table), KEYS) == []
    counts = json.loads(report.read_text())
    filtered_puts = sum(int(i["sk"]["N"]) % 5 == 0 for i in history.snapshots[0].values())
    assert counts["items_filtered"] >= filtered_puts and counts["items_fanned_out"] == 0
    assert counts["items_transformed"] > 0 and counts["items_rejected"] == 0


REMAP = """
def transform(item):
    pk, sk = item.pop("pk"), item.pop("sk")
    return {"id": {"S": pk["S"] + "#" + sk["N"]}, **item}


def transform_key(key):
    return {"id": {"S": key["pk"]["S"] + "#" + key["sk"]["N"]}}
"""


def test_a_key_remap_with_transform_key_lands_deletes_on_the_right_items(
    dynalite: str, exports: list[Path], history: History, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client = dynamodb(dynalite)
    table = f"id-{uuid.uuid4().hex[:8]}"
    client.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    remap = transform_file(tmp_path, REMAP)
    code, out, _ = run(capsys, *map(str, exports), "--table", table, "--transform", remap)
    assert code == 0, out
    expected = [
        {"id": {"S": f"{i['pk']['S']}#{i['sk']['N']}"}, **{k: v for k, v in i.items() if k not in KEYS}}
        for i in history.snapshots[-1].values()
    ]
    assert diff_tables(expected, scan_items(client, table), ("id",)) == []
    # revert applies the same transforms to the OldImages: back to the state before the last window
    code, out, _ = run_revert(capsys, str(exports[3]), "--table", table, "--transform", remap)
    assert code == 0, out
    expected = [
        {"id": {"S": f"{i['pk']['S']}#{i['sk']['N']}"}, **{k: v for k, v in i.items() if k not in KEYS}}
        for i in history.snapshots[-2].values()
    ]
    assert diff_tables(expected, scan_items(client, table), ("id",)) == []


def run_revert(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["revert", *args])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


BAD = """
def transform(item):
    sk = int(item["sk"]["N"])
    if sk == 3:
        raise ValueError("sk three is cursed")
    if sk == 4:
        return "not an item"
    if sk == 5:
        return {**item, "huge": {"S": "x" * 420_000}}
    return item
"""


def test_a_transform_that_raises_or_returns_junk_gives_rejects_by_file_and_line(
    table: str, exports: list[Path], history: History, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = transform_file(tmp_path, BAD)
    rejects = tmp_path / "rejects.jsonl"
    code, out, _ = run(capsys, str(exports[0]), "--table", table, "--transform", bad, "--rejects", str(rejects))
    assert code == 1, out
    lines = [json.loads(line) for line in rejects.read_text().splitlines()]
    reasons = {json.loads(r["record"])["Item"]["sk"]["N"]: r["reason"] for r in lines}
    assert reasons["3"] == f"{bad}: transform() raised ValueError: sk three is cursed"
    assert reasons["4"].endswith("transform() returned str, not an item (dict), a list of items or None")
    assert reasons["5"].startswith("transform result: 420,") and "more than DynamoDB's 400 KB" in reasons["5"]
    for reject in lines:  # the file and the line the record came from
        assert reject["file"].endswith(".json.gz") and reject["line"] >= 1
        data = gzip.decompress(Path(reject["file"]).read_bytes()).decode().splitlines()
        assert json.loads(data[reject["line"] - 1]) == json.loads(reject["record"])
    rest = [i for i in history.snapshots[0].values() if i["sk"]["N"] not in ("3", "4", "5")]
    assert diff_tables(rest, scan_items(dynamodb(), table), KEYS) == []
    assert "3 rejected" in out
    again = run(capsys, str(exports[0]), "--table", table, "--transform", bad, "--max-rejects", "3")
    assert again[0] == 0  # within --max-rejects, as for any reject


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (("--drop-attribute", "pk"), "--drop-attribute pk: dropping the table's key attribute (pk / sk)"),
        (("--mask-attribute", "sk"), "masked keys collide"),
        (("--rename-attribute", "pk=id"), "renaming the table's key attribute"),
        (("--drop-attribute", "version"), "a key attribute of GSI 'by-version'"),
        (("--transform", "REMAP_WITHOUT_KEY"), "transform() changes the key (pk / sk) of"),
        (("--transform", "missing.py"), "--transform missing.py: cannot be read"),
        (("--rename-attribute", "note"), "give OLD=NEW"),
        (("--verify", "--drop-attribute", "note"), "--verify compares the table with the exports as they are"),
    ],
)
def test_a_transform_that_would_break_a_key_is_refused_before_writing(
    dynalite: str,
    exports: list[Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    options: tuple[str, ...],
    message: str,
) -> None:
    table = create_table(
        dynamodb(dynalite),
        f"r-{uuid.uuid4().hex[:8]}",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
            {"AttributeName": "version", "AttributeType": "N"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-version",
                "KeySchema": [{"AttributeName": "version", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
    )
    shift = transform_file(tmp_path, "def transform(item):\n    return {**item, 'pk': {'S': 'moved'}}\n")
    options = tuple(shift if o == "REMAP_WITHOUT_KEY" else o for o in options)
    try:
        code, out, err = run(capsys, *map(str, exports), "--table", table, *options)
    except SystemExit as exited:  # argparse's own refusal
        code, err = int(str(exited.code)), capsys.readouterr().err
    assert code == 2
    assert message in err.strip().splitlines()[-1]  # one line (after argparse's usage, for its own refusals)
    assert scan_items(dynamodb(), table) == []
