"""The lines of one data file, streamed: gunzipped as they arrive, MD5 and record count checked at the end.

A data file is never held in memory whole: bytes flow from S3 (or disk) through an MD5 as they are read,
into a gzip decoder, and out as lines. Resuming at line N re-reads the file from its start and skips N lines
without parsing them: a gzip stream cannot be entered in the middle, the skip costs only decompression, and
reading the whole object again is what lets the last chunk still verify the file's MD5 and its count.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import zlib
from collections.abc import Generator
from typing import BinaryIO

from botocore.exceptions import BotoCoreError, ClientError
from urllib3.exceptions import HTTPError as URLLib3Error

from ..errors import DataFileError
from ..retry import classify
from .manifest import DataFile
from .storage import Folder

__all__ = ["read_lines", "MAX_LINE_BYTES"]

# An item is at most 400 KB; as DynamoDB JSON (base64 blobs, escapes) a line can be a few times larger.
# A longer line is not a record: stop there instead of letting a crafted file fill memory.
MAX_LINE_BYTES = 4 * 1024 * 1024
_READ_SIZE = 256 * 1024


class _HashingReader:
    """Wraps a byte stream, feeding every byte read into an MD5 and counting them."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.md5.update(data)
        self.size += len(data)
        return data

    def drain(self) -> None:
        """Read to the end, so the MD5 covers the whole object even past the gzip stream's end."""
        while self.read(_READ_SIZE):
            pass


def read_lines(folder: Folder, file: DataFile, start_line: int = 0) -> Generator[tuple[int, bytes], None, None]:
    """Yield (line number, line) for the file's records after `start_line`, then check MD5 and count.

    Blank lines at the end of the file are not records (some tools end a file with one); a blank line before a
    record is yielded, so the parser refuses it. A zero-byte object reads as a file of no records.
    Raises DataFileError naming the file (and line) for a missing object, corrupt or truncated gzip,
    an over-long line, an MD5 other than the manifest's, or a record count other than `itemCount`.
    The checks at the end run only when the caller reads the iterator to its end.
    """
    url = folder.url(file.name)
    try:
        raw = folder.open(file.name)
    except FileNotFoundError:
        raise DataFileError(url, "data file named in manifest-files.json does not exist") from None
    except (ClientError, BotoCoreError) as err:  # retries used up (SlowDown, 5xx), AccessDenied, KMS...
        raise DataFileError(url, f"cannot be read ({err})", transient=classify(err) is not None) from None
    reader = _HashingReader(raw)
    line_no = 0
    blanks: list[tuple[int, bytes]] = []  # blank lines held back: records if a line follows, nothing at the end
    try:
        with gzip.GzipFile(fileobj=reader, mode="rb") as stream:  # type: ignore[call-overload]
            while True:
                line = stream.readline(MAX_LINE_BYTES + 1)
                if not line:
                    break
                line_no += 1
                if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
                    raise DataFileError(url, f"line longer than {MAX_LINE_BYTES} bytes: not an export record", line_no)
                if not line.strip():
                    blanks.append((line_no, line))
                    continue
                for held in blanks:
                    if held[0] > start_line:
                        yield held
                blanks.clear()
                if line_no > start_line:
                    yield line_no, line
        reader.drain()
    except (gzip.BadGzipFile, zlib.error) as err:
        raise DataFileError(url, f"corrupt gzip data after line {line_no} ({err})") from None
    except EOFError:
        raise DataFileError(url, f"truncated: the gzip stream ends after line {line_no}") from None
    except (OSError, BotoCoreError, URLLib3Error) as err:  # urllib3's: what botocore lets through (SSLError...)
        raise DataFileError(url, f"read failed after line {line_no} ({err})", transient=True) from None
    finally:
        raw.close()
    md5 = base64.b64encode(reader.md5.digest()).decode()
    if md5 != file.md5 and reader.md5.hexdigest() != file.md5.lower():
        raise DataFileError(url, f"MD5 {md5} differs from md5Checksum {file.md5} in manifest-files.json")
    records = line_no - len(blanks)
    if records != file.item_count:
        raise DataFileError(url, f"holds {records} records but manifest-files.json says itemCount {file.item_count}")
