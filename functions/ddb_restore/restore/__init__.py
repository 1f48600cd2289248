"""A restore, the same in both drivers: the plan (checks, estimates), one chunk of a file from a cursor, the
in-process runner, the report, the rejects file and the progress bar.

May import: ddb_restore.errors, .retry, .clock, .export, .write, .transform. Not aws/ nor cli.
"""
