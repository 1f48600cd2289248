"""One exception class per failure mode, each with a message a user can act on.

Every error the tool reports to a user derives from `RestoreError`; the CLI prints `str(err)` as one line
and exits non-zero, so messages name the file, line and reason themselves instead of relying on a traceback.
Two exceptions stay private to their modules, signals that never leave them: export/sizes.py's `Invalid` (the
walk's "not valid DynamoDB JSON", which records.py turns into a RecordError) and export/ion.py's `_Refused`.
"""

from __future__ import annotations

__all__ = [
    "RestoreError",
    "ExportLocationError",
    "ManifestError",
    "ChecksumMismatch",
    "OutsideExportError",
    "UnsupportedExport",
    "TargetTableError",
    "KeySchemaMismatch",
    "DataFileError",
    "RecordError",
    "RetryBoundExceeded",
    "SeriesError",
    "InputError",
    "RestoreFailed",
    "UsageError",
    "SyncRefused",
]


class RestoreError(Exception):
    """Base of every error a user is meant to read."""

    #: Set by chunk.py when the error stops a data file: lines of the file applied or rejected before it.
    cursor: int | None = None


class ExportLocationError(RestoreError):
    """The EXPORT argument does not name a readable export (folder, s3:// prefix or manifest URL)."""


class ManifestError(RestoreError):
    """`manifest-summary.json` or `manifest-files.json` is missing or malformed."""


class ChecksumMismatch(RestoreError):
    """A manifest or data file does not match the checksum recorded for it."""


class OutsideExportError(RestoreError):
    """A manifest names a data file outside the export folder: refused so an export can't make us read elsewhere."""


class UnsupportedExport(RestoreError):
    """The export's `outputFormat`, `version` or view is one this version cannot apply."""


class TargetTableError(RestoreError):
    """The target table is missing, not ACTIVE, or cannot be described."""


class KeySchemaMismatch(RestoreError):
    """The export's records do not carry the target table's key attributes with the right types."""


class DataFileError(RestoreError):
    """A data file cannot be read to its end: corrupt gzip, truncated, wrong MD5 or item count."""

    def __init__(self, file: str, reason: str, line: int | None = None, *, transient: bool = False) -> None:
        self.file = file
        self.transient = transient  # a network read failed: reading again from the cursor may succeed
        self.line = line
        self.reason = reason
        where = f"{file}:{line}" if line is not None else file
        super().__init__(f"{where}: {reason}")


class RecordError(ValueError):
    """One record line is not valid DynamoDB JSON: it goes to the rejects output with this reason.

    Not a RestoreError: a bad record does not stop the run; the writer keeps going and the run's exit
    status reflects the rejects count.
    """


class RetryBoundExceeded(RestoreError):
    """Throttling or server errors lasted longer than the total retry time allowed for one batch."""


class SeriesError(RestoreError):
    """The exports do not form one unbroken series of one table."""


class InputError(RestoreError):
    """An execution's input asks for something the stack does not allow, or is malformed."""


class RestoreFailed(RestoreError):
    """The restore ended with failed files or too many rejects; the message says where the report is.

    Its name is the error a failed parent execution shows (`RestoreFailed`): keep it."""


class UsageError(RestoreError):
    """Options that cannot go together (argparse checks each option alone)."""


class SyncRefused(RestoreError):
    """A sync or migrate step that must not start: its state is leased by another sync or names another source,
    or the source table cannot be exported (point-in-time recovery off)."""
