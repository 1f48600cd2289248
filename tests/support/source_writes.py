"""A source table's own writes, for the sync tests (the CLI's, tests/e2e/test_sync.py, and the state machine's):
items of a few partitions with a binary attribute, and one window's worth of changes of every kind."""

from __future__ import annotations

from typing import Any

from support.tables import create_table

__all__ = ["item", "key", "changes", "seed"]


def item(n: int, version: int) -> dict[str, Any]:
    return {"pk": {"S": f"user#{n % 7}"}, "sk": {"N": str(n)}, "v": {"N": str(version)}, "blob": {"B": b"\x00\xff"}}


def key(n: int) -> dict[str, Any]:
    return {"pk": {"S": f"user#{n % 7}"}, "sk": {"N": str(n)}}


def changes(app: Any, start: int, table: str = "Source") -> None:
    """An update, a delete, an insert and a re-insert of a key deleted before (3 puts and 1 delete in a window)."""
    app.update_item(
        TableName=table,
        Key=key(start),
        UpdateExpression="SET v = if_not_exists(v, :one) + :one",
        ExpressionAttributeValues={":one": {"N": "1"}},
    )
    app.delete_item(TableName=table, Key=key(start + 1))
    app.put_item(TableName=table, Item=item(1000 + start, 1))
    app.put_item(TableName=table, Item=item(start - 1, 7))


def seed(app: Any, items: int = 40) -> str:
    """Tables Source (PITR on, `items` items) and an empty Target, through `app` (an export double's client);
    the source's ARN."""
    create_table(app, "Source")
    create_table(app, "Target")
    app.update_continuous_backups(
        TableName="Source", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    for n in range(items):
        app.put_item(TableName="Source", Item=item(n, 1))
    return str(app.describe_table(TableName="Source")["Table"]["TableArn"])
