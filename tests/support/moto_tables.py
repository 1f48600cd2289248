"""moto's DynamoDB tables made safe for the writer threads of one process, as a real table is.

moto 5.2.5 keeps a table's items in `defaultdict(dict)` keyed by `DynamoType`, whose `__hash__` and `__eq__`
are Python code: when two threads touch a partition key the table does not hold yet, both can miss, both make
an inner dict, and the second replaces the first with the items another thread had just put in it. An
acknowledged write is then lost (`BatchWriteItem` answered, the item never stored): seen as "120 put, 2
missing" in tests/e2e/test_faults.py under `pytest -n 2`, and reproduced with plain `Table.put_item` calls
from 8 threads (18 items lost of 80,000; none with this lock). DynamoDB never loses an acknowledged write, so
the fake must not either: every item read or written through a moto table holds one lock.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock

__all__ = ["thread_safe_tables"]

# Reentrant: put_item calls get_item.
_LOCK = threading.RLock()
# The Table methods that index `items` (a defaultdict: a lookup of a new key inserts it too).
_METHODS = ("get_item", "put_item", "delete_item")


def _locked(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def locked(*args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            return method(*args, **kwargs)

    return locked


@contextlib.contextmanager
def thread_safe_tables() -> Iterator[None]:
    """While inside: moto's `Table.get_item`, `put_item` and `delete_item` run one at a time."""
    from moto.dynamodb.models.table import Table

    with contextlib.ExitStack() as stack:
        for name in _METHODS:
            stack.enter_context(mock.patch.object(Table, name, _locked(getattr(Table, name))))
        yield
