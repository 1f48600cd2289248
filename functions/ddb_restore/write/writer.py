"""BatchWriteItem done right: 25 requests / 16 MB a call, no key twice in a call, every leftover retried.

The send loop (mechanism) asks retry.py (policy) what to retry and how long to wait, and rate.py (the
writer's own adaptive rate) and budget.py (the run's --max-wcu) for write units before each call; it tells
the rate what the table answered. The writer's rate charges a write once, however often it is sent: a call
carrying writes the table refused first waits for room for them instead (`_pay`), so it does not go at once
into a table that said no. The run's budget charges every send and is refunded what the table hands back, up to
its tenth of a second: it counts what the table took when the table took it, so no 10 s window spends more
than its share (a write charged once, when first sent, and taken seconds later was spent twice in the window
that took it), and a refund never turns into a burst.
Two kinds of throttling are handled the same way: a failed call
(ProvisionedThroughputExceededException, ThrottlingException, RequestLimitExceeded) and a successful call
that hands back `UnprocessedItems`; both back off with full jitter, and a streak of retries without progress
ends at the policy's time bound in RetryBoundExceeded: nothing is dropped on the floor.
A ValidationException fails a whole call for one bad item: the batch is split in halves until the refused
items stand alone; those go to the rejects output with DynamoDB's reason, everything else is written.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from ..errors import RestoreError
from ..export.records import Record, key_of, write_units
from ..retry import RetryPolicy, RetryStreak, classify
from .budget import WriteBudget
from .rate import AdaptiveRate, no_room
from .rawbody import send_batch

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["BatchWriter", "WriteCounts", "MAX_BATCH_ITEMS", "MAX_BATCH_BYTES"]

MAX_BATCH_ITEMS = 25
MAX_BATCH_BYTES = 16 * 1024 * 1024
# A request carries each item as JSON with blobs in base64: estimate 4/3 of the item size plus some framing,
# and keep a margin under the 16 MB cap.
_BATCH_BYTES_BUDGET = MAX_BATCH_BYTES - 256 * 1024


# While a write handed back for want of room is pending, a call carries it with at most this many new records
# (see _send).
_CARRIERS = 3


def _wire_size(record: Record) -> int:
    return record.size * 4 // 3 + 256


@dataclass
class WriteCounts:
    """What a writer did. Added up per chunk, per file and per run (see report.py)."""

    items_put: int = 0
    items_deleted: int = 0
    items_rejected: int = 0
    items_superseded: int = 0  # incremental records skipped: a later change of the same key is in the export
    items_skipped_newer: int = 0  # --skip-newer: the table already held a newer version
    items_transformed: int = 0  # records a transform changed (transform/)
    items_filtered: int = 0  # records a transform skipped (it returned None)
    items_fanned_out: int = 0  # items a transform added (a record that became 3 items adds 2)
    throttle_retries: int = 0
    unprocessed_retries: int = 0
    server_error_retries: int = 0
    write_units: int = 0
    batches: int = 0
    write_calls: int = 0  # every call sent: taken, handed back in part, throttled, failed

    def add(self, other: WriteCounts) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


RejectFn = Callable[[int, str, bytes], None]  # (line, reason, raw record)
ProgressFn = Callable[[int, int], None]  # (records applied or rejected, write units)


def _error_text(error: Exception) -> str:
    if isinstance(error, ClientError):
        err = error.response.get("Error", {})
        return f"{err.get('Code', 'Error')}: {err.get('Message', '')}".rstrip(": ")
    return str(error)


class BatchWriter:
    """Collects records into batches and writes them to one table. Not thread-safe: one per worker."""

    def __init__(
        self,
        client: DynamoDBClient,
        table: str,
        key_names: tuple[str, ...],
        *,
        reject: RejectFn,
        budget: WriteBudget | None = None,
        rate: AdaptiveRate | None = None,  # the sending thread's own rate (see rate.py); None: no pacing
        retry: RetryPolicy,  # built by the driver's composition root, with its clock
        progress: ProgressFn | None = None,
        skip_newer: str | None = None,
    ) -> None:
        self.client = client
        self.table = table
        self.key_names = key_names
        self.reject = reject
        self.budget = budget
        self.rate = rate
        self.retry = retry
        self.progress = progress
        self.skip_newer = skip_newer  # a numeric attribute: keep the table's item when its value is larger
        self.counts = WriteCounts()
        self._pending: list[Record] = []
        self._keys: set[tuple[str, ...]] = set()
        self._bytes = 0
        self._unapplied_from: int | None = None  # line of the first record not yet known to be written
        self._paid: set[tuple[str, ...]] = set()  # keys of pending records the writer's rate already charged
        self._no_room = False  # the last call handed back large writes for want of room (rate.no_room)
        self._held: list[Record] = []  # records a flush keeps back to carry what the table hands back
        self._room_at = 0.0  # the clock's time from which the table has room for the writes it refused (rate.room)
        # One streak of retries for the writer, not one per call: a throttled batch goes back to its caller to wait
        # for room while the runner steps other files (`_write`), and its retries still end at the policy's bound.
        self._streak = retry.streak()

    def add(self, record: Record) -> None:
        """Queue a record; a full batch (or one that already holds this key) is written first."""
        size = _wire_size(record)
        while self._pending and (
            len(self._pending) >= MAX_BATCH_ITEMS
            or (self._no_room and len(self._pending) >= len(self._paid) + _CARRIERS)
            or record.key in self._keys
            or self._bytes + size > _BATCH_BYTES_BUDGET
        ):
            self._send()
        self._enqueue(record, size)

    def _enqueue(self, record: Record, size: int) -> None:
        """Queue `record` (`size`: its `_wire_size`) in the batch being built."""
        self._pending.append(record)
        self._keys.add(record.key)
        self._bytes += size
        if self._unapplied_from is None:
            self._unapplied_from = record.line

    @property
    def ready_at(self) -> float:
        """When a call of what is queued may go without waiting for room (the clock's monotonic time; 0: now). A
        runner worker steps its other files until then (spread.interleave), instead of sleeping for this one's."""
        return self._room_at if self._paid else 0.0

    def safe_cursor(self, line: int) -> int:
        """The cursor to resume from after a failure: `line`, or just before the first unwritten record."""
        return line if self._unapplied_from is None else min(line, self._unapplied_from - 1)

    def reject_line(self, line: int, reason: str, raw: bytes) -> None:
        """Account for a line that never became a record (not JSON, unknown type...)."""
        self.counts.items_rejected += 1
        self.reject(line, reason, raw)
        if self.progress:
            self.progress(1, 0)

    def skip_superseded(self) -> None:
        """Account for a record skipped because a later change of its key wins."""
        self.counts.items_superseded += 1
        if self.progress:
            self.progress(1, 0)

    def skip_filtered(self) -> None:
        """Account for a record a transform filtered out."""
        self.counts.items_filtered += 1
        if self.progress:
            self.progress(1, 0)

    def flush(self) -> None:
        """Write everything queued. On return every queued record was applied or rejected (`flush_steps` run to
        its end: each wait for room is slept)."""
        for _ in self.flush_steps():
            pass

    def flush_steps(self) -> Generator[float, None, None]:
        """`flush`, pausing after each call the table refused in whole or in part, with the time from which
        its partition has room for what it refused (`ready_at`): a runner worker steps its other files until then.

        No new records come to carry a large write the table hands back here, so the last batch keeps its
        smallest few (`_hold_back`) and each retry of what was handed back takes one of them: a try that finds
        no room is handed back in part, not throttled whole (every call throttled whole in bench/partitions.py's
        mixed cases was a lone large item at a flush)."""
        self._hold_back()
        if self._pending:
            self._send()
        while self._pending or self._held:
            if self._pending:
                yield self.ready_at
            # One carrier with each retry of what was handed back; all that is left once nothing is.
            for _ in range(min(1, len(self._held)) if self._pending else len(self._held)):
                carrier = self._held.pop()
                self._enqueue(carrier, _wire_size(carrier))
            self._send()
        self._unapplied_from = None

    def _hold_back(self) -> None:
        """Move the queue's `_CARRIERS` smallest records to `_held` when a write in it is larger than those
        together (the writes a carrier can save from a whole-call throttle)."""
        if len(self._pending) <= _CARRIERS:
            return
        by_units = sorted(self._pending, key=lambda r: write_units(r.size))
        smallest = by_units[:_CARRIERS]
        if write_units(by_units[-1].size) <= sum(write_units(r.size) for r in smallest):
            return
        held = {r.key for r in smallest}
        self._pending = [r for r in self._pending if r.key not in held]
        self._keys -= held
        self._bytes -= sum(_wire_size(r) for r in smallest)
        self._held = smallest

    def _send(self) -> None:
        """Send the queued batch once (`_write` with `carry`); what the table did not take stays queued, to go
        with the next records once there is room for it: a call then rarely holds only what the table just
        refused (a lone large item meets whole-call throttles until its partition has refilled), and a runner
        worker steps its other files while this one waits (`ready_at`). While writes handed back for want of room
        (rate.no_room) are queued, a call takes at most `_CARRIERS` new records (`add`): each try of a refused
        large item carries a few small writes, so a try that finds no room is handed back in part, not throttled
        whole, and the small records last to carry the later tries instead of running out first and leaving the
        large ones to go alone (bench/README.md, partitions.py: mixed items)."""
        batch, self._pending, self._keys, self._bytes = self._pending, [], set(), 0
        left = self._write(batch, carry=True, paid=self._paid)
        self._pending, self._keys = left, {r.key for r in left}
        self._paid = set(self._keys)
        self._no_room = self._no_room and bool(left)
        self._bytes = sum(_wire_size(r) for r in left)
        self._unapplied_from = min((r.line for r in (*left, *self._held)), default=None)

    def _write(
        self, batch: list[Record], carry: bool = False, paid: set[tuple[str, ...]] | None = None
    ) -> list[Record]:
        """Write `batch` (the keys in `paid` already charged to the writer's rate); return what is left to
        write: nothing, or with `carry` what the first call the table refused in whole or in part did not
        write (counted and backed off as its retry; its room kept for `_pay`). Without `carry`, retry until all
        is written."""
        if self.skip_newer:
            self._write_conditional(batch)
            return []
        streak = self._streak
        pending = batch
        paid = paid or set()
        while pending:
            sent = [write_units(r.size) for r in pending]
            units = sum(sent)
            self._pay(pending, sent, paid)
            paid = {r.key for r in pending}
            try:
                response = send_batch(self.client, self.table, (r.wire for r in pending))
            except (ClientError, BotoCoreError) as error:
                self._no_room = False  # refused whole (or failed): the table has no room for any of it
                if self._failed(error, units, streak, "BatchWriteItem") == "ValidationException":
                    self._isolate(pending, error)  # type: ignore[arg-type]  # a ClientError
                    return []
                self._room_for(units)
                if carry:
                    return pending  # its caller waits for the room (a runner worker meanwhile steps other files)
                continue
            self.counts.batches += 1
            leftovers = response.get("UnprocessedItems", {}).get(self.table, [])
            left_keys = {
                key_of(r.get("PutRequest", {}).get("Item") or r["DeleteRequest"]["Key"], self.key_names)
                for r in leftovers
            }
            done = [r for r in pending if r.key not in left_keys]
            pending = [r for r in pending if r.key in left_keys]
            if len(pending) != len(leftovers):
                raise RestoreError(
                    f"BatchWriteItem on table {self.table} returned UnprocessedItems that match no request sent"
                )
            self._applied(done)
            if not pending and self.rate:
                self.rate.taken(units)
            if done:
                streak.progress()
            if pending:
                left = [write_units(r.size) for r in pending]
                self._no_room = no_room(sent, left)
                if self.budget:
                    self.budget.refund(sum(left))
                if self.rate:
                    self.rate.unprocessed(sent, left)
                self.counts.unprocessed_retries += 1
                streak.wait(f"{len(pending)} UnprocessedItems")
                self._room_for(max(left) if self._no_room else sum(left))
                if carry:
                    return pending
        return []

    def _room_for(self, units: int) -> None:
        """After a refusal: the writes refused, which need `units` (the largest, when they were handed back for want
        of room: a partition takes one at a time; all of them when the table was full), go once the table has
        had the time to give that many at the writer's rate (rate.room)."""
        if self.rate:
            self._room_at = self.retry.clock.monotonic() + self.rate.room(units)

    def _pay(self, pending: list[Record], sent: list[int], paid: set[tuple[str, ...]]) -> None:
        """Wait before a call of `pending` (`sent`: their units): until there is room for the writes the table
        refused before (their keys in `paid`; `_room_for`), then for the units of the others at the writer's
        rate (which charges a write once), and for all of them within the run's budget (which charges every
        send, and is refunded what the table hands back)."""
        carried = [u for r, u in zip(pending, sent, strict=True) if r.key in paid]
        if carried and (wait := self._room_at - self.retry.clock.monotonic()) > 0:
            self.retry.clock.sleep(wait)
        self._acquire(sum(sent), fresh=sum(sent) - sum(carried))

    def _acquire(self, units: int, fresh: int | None = None) -> None:
        """Wait for `fresh` units (default: all) at the writer's rate and for `units` within the run's budget;
        count the call."""
        fresh = units if fresh is None else fresh
        if fresh and self.rate:
            self.rate.acquire(fresh)
        if units and self.budget:
            self.budget.acquire(units)
        self.counts.write_calls += 1

    def _failed(self, error: Exception, units: int, streak: RetryStreak, operation: str) -> str:
        """After a failed call of `units`: give them back to the budget if the table wrote none of it (throttled,
        or refused for a bad item; a failed condition is charged by DynamoDB as a write, and a 500 may have
        written some); wait before a retry of throttling or a server error and return "retry"; return the error
        code of a call refused for what it held, which the caller handles (ValidationException,
        ConditionalCheckFailedException); raise RestoreError for anything else."""
        kind = classify(error)
        code = error.response["Error"].get("Code", "") if isinstance(error, ClientError) else ""
        if self.budget and (kind == "throttle" or code == "ValidationException"):
            self.budget.refund(units)
        if kind in ("throttle", "server"):
            if kind == "throttle":
                self.counts.throttle_retries += 1
                if self.rate:
                    self.rate.throttled()
            else:
                self.counts.server_error_retries += 1
            streak.wait(_error_text(error))
            return "retry"
        if code in ("ValidationException", "ConditionalCheckFailedException"):
            return code
        raise RestoreError(f"{operation} on table {self.table} failed: {_error_text(error)}") from None

    def _write_conditional(self, batch: list[Record]) -> None:
        """--skip-newer: one conditional write per record, so an item whose attribute is newer in the table
        stays as it is. A delete carries no attribute to compare and is applied as it is."""
        assert self.skip_newer is not None
        for record in batch:
            streak = self.retry.streak()
            extra: dict[str, Any] = {}
            item = record.item  # converted for botocore's serialiser once, not per attempt
            value = item.get(self.skip_newer)
            if record.op == "put" and isinstance(value, dict) and "N" in value:
                extra = {
                    "ConditionExpression": "attribute_not_exists(#a) OR #a <= :v",
                    "ExpressionAttributeNames": {"#a": self.skip_newer},
                    "ExpressionAttributeValues": {":v": value},
                }
            while True:
                units = write_units(record.size)
                self._acquire(units)
                try:
                    if record.op == "put":
                        self.client.put_item(TableName=self.table, Item=item, **extra)
                    else:
                        self.client.delete_item(TableName=self.table, Key=item)
                except (ClientError, BotoCoreError) as error:
                    outcome = self._failed(error, units, streak, "PutItem" if record.op == "put" else "DeleteItem")
                    if outcome == "retry":
                        continue
                    if outcome == "ConditionalCheckFailedException":
                        self.counts.items_skipped_newer += 1
                    else:
                        self.counts.items_rejected += 1
                        self.reject(record.line, _error_text(error), record.raw)
                    if self.progress:
                        self.progress(1, 0)
                    break
                streak.progress()
                if self.rate:
                    self.rate.taken(units)
                self._applied([record])
                break

    def _applied(self, records: list[Record]) -> None:
        units = 0
        for r in records:
            if r.op == "put":
                self.counts.items_put += 1
            else:
                self.counts.items_deleted += 1
            units += write_units(r.size)
        self.counts.write_units += units
        if self.progress and records:
            self.progress(len(records), units)

    def _isolate(self, batch: list[Record], error: ClientError) -> None:
        """Find the records DynamoDB refuses by halving the batch; write the rest, reject those. Each half is a
        new call, charged as one: the refused call was given back to the budget (`_failed`)."""
        if len(batch) == 1:
            record = batch[0]
            self.counts.items_rejected += 1
            self.reject(record.line, _error_text(error), record.raw)
            if self.progress:
                self.progress(1, 0)
            return
        middle = len(batch) // 2
        self._write(batch[:middle])
        self._write(batch[middle:])
