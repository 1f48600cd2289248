"""Count the table's items with a parallel `Scan` (`Select=COUNT`, one thread per segment, or in AWS one
Distributed Map item per segment, each a Lambda call after another with the segment's key to go on from).

A count still reads every item (DynamoDB charges the data scanned, 4 KB rounding per page, eventually
consistent half), so it spends the same read budget: each page's consumed units are taken from the bucket
after the page (a Scan's cost is known only then; the bucket's debt makes the next page wait it off).
Throttling and 5xx are retried under the writer's retry policy, as the read-back does.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from ..retry import RetryPolicy, classify
from ..write.budget import WriteBudget
from .tally import Tally

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["count_items", "count_segment", "key_to_json", "key_from_json"]


def count_segment(
    client: DynamoDBClient,
    table: str,
    segment: int,
    segments: int,
    *,
    consistent: bool,
    budget: WriteBudget | None,
    retry: RetryPolicy,
    tally: Tally,
    start: dict[str, Any] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> tuple[int, dict[str, Any] | None]:
    """Count one segment from `start` (an ExclusiveStartKey) until its end, or until `should_stop` says so
    after a page: (items counted, the key to go on from, None at the segment's end)."""
    count = 0
    streak = retry.streak()
    while True:
        request: dict[str, Any] = {
            "TableName": table,
            "Select": "COUNT",
            "Segment": segment,
            "TotalSegments": segments,
            "ConsistentRead": consistent,
            "ReturnConsumedCapacity": "TOTAL",
        }
        if start:
            request["ExclusiveStartKey"] = start
        try:
            page = client.scan(**request)
        except (ClientError, BotoCoreError) as err:
            if classify(err) is None:
                raise
            tally.add(throttled=1)
            streak.wait(f"Scan: {err}")
            continue
        streak.progress()
        units = float(page.get("ConsumedCapacity", {}).get("CapacityUnits", 0.0))
        tally.add(read_units=units)
        if budget and units:
            budget.acquire(round(units * 2))
        count += page.get("Count", 0)
        start = page.get("LastEvaluatedKey")
        if not start or should_stop():
            return count, start or None


def key_to_json(key: dict[str, Any] | None) -> dict[str, Any] | None:
    """A LastEvaluatedKey as botocore parses it (B as bytes) in JSON, for a state machine to carry."""
    if key is None:
        return None
    return {k: {"B": base64.b64encode(v["B"]).decode()} if "B" in v else v for k, v in key.items()}


def key_from_json(key: dict[str, Any] | None) -> dict[str, Any] | None:
    """The reverse of `key_to_json`: B back to bytes, as botocore's serialiser takes it."""
    if key is None:
        return None
    return {k: {"B": base64.b64decode(v["B"])} if "B" in v else v for k, v in key.items()}


def count_items(
    client: DynamoDBClient,
    table: str,
    *,
    segments: int,
    consistent: bool = False,
    budget: WriteBudget | None = None,
    retry: RetryPolicy,
    tally: Tally,
) -> int:
    """The number of items in `table`, counted in `segments` parallel segments."""
    segments = max(1, segments)
    with ThreadPoolExecutor(max_workers=segments, thread_name_prefix="count") as pool:
        futures = [
            pool.submit(
                count_segment,
                client,
                table,
                segment,
                segments,
                consistent=consistent,
                budget=budget,
                retry=retry,
                tally=tally,
            )
            for segment in range(segments)
        ]
        return sum(future.result()[0] for future in futures)
