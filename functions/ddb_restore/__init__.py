"""ddb-restore: restore a DynamoDB Export to S3 into an existing table.

The package is the engine shared by the `ddb-restore` command line and the Lambda handlers: each module
does one job (see README.md, "How it works").
"""

__version__ = "0.1.0"
