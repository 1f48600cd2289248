"""Sync and migrate: keep a copy of a table current from the source table's own exports, or move a live table.

How the parts fit:
- `state.py`   the state object in the bucket (`<prefix>ddb-restore/sync/<target>.json`): source, target, the
               exports applied, the watermark, the pending export; written only by conditional puts;
- `lease.py`   the lease in that object: one sync of a target at a time, expiring if its holder dies;
- `exports.py` the source side: PITR checked, FULL or INCREMENTAL export requested with a client token, waited on;
- `apply.py`   the target side: the export restored and verified with the engine `run` and `verify` use;
- `step.py`    one sync step from lease to watermark;
- `migrate.py` steps until close behind, then the last window and an exact verify of the whole series;
- `command.py` `ddb-restore sync|migrate`: options to a job, the outcome line, the report, the exit status.

In AWS the sync state machine drives the same pieces (aws/syncing.py: `due_request`, `applied_entry`,
`record_applied`, `drop_pending`, the lease resumed by its holder's name), with the export calls as SDK tasks and the
apply as a nested execution of the parent state machine.
"""

from __future__ import annotations

from .command import run_command

__all__ = ["run_command"]
