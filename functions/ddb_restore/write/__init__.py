"""Writing to DynamoDB: batches of 25 / 16 MB, UnprocessedItems retried, the write-unit budget, the clients.

May import: ddb_restore.errors, .retry, .clock, .export (a record is what the writer sends).
"""
