"""A source table's own writes, for the sync tests (the CLI's, tests/e2e/test_sync.py, and the state machine's):
items of a few partitions with a binary attribute, and one window's worth of changes of every kind."""

from __future__ import annotations

from typing import Any

__all__ = ["item", "key", "changes"]


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
