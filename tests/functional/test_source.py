"""Streaming one data file: every line read, resumable, MD5 and count verified, every fault a DataFileError."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
from pathlib import Path

import boto3
import pytest

from ddb_restore.errors import DataFileError
from ddb_restore.export.datafile import MAX_LINE_BYTES, read_lines
from ddb_restore.export.manifest import DataFile
from ddb_restore.export.storage import LocalFolder, S3Folder

LINES = [f'{{"Item":{{"pk":{{"S":"k{i}"}},"sk":{{"N":"{i}"}}}}}}\n'.encode() for i in range(1, 6)]
NAME = "data/abcdefabcdefabcdefabcdef.json.gz"


def b64md5(body: bytes) -> str:
    return base64.b64encode(hashlib.md5(body).digest()).decode()


def put_file(
    root: Path, body: bytes, count: int, *, md5: str | None = None, name: str = NAME
) -> tuple[LocalFolder, DataFile]:
    """Store `body` as a data file in the export folder `root` and describe it as manifest-files.json would."""
    (root / name).parent.mkdir(parents=True, exist_ok=True)
    (root / name).write_bytes(body)
    return LocalFolder(root), DataFile(name, count, b64md5(body) if md5 is None else md5, 1)


def gz(lines: list[bytes]) -> bytes:
    return gzip.compress(b"".join(lines), mtime=0)


def failure(folder: LocalFolder | S3Folder, file: DataFile, start_line: int = 0) -> DataFileError:
    with pytest.raises(DataFileError) as info:
        list(read_lines(folder, file, start_line))
    err = info.value
    assert str(err).startswith(folder.url(file.name))  # every message names the file first
    assert err.file == folder.url(file.name)
    return err


# --- reading --------------------------------------------------------------------------------------------------


def test_every_line_is_read_with_its_number_and_the_file_verifies(tmp_path: Path) -> None:
    folder, file = put_file(tmp_path, gz(LINES), len(LINES))
    assert list(read_lines(folder, file)) == list(enumerate(LINES, 1))


def test_a_hex_md5_in_the_manifest_is_accepted_as_well(tmp_path: Path) -> None:
    body = gz(LINES)
    folder, file = put_file(tmp_path, body, len(LINES), md5=hashlib.md5(body).hexdigest().upper())
    assert len(list(read_lines(folder, file))) == len(LINES)


def test_resuming_from_a_line_yields_only_the_later_lines(tmp_path: Path) -> None:
    folder, file = put_file(tmp_path, gz(LINES), len(LINES))
    assert list(read_lines(folder, file, start_line=3)) == [(4, LINES[3]), (5, LINES[4])]
    assert list(read_lines(folder, file, start_line=len(LINES))) == []


def test_resuming_still_verifies_the_md5_of_the_whole_file(tmp_path: Path) -> None:
    folder, file = put_file(tmp_path, gz(LINES), len(LINES), md5=b64md5(b"another body"))
    err = failure(folder, file, start_line=3)
    assert "MD5" in err.reason and "md5Checksum" in err.reason


def test_resuming_past_the_end_still_verifies_the_item_count(tmp_path: Path) -> None:
    folder, file = put_file(tmp_path, gz(LINES), len(LINES) + 2)
    err = failure(folder, file, start_line=len(LINES))
    assert f"holds {len(LINES)} records" in err.reason


def test_a_zero_byte_file_with_item_count_zero_reads_as_empty(tmp_path: Path) -> None:
    folder, file = put_file(tmp_path, b"", 0)
    assert list(read_lines(folder, file)) == []


def test_an_empty_partition_as_aws_writes_it_reads_as_empty(tmp_path: Path) -> None:
    aws_empty = bytes.fromhex("1f8b08000000000000ff03000000000000000000")  # a 20-byte gzip of no records
    assert len(aws_empty) == 20 and b64md5(aws_empty) == "FjvgqIxwymKf1RbbqtrZag=="
    folder, file = put_file(tmp_path, aws_empty, 0)
    assert list(read_lines(folder, file)) == []


def test_blank_lines_at_the_end_of_a_file_are_not_records(tmp_path: Path) -> None:
    folder, file = put_file(tmp_path, gz([*LINES, b"\n", b"\r\n"]), len(LINES))
    assert list(read_lines(folder, file)) == list(enumerate(LINES, 1))
    assert list(read_lines(folder, file, start_line=5)) == []


def test_a_blank_line_before_a_record_is_yielded_for_the_parser_to_refuse(tmp_path: Path) -> None:
    folder, file = put_file(tmp_path, gz([LINES[0], b"\n", *LINES[1:]]), len(LINES) + 1)
    assert list(read_lines(folder, file)) == [(1, LINES[0]), (2, b"\n"), *enumerate(LINES[1:], 3)]
    assert list(read_lines(folder, file, start_line=2)) == list(enumerate(LINES[1:], 3))


def test_a_zero_byte_file_claiming_three_items_fails(tmp_path: Path) -> None:
    folder, file = put_file(tmp_path, b"", 3)
    err = failure(folder, file)
    assert "holds 0 records" in str(err) and "itemCount 3" in str(err)


def test_a_file_of_two_concatenated_gzip_members_yields_all_lines(tmp_path: Path) -> None:
    body = gz(LINES[:2]) + gz(LINES[2:])
    folder, file = put_file(tmp_path, body, len(LINES))
    assert list(read_lines(folder, file)) == list(enumerate(LINES, 1))
    assert list(read_lines(folder, file, start_line=2)) == list(enumerate(LINES, 1))[2:]


def test_a_line_of_exactly_the_limit_including_its_newline_is_read(tmp_path: Path) -> None:
    long_line = b"x" * (MAX_LINE_BYTES - 1) + b"\n"
    folder, file = put_file(tmp_path, gz([LINES[0], long_line]), 2)
    assert [len(line) for _, line in read_lines(folder, file)] == [len(LINES[0]), MAX_LINE_BYTES]


# --- faults ---------------------------------------------------------------------------------------------------


def test_a_missing_data_file_fails_naming_it(tmp_path: Path) -> None:
    folder = LocalFolder(tmp_path)
    err = failure(folder, DataFile(NAME, 2, b64md5(b""), 1))
    assert "does not exist" in err.reason
    assert not err.transient


def test_a_file_that_is_not_gzip_fails_as_corrupt(tmp_path: Path) -> None:
    folder, file = put_file(tmp_path, b"this is plain text, not gzip\n", 1)
    err = failure(folder, file)
    assert "corrupt gzip" in err.reason
    assert not err.transient


def test_a_gzip_file_with_a_wrong_crc_fails_as_corrupt(tmp_path: Path) -> None:
    body = bytearray(gz(LINES))
    body[-8] ^= 0xFF  # the CRC32 in the member trailer
    folder, file = put_file(tmp_path, bytes(body), len(LINES))
    err = failure(folder, file)
    assert "corrupt gzip" in err.reason


def test_a_gzip_file_with_corrupt_deflate_data_fails_as_corrupt(tmp_path: Path) -> None:
    body = bytearray(gz(LINES))
    body[10] = 0xFF  # the first deflate block header: BTYPE 11 is reserved and invalid
    folder, file = put_file(tmp_path, bytes(body), len(LINES))
    err = failure(folder, file)
    assert "corrupt gzip" in err.reason


@pytest.mark.parametrize("cut", [1, 8, 20], ids=["last-byte", "trailer", "into-the-data"])
def test_a_truncated_gzip_file_fails_as_truncated(tmp_path: Path, cut: int) -> None:
    many = [line * 20 for line in LINES]
    body = gz(many)[:-cut]
    folder, file = put_file(tmp_path, body, len(many))
    err = failure(folder, file)
    assert "truncated" in err.reason
    assert not err.transient


def test_a_wrong_md5_fails_naming_both_checksums(tmp_path: Path) -> None:
    body = gz(LINES)
    wrong = b64md5(b"not this file")
    folder, file = put_file(tmp_path, body, len(LINES), md5=wrong)
    err = failure(folder, file)
    assert b64md5(body) in err.reason and wrong in err.reason
    assert "manifest-files.json" in err.reason


def test_a_wrong_item_count_fails_with_both_counts(tmp_path: Path) -> None:
    folder, file = put_file(tmp_path, gz(LINES), len(LINES) - 1)
    err = failure(folder, file)
    assert f"holds {len(LINES)} records" in err.reason
    assert f"itemCount {len(LINES) - 1}" in err.reason


def test_an_over_long_line_fails_naming_its_line_number(tmp_path: Path) -> None:
    long_line = b"x" * (MAX_LINE_BYTES + 10) + b"\n"
    folder, file = put_file(tmp_path, gz([LINES[0], long_line, LINES[1]]), 3)
    with pytest.raises(DataFileError) as info:
        for _ in read_lines(folder, file):
            pass
    err = info.value
    assert err.line == 2
    assert str(err).startswith(f"{folder.url(file.name)}:2: ")
    assert f"longer than {MAX_LINE_BYTES} bytes" in err.reason


def test_an_over_long_last_line_without_a_newline_fails(tmp_path: Path) -> None:
    folder, file = put_file(tmp_path, gz([b"y" * (MAX_LINE_BYTES + 1)]), 1)
    assert failure(folder, file).line == 1


class FlakyFolder(LocalFolder):
    """A folder whose streams break after `good` bytes, as a dropped connection would."""

    good = 30

    def open(self, name: str) -> io.BufferedReader:
        data = (self.path / name).read_bytes()
        good = self.good

        class Broken(io.RawIOBase):
            pos = 0

            def readable(self) -> bool:
                return True

            def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
                if self.pos >= good:
                    raise ConnectionResetError("connection reset by peer")
                n = min(len(buffer), good - self.pos)
                buffer[:n] = data[self.pos : self.pos + n]
                self.pos += n
                return n

        return io.BufferedReader(Broken(), buffer_size=8)


def test_a_read_that_breaks_mid_stream_is_a_transient_failure(tmp_path: Path) -> None:
    body = gz(LINES)
    _, file = put_file(tmp_path, body, len(LINES))
    folder = FlakyFolder(tmp_path)
    err = failure(folder, file)  # type: ignore[arg-type]
    assert err.transient
    assert "read failed" in err.reason


# --- S3 -------------------------------------------------------------------------------------------------------


def test_a_data_file_in_s3_is_read_and_a_missing_one_fails(moto: None) -> None:
    client = boto3.client("s3")
    client.create_bucket(Bucket="exports")
    body = gz(LINES[:2]) + gz(LINES[2:])
    client.put_object(Bucket="exports", Key="p/AWSDynamoDB/x/" + NAME, Body=body)
    folder = S3Folder(client, "exports", "p/AWSDynamoDB/x/")
    file = DataFile(NAME, len(LINES), b64md5(body), 1)
    assert list(read_lines(folder, file, start_line=1)) == list(enumerate(LINES, 1))[1:]
    missing = DataFile("data/gone.json.gz", 1, b64md5(b""), 2)
    err = failure(folder, missing)
    assert "does not exist" in err.reason
    assert str(err).startswith("s3://exports/p/AWSDynamoDB/x/data/gone.json.gz: ")
