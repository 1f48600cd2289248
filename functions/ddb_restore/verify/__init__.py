"""Verify: prove that a table holds what a series of exports says, item by item.

- `compare.py`: DynamoDB JSON values compared as DynamoDB means them (numbers as decimals, sets as sets,
  binaries as bytes), and the attribute paths that differ.
- `expected.py`: which record of the series sets each key's final state (latest record wins across the
  series, deletes expected absent), and the deterministic `--sample`.
- `tally.py`: the results of the read-back, added up by every worker.
- `readback.py`: `BatchGetItem` of the expected keys (100 keys / 16 MB a call, `UnprocessedKeys` retried).
- `filecheck.py`: one data file's final records read back from a cursor until done or told to stop: the unit
  the local runner calls per file and the verify Lambda per chunk (aws/verifying.py).
- `count.py`: the table's items counted by a parallel `Scan` (`Select=COUNT`), a segment at a time.
- `plan.py`: the read units and time a verify will take, printed before it reads.
- `runner.py`: the local driver that wires these; `report.py`: the report document and the one line.

It may import export/ (manifests, records, series rules), retry.py and write/ (the read budget is write/budget.py's
token bucket, the client write/clients.py's) and restore/ (the plan's checks, progress); never aws/ or cli.py.
"""

__all__: list[str] = []
