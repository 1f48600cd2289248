"""Everything checked before the first write, and the plan a user reads with `--dry-run`.

The target table must exist and be ACTIVE; the export's records must carry its key attributes with the
right types (the first records of the first non-empty data file are read to see); point-in-time recovery is
reported because, with it off, a restore into the wrong table cannot be undone. The estimate multiplies the
sampled records' write units (1 KB rounding) by 1 + the GSIs whose keys each record carries, or uses the export's
billed bytes per item when those are larger and plausible (not more than DynamoDB's 400 KB an item, and not an
incremental export's 10 MB billing minimum).
"""

from __future__ import annotations

from contextlib import closing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from ..errors import DataFileError, KeySchemaMismatch, RecordError, TargetTableError
from ..export.datafile import read_lines
from ..export.manifest import Export
from ..export.records import Record, RecordParser, make_parser, write_units
from ..export.series import overlaps
from ..transform import Pipeline
from ..write.writer import WriteCounts
from .capacity import TableCapacity

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["TargetTable", "Plan", "describe_target", "make_plan", "parser_for"]

SAMPLE_RECORDS = 20
MAX_ITEM_BYTES = 400 * 1024
# AWS bills an incremental export at least 10 MB and reports that minimum as its billedSizeBytes.
INCREMENTAL_BILLING_MINIMUM = 10_000_000


@dataclass(frozen=True)
class TargetTable:
    name: str
    status: str
    key_names: tuple[str, ...]  # hash key first
    key_types: dict[str, str]  # attribute name → S, N or B
    gsis: tuple[tuple[str, tuple[str, ...]], ...]  # (index name, its key attributes)
    billing_mode: str
    provisioned_wcu: int | None
    pitr: str  # ENABLED, DISABLED or "unknown"
    identity: str = ""  # this incarnation of the table (TableId): a table deleted and created again is another
    capacity: TableCapacity = field(default_factory=TableCapacity)  # what bounds its write rate (capacity.py)

    def describe_key(self) -> str:
        return " / ".join(f"{n} ({self.key_types[n]})" for n in self.key_names)


def describe_target(client: DynamoDBClient, table: str) -> TargetTable:
    """Describe the target table, or raise TargetTableError when it cannot take writes."""
    try:
        desc = client.describe_table(TableName=table)["Table"]
    except client.exceptions.ResourceNotFoundException:
        raise TargetTableError(f"table {table!r} does not exist (ddb-restore writes into an existing table)") from None
    except (ClientError, BotoCoreError) as err:
        raise TargetTableError(f"table {table!r} cannot be described: {err}") from None
    status = desc.get("TableStatus", "UNKNOWN")
    if status != "ACTIVE":
        raise TargetTableError(f"table {table!r} is {status}, not ACTIVE: wait until it is, then run again")
    keys = sorted(desc["KeySchema"], key=lambda k: k["KeyType"] != "HASH")
    types = {a["AttributeName"]: a["AttributeType"] for a in desc.get("AttributeDefinitions", [])}
    gsis = tuple(
        (g["IndexName"], tuple(k["AttributeName"] for k in g["KeySchema"]))
        for g in desc.get("GlobalSecondaryIndexes", [])
    )
    billing = desc.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED")
    wcu = desc.get("ProvisionedThroughput", {}).get("WriteCapacityUnits") or None
    try:
        backups = client.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
        pitr: str = backups.get("PointInTimeRecoveryDescription", {}).get("PointInTimeRecoveryStatus", "DISABLED")
    except (ClientError, BotoCoreError):
        pitr = "unknown"
    return TargetTable(
        name=table,
        status=status,
        key_names=tuple(k["AttributeName"] for k in keys),
        key_types={k["AttributeName"]: types.get(k["AttributeName"], "?") for k in keys},
        gsis=gsis,
        billing_mode=billing if wcu is None or billing == "PAY_PER_REQUEST" else "PROVISIONED",
        provisioned_wcu=None if billing == "PAY_PER_REQUEST" else wcu,
        pitr=pitr,
        identity=str(desc.get("TableId") or f"{table}@{desc.get('CreationDateTime', '')}"),
        capacity=TableCapacity.from_description(desc),
    )


