"""Read the expected keys back with `BatchGetItem` and hand each answer to the tally.

A call takes at most 100 keys and answers at most 16 MB; what DynamoDB does not read (throttled, or past
16 MB) comes back as `UnprocessedKeys` and is asked again under the writer's retry policy (retry.py): full
jitter backoff, the streak starting over when some keys came back, and one total time bound that ends in
RetryBoundExceeded. Whole-call throttling and 5xx errors are retried the same way (the client retries nothing
itself: write/clients.py). Keys are matched to answers by their canonical value (DynamoDB returns "1.50" as
"1.5"), and a key asked and neither returned nor unprocessed is absent from the table.

The read budget (`--max-rcu`) is write/budget.py's token bucket counted in *half* read units, so that an
eventually consistent read of up to 4 KB costs a whole token: each key is paid for before it is asked (its
expected size, 4 KB rounding), and refunded when it comes back unprocessed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from ..export.records import Record
from ..retry import RetryPolicy, classify
from ..write.budget import WriteBudget
from .compare import canonical_item
from .tally import Tally

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["ReadBack", "half_units", "MAX_KEYS", "MAX_BYTES"]

MAX_KEYS = 100
MAX_BYTES = 16 * 1024 * 1024


def half_units(size: int, consistent: bool) -> int:
    """Half read units one read of an item of `size` bytes costs: 4 KB rounded up, halved when eventually
    consistent (so 1 half unit per 4 KB), doubled back when strongly consistent."""
    blocks = max(1, -(-size // 4096))
    return blocks * 2 if consistent else blocks


class ReadBack:
    """Checks records against the table, a batch of keys at a time. One per worker; the tally is shared."""

    def __init__(
        self,
        client: DynamoDBClient,
        table: str,
        key_names: tuple[str, ...],
        tally: Tally,
        *,
        consistent: bool = False,
        budget: WriteBudget | None = None,
        retry: RetryPolicy,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self.client = client
        self.table = table
        self.key_names = key_names
        self.tally = tally
        self.consistent = consistent
        self.budget = budget
        self.retry = retry
        self.progress = progress or (lambda items, units: None)  # (0, read units) after each call

    def _identity(self, key: dict[str, Any], blobs_are_base64: bool) -> Any:
        return canonical_item({name: key[name] for name in self.key_names}, blobs_are_base64=blobs_are_base64)

    def check(self, records: Iterable[Record]) -> None:
        """Read back every record's key and tally it; returns when all are settled."""
        batch: dict[Any, Record] = {}
        size = 0
        for record in records:
            identity = self._identity(record.attributes, True)
            if len(batch) == MAX_KEYS or size + record.size > MAX_BYTES or identity in batch:
                self._settle(batch)
                batch, size = {}, 0
            batch[identity] = record
            size += record.size
        if batch:
            self._settle(batch)

    def _settle(self, pending: dict[Any, Record]) -> None:
        streak = self.retry.streak()
        while pending:
            cost = sum(half_units(r.size, self.consistent) for r in pending.values())
            if self.budget:
                self.budget.acquire(cost)
            keys = [{name: r.item[name] for name in self.key_names} for r in pending.values()]
            try:
                response: Any = self.client.batch_get_item(
                    RequestItems={self.table: {"Keys": keys, "ConsistentRead": self.consistent}},  # type: ignore[dict-item]
                    ReturnConsumedCapacity="TOTAL",
                )
            except (ClientError, BotoCoreError) as err:
                if classify(err) is None:
                    raise
                if self.budget:
                    self.budget.refund(cost)
                self.tally.add(throttled=1)
                streak.wait(f"BatchGetItem: {err}")
                continue
            left = {
                self._identity(key, False)
                for key in response.get("UnprocessedKeys", {}).get(self.table, {}).get("Keys", [])
            }
            answered = 0
            for item in response.get("Responses", {}).get(self.table, []):
                record = pending.pop(self._identity(item, False), None)
                if record is not None:
                    self.tally.found(record, item)
                    answered += 1
            for identity in [i for i in pending if i not in left]:
                self.tally.absent(pending.pop(identity))
                answered += 1
            refund = sum(half_units(r.size, self.consistent) for r in pending.values())
            consumed = sum(c.get("CapacityUnits", 0.0) for c in response.get("ConsumedCapacity", []))
            units = consumed if "ConsumedCapacity" in response else (cost - refund) / 2
            self.tally.add(read_units=units)
            self.progress(0, round(units))
            if not pending:
                return
            if self.budget:
                self.budget.refund(refund)
            if answered:
                streak.progress()
            self.tally.add(unprocessed=1)
            streak.wait(f"{len(pending)} of the keys came back as UnprocessedKeys")
