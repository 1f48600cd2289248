"""ddb-restore: restore a DynamoDB Export to S3 into an existing table.

The engine shared by the `ddb-restore` command line (cli.py) and the Lambda handlers, in layers that import one
way only: errors, retry and clock (the foundation) ← export (reading an export) ← write (writing to DynamoDB) and
transform (records changed on the way in) ← restore (plan, chunk, runner, report) ← aws (the state machines'
steps and handlers) and cli.py on top.
"""

__version__ = "0.1.0"
