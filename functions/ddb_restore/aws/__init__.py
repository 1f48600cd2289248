"""The AWS side: the state machines' steps (plan, supersede, write a chunk, summarize; verifying.py: the verify
steps; syncing.py: the sync state machine's plan and record steps), the run bucket, the stack's settings, the run's
transform file, starting and following an execution (syncrun.py: a sync's), and the Lambda handlers (thin: one call
into steps).

May import everything below it (export, write, transform, restore, verify, sync); nothing below imports aws/.
"""
