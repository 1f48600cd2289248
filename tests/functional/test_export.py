"""Reading an export's manifests: checksums in both names and encodings, containment, moved exports, S3."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import boto3
import pytest

from ddb_restore.errors import (
    ChecksumMismatch,
    ExportLocationError,
    ManifestError,
    OutsideExportError,
    UnsupportedExport,
)
from ddb_restore.export.datafile import read_lines
from ddb_restore.export.manifest import load_export, md5_matches, relative_data_key
from ddb_restore.export.storage import LocalFolder, S3Folder, locate_export
from support.sample import full_records, sample_items, upload_folder, write_export

EXPORT_ID = "01700000000000-abcdef12"
RECORDS = full_records(sample_items(9, large=False))


def make_export(tmp_path: Path, **options: Any) -> Path:
    return write_export(tmp_path, RECORDS, export_id=EXPORT_ID, files=4, empty_files=1, **options)


def manifest_entries(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (folder / "manifest-files.json").read_text().splitlines()]


def write_manifest_entries(folder: Path, entries: list[dict[str, Any]]) -> None:
    (folder / "manifest-files.json").write_text("".join(json.dumps(e) + "\n" for e in entries))


def edit_summary(folder: Path, **changes: Any) -> None:
    path = folder / "manifest-summary.json"
    summary = json.loads(path.read_text())
    summary.update(changes)
    path.write_text(json.dumps(summary))


def all_lines(export_folder: Any, export: Any) -> list[bytes]:
    return [line for f in export.files for _, line in read_lines(export_folder, f)]


# --- what a good export yields ------------------------------------------------------------------------------


def test_an_export_yields_its_summary_and_data_files_relative_to_the_folder(tmp_path: Path) -> None:
    folder = make_export(tmp_path)
    export = load_export(LocalFolder(folder))
    entries = manifest_entries(folder)
    assert [f.name for f in export.files] == ["data/" + e["dataFileS3Key"].rsplit("/", 1)[1] for e in entries]
    assert [f.item_count for f in export.files] == [e["itemCount"] for e in entries]
    assert [f.md5 for f in export.files] == [e["md5Checksum"] for e in entries]
    assert [f.manifest_line for f in export.files] == [1, 2, 3, 4]
    assert export.item_count == len(RECORDS)
    assert export.summary["exportArn"].endswith("/export/" + EXPORT_ID)
    assert export.output_format == "DYNAMODB_JSON"
    assert not export.incremental
    assert sorted(all_lines(export.folder, export)) == sorted((r + "\n").encode() for r in RECORDS)


def test_an_incremental_export_is_recognised_as_incremental(tmp_path: Path) -> None:
    window = {"exportFromTime": "2024-05-01T10:00:00Z", "exportToTime": "2024-05-01T10:15:00Z"}
    folder = make_export(tmp_path, incremental={**window, "outputView": "NEW_AND_OLD_IMAGES"})
    export = load_export(LocalFolder(folder))
    assert export.incremental
    assert export.export_type == "INCREMENTAL_EXPORT"


# --- checksums ----------------------------------------------------------------------------------------------


def test_md5_checksum_files_in_hex_are_accepted_and_reported(tmp_path: Path) -> None:
    folder = make_export(tmp_path, checksum="md5-hex")
    export = load_export(LocalFolder(folder))
    assert export.checks == (
        "manifest-summary.json matches manifest-summary.md5",
        "manifest-files.json matches manifest-files.md5",
    )


def test_checksum_files_in_base64_are_accepted_and_reported(tmp_path: Path) -> None:
    folder = make_export(tmp_path, checksum="checksum-b64")
    export = load_export(LocalFolder(folder))
    assert export.checks == (
        "manifest-summary.json matches manifest-summary.checksum",
        "manifest-files.json matches manifest-files.checksum",
    )


def test_an_uppercase_hex_checksum_with_a_trailing_newline_is_accepted(tmp_path: Path) -> None:
    folder = make_export(tmp_path, checksum="none")
    digest = hashlib.md5((folder / "manifest-files.json").read_bytes()).hexdigest().upper()
    (folder / "manifest-files.checksum").write_text(digest + "\n")
    assert load_export(LocalFolder(folder)).checks == ("manifest-files.json matches manifest-files.checksum",)


def test_an_export_without_checksum_files_is_accepted_with_no_checks_claimed(tmp_path: Path) -> None:
    folder = make_export(tmp_path, checksum="none")
    assert not list(folder.glob("*.md5")) and not list(folder.glob("*.checksum"))
    export = load_export(LocalFolder(folder))
    assert export.checks == ()
    assert len(export.files) == 4


@pytest.mark.parametrize("checksum", ["md5-hex", "checksum-b64"])
def test_a_changed_manifest_files_json_fails_its_checksum(tmp_path: Path, checksum: str) -> None:
    folder = make_export(tmp_path, checksum=checksum)
    path = folder / "manifest-files.json"
    # The same JSON meaning, other bytes: the check is on the bytes as stored.
    path.write_bytes(path.read_bytes().replace(b'"itemCount": ', b'"itemCount":  ', 1))
    with pytest.raises(ChecksumMismatch) as info:
        load_export(LocalFolder(folder))
    assert "manifest-files.json" in str(info.value)
    assert "manifest-files." + ("md5" if checksum == "md5-hex" else "checksum") in str(info.value)


def test_a_manifest_files_json_cut_short_fails_its_checksum(tmp_path: Path) -> None:
    folder = make_export(tmp_path)
    path = folder / "manifest-files.json"
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:-1]))
    with pytest.raises(ChecksumMismatch):
        load_export(LocalFolder(folder))


def test_a_changed_manifest_summary_json_fails_its_checksum(tmp_path: Path) -> None:
    folder = make_export(tmp_path, checksum="checksum-b64")
    edit_summary(folder, itemCount=len(RECORDS))  # re-serialised: same fields, other bytes
    with pytest.raises(ChecksumMismatch) as info:
        load_export(LocalFolder(folder))
    assert "manifest-summary.json" in str(info.value)


def test_md5_matches_accepts_hex_and_base64_and_refuses_anything_else() -> None:
    data = b"some manifest bytes\n"
    digest = hashlib.md5(data).digest()
    assert md5_matches(data, digest.hex())
    assert md5_matches(data, digest.hex().upper())
    assert md5_matches(data, " " + digest.hex() + "\n")
    assert md5_matches(data, base64.b64encode(digest).decode())
    assert md5_matches(data, base64.b64encode(digest).decode() + "\n")
    assert not md5_matches(data, hashlib.md5(b"other").hexdigest())
    assert not md5_matches(data, base64.b64encode(hashlib.md5(b"other").digest()).decode())
    assert not md5_matches(data, base64.b64encode(digest).decode()[:-4])
    assert not md5_matches(data, "not a checksum!")
    assert not md5_matches(data, "")


# --- containment of data-file keys --------------------------------------------------------------------------

OTHER_ID = "01799999999999-99999999"
BAD_KEYS = [
    pytest.param(f"exports/AWSDynamoDB/{EXPORT_ID}/data/../../../secret.json.gz", id="dotdot-out"),
    pytest.param(f"exports/AWSDynamoDB/{EXPORT_ID}/data/../manifest-summary.json", id="dotdot-up-one"),
    pytest.param(f"other/../exports/AWSDynamoDB/{EXPORT_ID}/data/x.json.gz", id="dotdot-before"),
    pytest.param(f"exports/AWSDynamoDB/{EXPORT_ID}/data/./x.json.gz", id="dot-segment"),
    pytest.param(f"/exports/AWSDynamoDB/{EXPORT_ID}/data/x.json.gz", id="absolute"),
    pytest.param(f"/AWSDynamoDB/{EXPORT_ID}/data/x.json.gz", id="absolute-short"),
    pytest.param(f"exports/AWSDynamoDB/{OTHER_ID}/data/x.json.gz", id="other-export"),
    pytest.param(f"exports/AWSDynamoDB/{EXPORT_ID}/manifest-summary.json", id="not-under-data"),
    pytest.param(f"exports/AWSDynamoDB/{EXPORT_ID}/other/x.json.gz", id="other-subfolder"),
    pytest.param(f"exports/AWSDynamoDB/{EXPORT_ID}/data/", id="data-folder-itself"),
    pytest.param("elsewhere/x.json.gz", id="no-export-folder"),
    pytest.param(f"exports\\AWSDynamoDB\\{EXPORT_ID}\\data\\x.json.gz", id="backslashes"),
    pytest.param("exports/data/x.json.gz", id="above-AWSDynamoDB"),
    pytest.param("exports/AWSDynamoDB/x.json.gz", id="in-AWSDynamoDB-itself"),
    pytest.param("exports/AWSDynamoDB/data/sub/x.json.gz", id="below-the-shared-data-folder"),
    pytest.param("exports/AWSDynamoDB/data/../x.json.gz", id="dotdot-from-the-shared-data-folder"),
    pytest.param("other/AWSDynamoDB/data/x.json.gz", id="shared-data-of-another-prefix"),
    pytest.param(f"other/AWSDynamoDB/{EXPORT_ID}/data/x.json.gz", id="this-export-under-another-prefix"),
    pytest.param("xexports/AWSDynamoDB/data/x.json.gz", id="prefix-glued-to-AWSDynamoDB"),
    pytest.param("", id="empty"),
    pytest.param(42, id="number"),
    pytest.param(None, id="null"),
    pytest.param([f"exports/AWSDynamoDB/{EXPORT_ID}/data/x.json.gz"], id="list"),
]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_a_data_file_key_outside_the_export_is_refused_naming_the_manifest_line(tmp_path: Path, key: Any) -> None:
    folder = make_export(tmp_path, checksum="none")
    entries = manifest_entries(folder)
    entries[2]["dataFileS3Key"] = key
    write_manifest_entries(folder, entries)
    with pytest.raises(OutsideExportError) as info:
        load_export(LocalFolder(folder))
    text = str(info.value)
    assert "manifest-files.json:3:" in text
    assert repr(key) in text
    assert "outside the export folder" in text


def test_relative_data_key_keeps_only_the_data_file_name_of_this_export() -> None:
    key = f"any/prefix/AWSDynamoDB/{EXPORT_ID}/data/abc.json.gz"
    assert relative_data_key(key, EXPORT_ID, None) == "data/abc.json.gz"
    assert relative_data_key(key, "renamed", EXPORT_ID) == "data/abc.json.gz"
    assert relative_data_key(f"AWSDynamoDB/{EXPORT_ID}/data/abc.json.gz", EXPORT_ID, None) == "data/abc.json.gz"
    assert relative_data_key(key, "renamed", None) is None
    assert relative_data_key(key, "renamed", OTHER_ID) is None


def test_relative_data_key_names_a_file_of_the_shared_data_folder_from_the_export_folder() -> None:
    assert relative_data_key("exports/AWSDynamoDB/data/u2wov.json.gz", EXPORT_ID, None) == "../data/u2wov.json.gz"
    assert relative_data_key("AWSDynamoDB/data/u2wov.json.gz", "renamed", None, None) == "../data/u2wov.json.gz"
    assert relative_data_key("exports/AWSDynamoDB/data/u2wov.json.gz", "x", None, "exports/") == "../data/u2wov.json.gz"
    assert relative_data_key("AWSDynamoDB/data/u2wov.json.gz", EXPORT_ID, None, "exports") is None  # another prefix
    assert relative_data_key("exports/AWSDynamoDB/data/u2wov.json.gz", EXPORT_ID, None, None) is None


INCREMENTAL = {
    "exportFromTime": "2024-05-01T10:00:00.000Z",
    "exportToTime": "2024-05-01T10:15:00.000Z",
    "outputView": "NEW_AND_OLD_IMAGES",
}


def test_an_incremental_export_reads_its_data_files_from_the_shared_data_folder(tmp_path: Path) -> None:
    folder = make_export(tmp_path, incremental=INCREMENTAL)
    assert not (folder / "data").exists() and len(list((folder.parent / "data").iterdir())) == 4
    export = load_export(LocalFolder(folder))
    assert all(f.name.startswith("../data/") for f in export.files)
    assert export.folder.url(export.files[0].name) == str(folder.parent / "data" / export.files[0].name[8:])
    assert sorted(all_lines(export.folder, export)) == sorted((r + "\n").encode() for r in RECORDS)


def test_an_incremental_export_copied_without_its_shared_data_folder_says_how_to_copy_it(tmp_path: Path) -> None:
    folder = make_export(tmp_path / "src", incremental=INCREMENTAL)
    alone = tmp_path / "copied" / EXPORT_ID
    shutil.copytree(folder, alone)
    with pytest.raises(ExportLocationError) as info:
        load_export(LocalFolder(alone))
    text = str(info.value)
    assert "\n" not in text and str(tmp_path / "copied" / "data") in text
    assert "aws s3 sync s3://source-export-bucket/exports/AWSDynamoDB/ ./dir/" in text


def test_an_incremental_export_in_s3_reads_the_shared_data_folder_beside_it(tmp_path: Path, moto: None) -> None:
    client = boto3.client("s3")
    client.create_bucket(Bucket="restore-bucket")
    folder = make_export(tmp_path, incremental=INCREMENTAL)
    upload_folder(client, folder.parent, "restore-bucket", "moved/AWSDynamoDB/")  # the whole AWSDynamoDB/ folder
    export = load_export(locate_export(f"s3://restore-bucket/moved/AWSDynamoDB/{EXPORT_ID}/", lambda: client))
    assert export.folder.url(export.files[0].name).startswith("s3://restore-bucket/moved/AWSDynamoDB/data/")
    assert sorted(all_lines(export.folder, export)) == sorted((r + "\n").encode() for r in RECORDS)
    client.delete_objects(
        Bucket="restore-bucket",
        Delete={"Objects": [{"Key": f"moved/AWSDynamoDB/data/{f.name[8:]}"} for f in export.files]},
    )
    with pytest.raises(ExportLocationError, match="s3://restore-bucket/moved/AWSDynamoDB/data/, which is missing"):
        load_export(export.folder)


# --- moved and copied exports -------------------------------------------------------------------------------


def test_an_export_copied_under_a_different_prefix_still_resolves(tmp_path: Path) -> None:
    original = make_export(tmp_path / "src")
    copy = tmp_path / "restore" / "copied" / "deeper" / "AWSDynamoDB" / EXPORT_ID
    shutil.copytree(original, copy)
    shutil.rmtree(original)
    export = load_export(locate_export(str(copy)))
    assert export.item_count == len(RECORDS)
    assert sorted(all_lines(export.folder, export)) == sorted((r + "\n").encode() for r in RECORDS)


def test_an_export_in_a_renamed_folder_is_found_by_the_export_id_in_its_arn(tmp_path: Path) -> None:
    original = make_export(tmp_path / "src")
    renamed = tmp_path / "my-downloaded-export"
    shutil.copytree(original, renamed)
    shutil.rmtree(original)
    export = load_export(LocalFolder(renamed))
    assert export.item_count == len(RECORDS)
    assert sorted(all_lines(export.folder, export)) == sorted((r + "\n").encode() for r in RECORDS)


def test_a_renamed_folder_whose_summary_has_no_export_arn_cannot_vouch_for_its_keys(tmp_path: Path) -> None:
    original = make_export(tmp_path / "src", checksum="none")
    edit_summary(original, exportArn=None)
    renamed = tmp_path / "renamed"
    shutil.copytree(original, renamed)
    with pytest.raises(OutsideExportError):
        load_export(LocalFolder(renamed))


def test_a_manifest_path_locates_its_folder(tmp_path: Path) -> None:
    folder = make_export(tmp_path)
    for name in ("manifest-summary.json", "manifest-files.json"):
        located = locate_export(str(folder / name))
        assert located == LocalFolder(folder)


def test_a_path_that_is_no_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ExportLocationError):
        locate_export(str(tmp_path / "nowhere"))


# --- malformed and unsupported exports ----------------------------------------------------------------------


def test_a_folder_without_manifest_summary_json_is_a_manifest_error(tmp_path: Path) -> None:
    folder = make_export(tmp_path, checksum="none")
    (folder / "manifest-summary.json").unlink()
    with pytest.raises(ManifestError) as info:
        load_export(LocalFolder(folder))
    assert "manifest-summary.json" in str(info.value)


def test_a_folder_without_manifest_files_json_is_a_manifest_error(tmp_path: Path) -> None:
    folder = make_export(tmp_path, checksum="none")
    (folder / "manifest-files.json").unlink()
    with pytest.raises(ManifestError) as info:
        load_export(LocalFolder(folder))
    assert "manifest-files.json" in str(info.value)


def test_an_unknown_output_format_is_unsupported_and_says_so(tmp_path: Path) -> None:
    folder = make_export(tmp_path, checksum="none")
    edit_summary(folder, outputFormat="PARQUET")
    with pytest.raises(UnsupportedExport) as info:
        load_export(LocalFolder(folder))
    assert "'PARQUET'" in str(info.value) and "DYNAMODB_JSON, ION" in str(info.value)


def test_an_unknown_export_type_is_unsupported(tmp_path: Path) -> None:
    folder = make_export(tmp_path, checksum="none")
    edit_summary(folder, exportType="SNAPSHOT_OF_THE_FUTURE")
    with pytest.raises(UnsupportedExport):
        load_export(LocalFolder(folder))


def test_a_summary_item_count_disagreeing_with_the_files_is_a_manifest_error(tmp_path: Path) -> None:
    folder = make_export(tmp_path, checksum="none")
    edit_summary(folder, itemCount=len(RECORDS) + 1)
    with pytest.raises(ManifestError) as info:
        load_export(LocalFolder(folder))
    assert f"itemCount {len(RECORDS) + 1}" in str(info.value)
    assert f"adds up to {len(RECORDS)}" in str(info.value)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda e: e.update(itemCount=-1), "itemCount"),
        (lambda e: e.update(itemCount="3"), "itemCount"),
        (lambda e: e.update(itemCount=True), "itemCount"),
        (lambda e: e.pop("md5Checksum"), "md5Checksum"),
    ],
)
def test_a_manifest_line_with_a_bad_field_is_a_manifest_error_naming_the_line(
    tmp_path: Path, change: Any, words: str
) -> None:
    folder = make_export(tmp_path, checksum="none")
    entries = manifest_entries(folder)
    change(entries[1])
    write_manifest_entries(folder, entries)
    edit_summary(folder, itemCount=None)
    with pytest.raises(ManifestError) as info:
        load_export(LocalFolder(folder))
    assert "manifest-files.json:2:" in str(info.value) and words in str(info.value)


def test_a_manifest_naming_the_same_data_file_twice_is_a_manifest_error(tmp_path: Path) -> None:
    folder = make_export(tmp_path, checksum="none")
    entries = manifest_entries(folder)
    write_manifest_entries(folder, [*entries, entries[0]])
    edit_summary(folder, itemCount=None)
    with pytest.raises(ManifestError, match="twice"):
        load_export(LocalFolder(folder))


def test_a_summary_that_is_not_json_is_a_manifest_error(tmp_path: Path) -> None:
    folder = make_export(tmp_path, checksum="none")
    (folder / "manifest-summary.json").write_text("{not json")
    with pytest.raises(ManifestError, match="not JSON"):
        load_export(LocalFolder(folder))


# --- S3 -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["folder", "folder/", "manifest-summary.json", "manifest-files.json"])
def test_an_export_in_s3_is_found_from_its_folder_or_either_manifest_url(tmp_path: Path, moto: None, form: str) -> None:
    client = boto3.client("s3")
    client.create_bucket(Bucket="restore-bucket")
    folder = make_export(tmp_path, checksum="checksum-b64")
    prefix = f"copied/elsewhere/AWSDynamoDB/{EXPORT_ID}/"  # not the s3Prefix the manifests were written with
    upload_folder(client, folder, "restore-bucket", prefix)
    base = f"s3://restore-bucket/{prefix}"
    url = {"folder": base.rstrip("/"), "folder/": base}.get(form, base + form)

    located = locate_export(url, lambda: client)
    assert located == S3Folder(client, "restore-bucket", prefix)
    export = load_export(located)
    assert export.checks == (
        "manifest-summary.json matches manifest-summary.checksum",
        "manifest-files.json matches manifest-files.checksum",
    )
    assert export.url == base
    assert [f.name for f in export.files] == [f.name for f in load_export(LocalFolder(folder)).files]
    assert sorted(all_lines(located, export)) == sorted((r + "\n").encode() for r in RECORDS)


def test_an_s3_prefix_without_an_export_is_a_manifest_error(moto: None) -> None:
    client = boto3.client("s3")
    client.create_bucket(Bucket="restore-bucket")
    with pytest.raises(ManifestError):
        load_export(locate_export("s3://restore-bucket/nothing/here/", lambda: client))