def parser_for(
    export: Export, table: TargetTable, *, revert: bool = False, transform: Pipeline | None = None
) -> RecordParser:
    """The parser for this export's format and kind; `revert` undoes an incremental export's changes. Before a
    transform that may change keys, records are keyed by the export's own keys (records.py)."""
    key_names = transform.parse_key_names if transform else table.key_names
    return make_parser(export.output_format, export.incremental, key_names, revert=revert)


def _key_images(doc: dict[str, Any], incremental: bool) -> list[tuple[str, Any]]:
    if not incremental:
        return [("Item", doc.get("Item"))]
    return [(name, doc[name]) for name in ("Keys", "NewImage") if isinstance(doc.get(name), dict)]


def _check_key_types(doc: dict[str, Any], incremental: bool, table: TargetTable, where: str) -> None:
    for image_name, image in _key_images(doc, incremental):
        _check_image_keys(image_name, image, table, where)


def _check_image_keys(image_name: str, image: Any, table: TargetTable, where: str) -> None:
    for name in table.key_names:
        value = image.get(name) if isinstance(image, dict) else None
        expected = table.key_types[name]
        if not isinstance(value, dict) or expected not in value:
            found = f"as {next(iter(value))}" if isinstance(value, dict) and value else "missing"
            raise KeySchemaMismatch(
                f"{where}: {image_name} has key attribute {name!r} {found}, but table {table.name!r} "
                f"has key {table.describe_key()}: is this the right table?"
            )


def _transformed_sample(
    transform: Pipeline, record: Record, table: TargetTable, where: str
) -> tuple[list[Record], str | None]:
    """The sampled record's results, their keys checked against the table; or the transform's error."""
    transform.check_keys_kept(record, where)
    try:
        results = transform.apply(record, WriteCounts())
    except RecordError as err:
        if "key attribute" in str(err):  # every record would be refused: the table's key, not this record
            raise KeySchemaMismatch(f"{where}: {err}: is this the right table?") from None
        return [], f"{where}: {err}"
    for result in results:
        _check_image_keys(
            f"{'Keys' if result.op == 'delete' else 'the item'} after transforms", result.attributes, table, where
        )
    return results, None


def sample_units(export: Export, table: TargetTable, transform: Pipeline | None = None) -> tuple[float, int]:
    """Check the first records' keys (after `transform`); return (write units per record incl. GSIs, records
    sampled)."""
    parser = parser_for(export, table, transform=transform)
    first = next((f for f in export.files if f.item_count > 0), None)
    if first is None:
        return 0.0, 0
    units, sampled, first_error = 0, 0, None
    with closing(read_lines(export.folder, first, 0)) as lines:
        for line_no, text in lines:
            where = f"{export.folder.url(first.name)}:{line_no}"
            try:
                record = parser.parse(text, line_no)
            except RecordError as err:
                first_error = first_error or f"{where}: {err}"
                if "key attribute" in str(err):
                    _check_key_types(parser.decode(text), export.incremental, table, where)
            else:
                results = [record]
                if transform:
                    results, error = _transformed_sample(transform, record, table, where)
                    first_error = first_error or error
                else:
                    _check_key_types(parser.decode(text), export.incremental, table, where)
                for result in results:
                    indexes = sum(all(k in result.item for k in keys) for _, keys in table.gsis)
                    units += write_units(result.size) * (1 + (indexes if result.op == "put" else 0))
                sampled += 1
            if line_no >= SAMPLE_RECORDS:
                break
    if sampled == 0 and first_error:
        raise DataFileError(export.folder.url(first.name), f"no valid record among its first lines ({first_error})")
    return (units / sampled if sampled else 0.0), sampled


