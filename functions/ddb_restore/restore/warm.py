"""Pre-warming an on-demand table before a restore: UpdateTable's WarmThroughput, then a wait until it is active.

A cold on-demand table takes at once only its warm throughput (4,000 write units a second for a new one) and
throttles a faster restore until DynamoDB has scaled it; raising `WarmThroughput.WriteUnitsPerSecond` to the planned
rate first makes the table take it from the first write. AWS bills the increase once, and a warm throughput is
never lowered again. The update is asynchronous: DescribeTable shows the table (and its WarmThroughput) UPDATING,
then ACTIVE. `step` is one look (start the update if none is under way, else report), for a state machine's
Wait loop; `prewarm` loops over it with the clock, for `ddb-restore run`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from ..clock import Clock
from ..errors import TargetTableError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["WarmState", "step", "prewarm"]


@dataclass(frozen=True)
class WarmState:
    ready: bool
    line: str  # what the table is doing, for the plan's output and the state machine's log


def step(client: DynamoDBClient, table: str, wcu: int) -> WarmState:
    """Look at `table`'s warm throughput once; ask for `wcu` write units a second when it has less and no update
    is under way. Ready when the table and its warm throughput are ACTIVE at `wcu` or more."""
    try:
        desc = client.describe_table(TableName=table)["Table"]
        warm = desc.get("WarmThroughput") or {}
        have, status = int(warm.get("WriteUnitsPerSecond") or 0), warm.get("Status", "ACTIVE")
        updating = desc.get("TableStatus") != "ACTIVE" or status != "ACTIVE"
        if not updating and have >= wcu:
            return WarmState(True, f"prewarm: {table} is warm for {have:,} write units a second (ACTIVE)")
        if not updating:
            client.update_table(TableName=table, WarmThroughput={"WriteUnitsPerSecond": wcu})
            return WarmState(False, f"prewarm: asked {table} for {wcu:,} write units a second (was {have:,})")
    except (ClientError, BotoCoreError) as err:
        raise TargetTableError(f"table {table!r}: its warm throughput cannot be raised to {wcu:,}: {err}") from None
    return WarmState(False, f"prewarm: {table} is {desc.get('TableStatus')}, warm throughput {status} at {have:,}")


def prewarm(
    client: DynamoDBClient,
    table: str,
    wcu: int,
    show: Callable[[str], None],
    *,
    clock: Clock,
    timeout_s: float = 3600.0,
    interval_s: float = 10.0,
) -> None:
    """Raise `table`'s warm throughput to `wcu` and wait until it is active, showing each new state.
    TargetTableError after `timeout_s` (the update goes on: a later run finds it done)."""
    deadline = clock.monotonic() + timeout_s
    last = ""
    while True:
        state = step(client, table, wcu)
        if state.line != last:
            show(state.line)
            last = state.line
        if state.ready:
            return
        if clock.monotonic() >= deadline:
            raise TargetTableError(
                f"table {table!r}: warm throughput not ACTIVE at {wcu:,} after {timeout_s:,.0f} s "
                f"({state.line}): run again once DescribeTable shows it ACTIVE"
            )
        clock.sleep(interval_s)
