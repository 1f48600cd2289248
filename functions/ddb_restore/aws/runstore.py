"""Where a restore run in AWS keeps its artifacts: the stack's run bucket, under `runs/<runId>/`.

Step Functions passes at most 256 KB between states, so lists and results travel through S3:
- `runs/<runId>/plan.json`: the plan's lines, as `ddb-restore run` prints them (`start` and `status` show them);
- `runs/<runId>/exports/<i>/files.json`: export i's data files, a JSON array the Distributed Map reads;
- `runs/<runId>/results/<i>/<file>.json`: each file's final result, written by the writer Lambda;
- `runs/<runId>/rejects/<file>.<line>.jsonl`: refused records, one object per chunk that refused any;
- `runs/<runId>/report.json`: the run's report (the same fields as `ddb-restore run --report`);
- `runs/<runId>/verify/`: with `"verify": true`, the Map's items, the series' final state and each verify
  chunk's tally; `runs/<runId>/verify.json`: their sum, the same fields as `ddb-restore verify --report`;
- `done/<table id>/<exportId>/<file>.json`: a file fully applied to a table, so a re-run skips it (keyed by
  the table's TableId: a table deleted and created again under the same name starts with nothing done).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["RunStore"]


def _base(file_name: str) -> str:
    return file_name.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class RunStore:
    s3: S3Client
    bucket: str
    run_id: str

    def key(self, name: str) -> str:
        return f"runs/{self.run_id}/{name}"

    def url(self, name: str) -> str:
        return f"s3://{self.bucket}/{self.key(name)}"

    def put_json(self, key: str, value: Any) -> None:
        body = json.dumps(value, separators=(",", ":")).encode()
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json")

    def get_json(self, key: str) -> Any | None:
        try:
            return json.loads(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())
        except self.s3.exceptions.NoSuchKey:
            return None

    def plan_key(self) -> str:
        return self.key("plan.json")

    def files_key(self, export_index: int) -> str:
        return self.key(f"exports/{export_index}/files.json")

    def result_key(self, export_index: int, file_name: str) -> str:
        return self.key(f"results/{export_index}/{_base(file_name)}.json")

    def rejects_key(self, file_name: str, start_line: int) -> str:
        return self.key(f"rejects/{_base(file_name)}.{start_line}.jsonl")

    def report_key(self) -> str:
        return self.key("report.json")

    def done_key(self, table: str, export_id: str, file_name: str) -> str:
        return f"done/{table}/{export_id}/{_base(file_name)}.json"

    def results(self, export_index: int) -> Iterator[dict[str, Any]]:
        """Every file result written for export `export_index` of this run."""
        return self.documents(f"results/{export_index}/")

    def documents(self, folder: str) -> Iterator[dict[str, Any]]:
        """Every JSON document under `runs/<runId>/<folder>`."""
        paginator = self.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.key(folder)):
            for obj in page.get("Contents", []):
                result = self.get_json(obj["Key"])
                if result is not None:
                    yield result
