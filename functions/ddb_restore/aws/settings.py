"""The stack's settings, as the template hands them to every function in environment variables.

Read once per invocation by the handlers and passed to steps.py explicitly, so the steps themselves never
read the environment (tests give them settings directly).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import InputError
from ..restore.capacity import PARTITION_WCU

__all__ = ["StackSettings"]


@dataclass(frozen=True)
class StackSettings:
    export_bucket: str  # the only bucket exports are read from
    run_bucket: str  # the stack's own bucket for file lists, results, rejects and reports
    target_table: str  # one table name, or a name prefix ending in "*"
    max_wcu: float | None = None  # default write budget for a run (None: as fast as the table allows)
    max_concurrency: int = 10  # the most files the plan writes at once when the input does not say
    file_wcu: float = PARTITION_WCU  # what one file's writer is expected to drive: one partition's WCU/s
    prewarm_poll_seconds: int = 30  # the parent's wait between two looks at a pre-warm under way
    max_rejects: int = 0
    writer_role_arn: str | None = None  # assumed to write into a table in another account
    topic_arn: str | None = None  # SNS topic told when a restore ends
    chunk_reserve_seconds: float = 90.0  # a chunk stops when the Lambda has this much time left
    chunk_max_records: int = 0  # 0: no cap; otherwise a chunk stops after this many records
    reorder_window: int = 0  # records of a file written in a spread order (restore/chunk.py); 0: file order

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> StackSettings:
        def number(name: str, default: float) -> float:
            return float(env.get(name) or default)

        return cls(
            export_bucket=env["EXPORT_BUCKET"],
            run_bucket=env["RUN_BUCKET"],
            target_table=env["TARGET_TABLE"],
            max_wcu=number("DEFAULT_MAX_WCU", 0) or None,
            max_concurrency=int(number("DEFAULT_MAX_CONCURRENCY", 10)),
            file_wcu=number("FILE_WCU", PARTITION_WCU),
            prewarm_poll_seconds=int(number("PREWARM_POLL_SECONDS", 30)),
            max_rejects=int(number("MAX_REJECTS", 0)),
            writer_role_arn=env.get("WRITER_ROLE_ARN") or None,
            topic_arn=env.get("TOPIC_ARN") or None,
            chunk_reserve_seconds=number("CHUNK_RESERVE_SECONDS", 90),
            chunk_max_records=int(number("CHUNK_MAX_RECORDS", 0)),
            reorder_window=int(number("REORDER_WINDOW", 0)),
        )

    def table_from(self, given: str | None) -> str:
        """The table an execution's input names, or the stack's TargetTable when it is one table; checked."""
        table = given or (None if self.target_table.endswith("*") else self.target_table)
        if not table:
            raise InputError(f'the input needs "table": the stack writes tables named {self.target_table!r}')
        return self.check_table(table)

    def check_table(self, table: str) -> str:
        """The table, when the stack may write it; InputError otherwise (IAM would refuse it anyway)."""
        if self.target_table.endswith("*"):
            if table.startswith(self.target_table[:-1]) and len(table) > len(self.target_table) - 1:
                return table
        elif table == self.target_table:
            return table
        raise InputError(f"table {table!r} is not one this stack writes (TargetTable is {self.target_table!r})")

    def check_bucket(self, bucket: str) -> str:
        if bucket != self.export_bucket:
            raise InputError(f"bucket {bucket!r} is not the stack's export bucket {self.export_bucket!r}")
        return bucket
