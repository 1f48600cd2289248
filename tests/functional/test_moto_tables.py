"""moto's tables, as the `moto` fixture gives them, keep every write that several threads make at once.

Why: `ddb-restore run` writes with several worker threads in one process, and the end-to-end tests compare
the table with the export. Plain moto 5.2.5 loses an acknowledged put now and then when two threads first write
under the same new partition key (support/moto_tables.py), which made those tests flaky. Through boto3 the race
is rare (the calls spend most of their time outside the table), so this test drives moto's `Table` directly,
where plain moto loses an item in most runs of 4,000 puts.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from moto.dynamodb.models.table import Table

from support.moto_tables import thread_safe_tables

THREADS, PARTITION_KEYS, ROUNDS = 8, 500, 5


def _put_at_once(table: Table) -> None:
    """Every thread puts one item under each partition key, in the same order: the first writes collide."""
    start = threading.Barrier(THREADS)

    def write(thread: int) -> None:
        start.wait()
        for key in range(PARTITION_KEYS):
            table.put_item({"pk": {"S": f"p{key}"}, "sk": {"N": str(thread)}})

    with ThreadPoolExecutor(THREADS) as pool:
        for future in [pool.submit(write, n) for n in range(THREADS)]:
            future.result()


def test_puts_from_many_threads_under_new_partition_keys_are_all_kept() -> None:
    with thread_safe_tables():
        for round_ in range(ROUNDS):
            table = Table(
                f"Target{round_}",
                account_id="123456789012",
                region="us-east-1",
                schema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                attr=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"}],
            )
            _put_at_once(table)
            assert sum(len(by_sort_key) for by_sort_key in table.items.values()) == THREADS * PARTITION_KEYS
