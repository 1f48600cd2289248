"""Finding and reading an export: where it lives, its manifests, its data files, their records.

storage (local folder or S3 prefix), manifest (summary, data-file list, checksums, containment), datafile (one
data file streamed, MD5 and count checked), records and sizes (DynamoDB JSON lines to checked requests), ion,
series (the order and chain of a full export and its incrementals), supersede (latest record wins).
May import: ddb_restore.errors, ddb_restore.retry. Nothing here writes to DynamoDB.
"""
