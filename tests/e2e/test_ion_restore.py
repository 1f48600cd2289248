"""An ION export and a DYNAMODB_JSON export of the same table restore identical tables, full and incremental.

The ION files are written with the `amazon-ion` writer (ddb_restore.export.ion.encode_ion_line) from the very
records of the JSON export, items near 400 KB included.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from ddb_restore.cli import main
from support.compare import diff_tables, scan_items
from support.history import TIMES, History
from support.sample import full_records, sample_items, write_export
from support.tables import KEYS, create_table, dynamodb


def restore(capsys: pytest.CaptureFixture[str], exports: list[Path]) -> list[dict]:
    table = create_table(dynamodb(), f"i-{uuid.uuid4().hex[:8]}")
    code = main(["run", *map(str, exports), "--table", table])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    return scan_items(dynamodb(), table)


def test_a_full_ion_export_restores_the_same_table_as_its_json_twin(
    dynalite: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    items = sample_items(80)  # every type and edge case, the last item near 400 KB
    json_export = write_export(tmp_path / "json", full_records(items))
    ion_export = write_export(tmp_path / "ion", full_records(items), output_format="ION")
    assert next((ion_export / "data").glob("*.ion.gz"))
    from_json, from_ion = restore(capsys, [json_export]), restore(capsys, [ion_export])
    assert diff_tables(items, from_ion, KEYS) == []
    assert diff_tables(items, from_json, KEYS) == []


def test_an_ion_series_restores_the_final_history_state(
    dynalite: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history = History()
    history.window(updates=[1, 2], deletes=[3], inserts=[100], twice=[6])
    history.window(updates=[1], deletes=[100], inserts=[3], twice=[8])
    exports = [write_export(tmp_path, full_records(history.snapshots[0].values()), output_format="ION")]
    for n, lines in enumerate(history.windows):
        exports.append(
            write_export(
                tmp_path,
                lines,
                export_id=f"0171455{n + 1}000000-ion{n + 1}",
                files=2,
                empty_files=0,
                output_format="ION",
                incremental={"exportFromTime": TIMES[n], "exportToTime": TIMES[n + 1]},
            )
        )
    assert diff_tables(history.snapshots[-1].values(), restore(capsys, exports), KEYS) == []