@dataclass
class Plan:
    exports: list[Export]
    table: TargetTable
    units_per_record: list[float]
    max_wcu: float | None
    estimate_basis: list[str]  # for each export, what its units per record came from
    transform: Pipeline | None = None

    @property
    def items(self) -> int:
        return sum(e.item_count for e in self.exports)

    @property
    def write_units(self) -> int:
        return round(sum(e.item_count * u for e, u in zip(self.exports, self.units_per_record, strict=True)))

    def duration_estimate(self) -> str:
        rate = self.max_wcu or self.table.provisioned_wcu
        if not rate:
            return "as fast as the on-demand table accepts (no --max-wcu given)"
        seconds = self.write_units / rate
        source = "--max-wcu" if self.max_wcu else "the table's provisioned WCU"
        return f"about {_duration(seconds)} at {rate:,.0f} WCU/s ({source})"

    def lines(self) -> list[str]:
        out = []
        for i, export in enumerate(self.exports, 1):
            empty = sum(1 for f in export.files if f.item_count == 0)
            when = export.summary.get("exportTime") or export.summary.get("exportToTime") or "?"
            out.append(f"export {i}/{len(self.exports)}: {export.url}")
            out.append(
                f"  {export.export_type} {export.output_format}, table {export.summary.get('tableArn', '?')}, "
                f"time {when}"
            )
            out.append(
                f"  files {len(export.files)} ({empty} empty), items {export.item_count:,}, "
                f"billed bytes {export.billed_size_bytes:,}"
            )
            out.append(f"  size estimate: {self.estimate_basis[i - 1]}")
            checks = [*export.checks, f"{len(export.files)} data-file keys inside the export folder"]
            out.append("  checked: " + "; ".join(checks))
        out += [f"note: {note}" for note in overlaps(self.exports)]
        if self.transform:
            out.append(self.transform.describe())
        t = self.table
        out.append(
            f"target: table {t.name} ({t.status}, {t.billing_mode}"
            + (f" {t.provisioned_wcu} WCU" if t.provisioned_wcu else "")
            + f", key {t.describe_key()}, {len(t.gsis)} GSI(s)), point-in-time recovery {t.pitr}"
        )
        out.append(
            f"estimate: {self.items:,} records, ~{self.write_units:,} write units (1 KB rounding, GSIs included); "
            + self.duration_estimate()
        )
        if t.pitr != "ENABLED":
            out.append(
                f"warning: point-in-time recovery is {t.pitr} on {t.name}: "
                "a restore into the wrong table cannot be undone"
            )
        return out


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _billed_bytes_per_item(export: Export) -> tuple[float | None, str]:
    """The export's billed bytes per item when plausible, else None; and why not."""
    billed, count = export.billed_size_bytes, export.item_count
    if not count or billed <= 0:
        return None, "no billedSizeBytes"
    if export.incremental and billed <= INCREMENTAL_BILLING_MINIMUM:
        return None, f"billedSizeBytes {billed:,} is the incremental export's billing minimum, not a size"
    if billed > count * MAX_ITEM_BYTES:
        return None, f"billedSizeBytes {billed:,} is more than {count:,} items of 400 KB can hold"
    return billed / count, ""


def make_plan(
    exports: list[Export], table: TargetTable, max_wcu: float | None, transform: Pipeline | None = None
) -> Plan:
    """Check every export against the table (keys, first records, after `transform`) and estimate the work.
    Writes nothing.

    Units per record: the sampled records' average, or the export's billed bytes per item when that is
    larger and plausible (the first records need not be typical: one large item later costs hundreds of units).
    """
    units, basis = [], []
    for export in exports:
        sampled, count = sample_units(export, table, transform)
        per_item, why_not = _billed_bytes_per_item(export)
        billed_units = per_item / 1024 * (1 + len(table.gsis)) if per_item is not None else 0.0
        if billed_units > sampled:
            units.append(billed_units)
            basis.append(f"billed bytes per item ({per_item:,.0f} B), larger than the {count} sampled records'")
        else:
            units.append(sampled)
            reason = why_not or "billed bytes per item are not larger"
            basis.append(f"the {count} sampled records' sizes ({reason})" if count else "no records")
    return Plan(exports, table, units, max_wcu, basis, transform)
