"""Faults injected for real into whole restores, each followed by the table compared with the source.

Every test counts what the restore did: records applied == records in the export, rejected == the records that
are invalid, nothing else (no record missing, none written twice, no retry hidden).

- S3: the object's body breaks mid-stream (connection reset, read timeout, a TLS record error) and the runner
  resumes the file from its cursor; GetObject answers SlowDown / InternalError and botocore's retries absorb it;
  SlowDown that outlasts botocore's attempts fails that file cleanly and a second run finishes;
- DynamoDB (dynalite behind FaultProxy): 500 InternalServerError; throttling longer than the retry bound that
  starts mid-file, then a second run;
- the state machines (moto): the writer Lambda killed at its time limit mid-chunk; the parent execution failing
  half way through a series of two exports, then re-run.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import urllib3.exceptions
from botocore.awsrequest import AWSResponse
from botocore.response import StreamingBody

import ddb_restore.restore.runner
from ddb_restore.aws.handlers import _common
from ddb_restore.cli import Wiring, main
from ddb_restore.write.clients import s3_client
from support.clock import FakeClock
from support.compare import diff_tables, scan_items
from support.exports import data_files
from support.faultproxy import FaultProxy
from support.sample import full_records, incremental_records, sample_items, upload_folder, write_export
from support.sfn_local import LocalAws, deploy_template, local_aws, new_containers, wait_for_execution
from support.tables import KEYS, create_table, dynamodb

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
BUCKET = "fault-exports"
EXPORT_ID = "01700000000000-abcdef12"
INCR_ID = "01700000000900-incr0001"
# Valid JSON, but an attribute type DynamoDB does not have: the parser rejects it, no round trip.
BAD_RECORD = '{"Item":{"pk":{"S":"bad"},"sk":{"N":"1"},"x":{"Q":"unknown type"}}}'


# ---- helpers ------------------------------------------------------------------------------------------------


def run(capsys: pytest.CaptureFixture[str], *args: str, wiring: Wiring | None = None) -> tuple[int, str, str]:
    code = main(["run", *args], wiring)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def s3_key(folder: Path, path: Path) -> str:
    """The S3 key of a file of an export written under `<root>/exports/...` and uploaded with prefix ""."""
    return f"exports/AWSDynamoDB/{folder.name}/data/{path.name}"


def file_lines(path: Path) -> list[str]:
    return gzip.decompress(path.read_bytes()).decode().splitlines() if path.stat().st_size else []


def file_keys(path: Path) -> set[tuple[str, str]]:
    """The keys of the valid items of one data file of a full export."""
    keys = set()
    for line in file_lines(path):
        if line == BAD_RECORD:
            continue
        item = json.loads(line)["Item"]
        keys.add((item["pk"]["S"], item["sk"]["N"]))
    return keys


def item_keys(items: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(i["pk"]["S"], i["sk"]["N"]) for i in items}


def upload_s3(root: Path) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    upload_folder(s3, root, BUCKET, "")


def hooked_s3(install: Callable[[Any], None]) -> Callable[..., Any]:
    """An S3 client factory for the CLI's Wiring: clients.py's clients, with `install`'s botocore hooks on them."""

    def factory(*args: Any, **kwargs: Any) -> Any:
        client = s3_client(*args, **kwargs)
        install(client)
        return client

    return factory


def record_chunk_starts(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[int]]:
    """The cursor each chunk of the local runner started from, by data file name, in order."""
    starts: dict[str, list[int]] = {}
    real = ddb_restore.restore.runner.chunk_steps

    def chunk_steps(folder: Any, file: Any, parser: Any, writer: Any, start_line: int = 0, **kw: Any) -> Any:
        starts.setdefault(file.name.rsplit("/", 1)[-1], []).append(start_line)
        return real(folder, file, parser, writer, start_line, **kw)

    monkeypatch.setattr(ddb_restore.restore.runner, "chunk_steps", chunk_steps)
    return starts


@pytest.fixture
def fast_botocore_backoff(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """botocore's standard retries, as they are, but without sleeping their backoff: the waits asked for."""
    from botocore.retries.standard import ExponentialBackoff

    asked: list[float] = []
    real = ExponentialBackoff.delay_amount

    def delay_amount(self: Any, context: Any) -> float:
        asked.append(real(self, context))
        return 0.0

    monkeypatch.setattr(ExponentialBackoff, "delay_amount", delay_amount)
    return asked


class GetObjectLog:
    """Counts GetObject calls per key on a client (thread-safe) and keeps each response's RetryAttempts."""

    def __init__(self, client: Any) -> None:
        self.lock = threading.Lock()
        self.gets: dict[str, int] = {}
        self.retry_attempts: dict[str, list[int]] = {}
        client.meta.events.register("before-parameter-build.s3.GetObject", self.keep_key)
        client.meta.events.register("after-call.s3.GetObject", self._after)

    @staticmethod
    def keep_key(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["fault_key"] = params["Key"]

    def _after(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        key = context["fault_key"]
        with self.lock:
            self.gets[key] = self.gets.get(key, 0) + 1
            attempts = parsed.get("ResponseMetadata", {}).get("RetryAttempts", 0)
            self.retry_attempts.setdefault(key, []).append(attempts)


# ---- 1. the S3 stream breaks mid-file: the runner resumes from the cursor ----------------------------------


class BrokenStream:
    """A byte stream that delivers `limit` bytes of `inner`, then fails with `error`, as a dropped connection."""

    def __init__(self, inner: Any, limit: int, error: Exception) -> None:
        self.inner, self.limit, self.error, self.sent = inner, limit, error, 0

    def read(self, amt: int | None = None) -> bytes:
        if self.sent >= self.limit:
            raise self.error
        left = self.limit - self.sent
        data = self.inner.read(left if amt is None or amt < 0 else min(amt, left))
        self.sent += len(data)
        return bytes(data)

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self.inner.close()


def connection_reset() -> Exception:
    reset = ConnectionResetError(104, "Connection reset by peer")
    return urllib3.exceptions.ProtocolError(f"Connection broken: {reset!r}", reset)


def read_timeout() -> Exception:
    return urllib3.exceptions.ReadTimeoutError(None, None, "Read timed out.")  # type: ignore[arg-type]


def bad_record_mac() -> Exception:
    return urllib3.exceptions.SSLError("[SSL: DECRYPTION_FAILED_OR_BAD_RECORD_MAC] decryption failed or bad record mac")


# (error, level): "socket" breaks the stream under botocore's StreamingBody, as urllib3 would (botocore maps
# ProtocolError and ReadTimeoutError itself; urllib3's SSLError it lets through); "body" breaks it above.
STREAM_FAULTS = {
    "connection-reset": (connection_reset, "socket"),
    "read-timeout": (read_timeout, "socket"),
    "tls-bad-record-mac": (bad_record_mac, "socket"),
    "protocol-error-unwrapped": (connection_reset, "body"),
}


class StreamFaults:
    """On the first GETs of `key`, the body breaks after the given fraction of the object's bytes."""

    def __init__(self, client: Any, key: str, fractions: list[float], error: Callable[[], Exception], level: str):
        self.key, self.fractions, self.error, self.level = key, fractions, error, level
        self.lock = threading.Lock()
        self.gets = 0
        self.injected = 0
        client.meta.events.register("before-parameter-build.s3.GetObject", GetObjectLog.keep_key)
        client.meta.events.register("after-call.s3.GetObject", self._after)

    def _after(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if context.get("fault_key") != self.key or "Body" not in parsed:
            return
        with self.lock:
            self.gets += 1
            if self.gets > len(self.fractions):
                return
            self.injected += 1
            limit = int(parsed["ContentLength"] * self.fractions[self.gets - 1])
        body = parsed["Body"]
        if self.level == "socket":
            parsed["Body"] = StreamingBody(BrokenStream(body, limit, self.error()), parsed["ContentLength"])
        else:
            parsed["Body"] = BrokenStream(body, limit, self.error())


@pytest.mark.usefixtures("moto")
@pytest.mark.parametrize(
    ("fault", "fractions"),
    [
        ("connection-reset", [0.35, 0.7]),
        ("read-timeout", [0.5]),
        ("tls-bad-record-mac", [0.5]),
        ("protocol-error-unwrapped", [0.35, 0.7]),
    ],
)
def test_a_stream_broken_mid_file_resumes_from_the_cursor_with_nothing_lost_or_doubled(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    fault: str,
    fractions: list[float],
) -> None:
    items = sample_items(120, large=False)
    lines = full_records(items)
    lines.insert(4, BAD_RECORD)  # record 4 of 3 files: the 2nd line of file 1, read before the stream breaks
    folder = write_export(tmp_path / "src", lines, export_id=EXPORT_ID, files=3, empty_files=0)
    upload_s3(tmp_path / "src")
    create_table(boto3.client("dynamodb"), "Target")
    target = data_files(folder)[1]  # not file 0: the plan reads that one's first records too
    assert file_lines(target)[1] == BAD_RECORD
    error, level = STREAM_FAULTS[fault]
    injected: list[StreamFaults] = []

    def install(client: Any) -> None:
        injected.append(StreamFaults(client, s3_key(folder, target), fractions, error, level))

    clock = FakeClock()  # the runner's waits before it reads the file again: asked for, not slept
    wiring = Wiring(clock=clock, s3=hooked_s3(install))
    starts = record_chunk_starts(monkeypatch)
    report_path, rejects = tmp_path / "report.json", tmp_path / "rejects.jsonl"

    code, out, err = run(
        capsys,
        f"s3://{BUCKET}/exports/AWSDynamoDB/{EXPORT_ID}/",
        *("--table", "Target", "--workers", "3", "--max-rejects", "1"),
        *("--report", str(report_path), "--rejects", str(rejects)),
        wiring=wiring,
    )

    assert code == 0, out + err
    (faults,) = injected
    assert faults.injected == len(clock.sleeps) == len(fractions)  # each break: one wait, one new read
    # Each GET after a break started at the cursor the break left, further into the file each time.
    resumed = starts[target.name]
    assert len(resumed) == len(fractions) + 1 and resumed[0] == 0, resumed
    assert all(a < b for a, b in zip(resumed, resumed[1:], strict=False)) and resumed[1] >= 2, resumed
    report = json.loads(report_path.read_text())
    assert (report["status"], report["files_done"], report["files_failed"]) == ("succeeded", 3, 0)
    assert (report["items_expected"], report["items_put"], report["items_rejected"]) == (121, 120, 1)
    assert report["items_deleted"] == 0
    (result,) = [r for r in report["file_results"] if r["file"].endswith(target.name)]
    count = len(file_lines(target))
    assert (result["item_count"], result["lines_done"], result["items_put"], result["items_rejected"]) == (
        count,
        count,
        count - 1,
        1,
    )
    (reject,) = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert (reject["file"].endswith(target.name), reject["line"], reject["record"]) == (True, 2, BAD_RECORD)
    assert diff_tables(items, scan_items(boto3.client("dynamodb"), "Target"), KEYS) == []


# ---- 2. S3 SlowDown and 500s on GetObject: botocore's standard retries ---------------------------------------


class GetObjectErrors:
    """The first `times` GetObject requests for `key` are answered with an S3 error, inside botocore's retry
    loop (`before-send`, first in line, so moto never sees them): botocore parses and retries them as real ones."""

    def __init__(self, client: Any, key: str, status: int, code: str, times: int | None) -> None:
        self.key, self.status, self.code, self.times = key, status, code, times
        self.lock = threading.Lock()
        self.injected = 0
        client.meta.events.register_first("before-send.s3.GetObject", self._before_send)

    def _before_send(self, request: Any, **_: Any) -> AWSResponse | None:
        if not request.url.split("?", 1)[0].endswith("/" + self.key):
            return None
        with self.lock:
            if self.times is not None and self.injected >= self.times:
                return None
            self.injected += 1
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{self.code}</Code><Message>injected {self.code}</Message>"
            "<RequestId>FAULT</RequestId></Error>"
        ).encode()
        return AWSResponse(request.url, self.status, {"Content-Type": "application/xml"}, _RawBody(body))


class _RawBody:
    """What AWSResponse reads a body from (`stream()`)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.data


@pytest.mark.usefixtures("moto")
@pytest.mark.parametrize(("status", "code"), [(503, "SlowDown"), (500, "InternalError")])
def test_s3_slowdown_and_500s_on_a_data_file_are_retried_and_the_restore_completes(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    fast_botocore_backoff: list[float],
    status: int,
    code: str,
) -> None:
    items = sample_items(90, large=False)
    folder = write_export(tmp_path / "src", full_records(items), export_id=EXPORT_ID, files=3, empty_files=0)
    upload_s3(tmp_path / "src")
    create_table(boto3.client("dynamodb"), "Target")
    key = s3_key(folder, data_files(folder)[1])
    installed: list[tuple[GetObjectErrors, GetObjectLog]] = []
    wiring = Wiring(
        s3=hooked_s3(lambda c: installed.append((GetObjectErrors(c, key, status, code, 2), GetObjectLog(c))))
    )
    report_path = tmp_path / "report.json"

    exit_code, out, err = run(
        capsys,
        *(f"s3://{BUCKET}/exports/AWSDynamoDB/{EXPORT_ID}/", "--table", "Target", "--report", str(report_path)),
        wiring=wiring,
    )

    assert exit_code == 0, out + err
    ((errors, log),) = installed
    assert errors.injected == 2
    assert log.retry_attempts[key] == [2]  # one GetObject call, answered on botocore's third attempt
    assert len(fast_botocore_backoff) == 2
    report = json.loads(report_path.read_text())
    assert (report["status"], report["files_done"], report["items_put"]) == ("succeeded", 3, 90)
    assert report["items_rejected"] == report["items_deleted"] == 0
    assert diff_tables(items, scan_items(boto3.client("dynamodb"), "Target"), KEYS) == []


@pytest.mark.usefixtures("moto")
def test_s3_slowdown_past_botocores_attempts_fails_that_file_cleanly_then_a_second_run_finishes(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    fast_botocore_backoff: list[float],
) -> None:
    """A data file S3 keeps refusing is a failed file (exit 1, a report), like a file whose writes keep being
    throttled: the other files are written, and the next run finishes the job."""
    items = sample_items(90, large=False)
    folder = write_export(tmp_path / "src", full_records(items), export_id=EXPORT_ID, files=3, empty_files=0)
    upload_s3(tmp_path / "src")
    create_table(boto3.client("dynamodb"), "Target")
    files = data_files(folder)
    refused = files[1]
    installed: list[GetObjectErrors] = []
    refusing: list[int | None] = [None]  # None: every GET of the file is refused; 0: none

    def install(client: Any) -> None:
        installed.append(GetObjectErrors(client, s3_key(folder, refused), 503, "SlowDown", refusing[0]))

    # The runner's waits before it reads the refused file again: asked for, not slept.
    wiring = Wiring(clock=FakeClock(), s3=hooked_s3(install))
    report_path = tmp_path / "report.json"
    export = f"s3://{BUCKET}/exports/AWSDynamoDB/{EXPORT_ID}/"

    code, out, err = run(capsys, export, "--table", "Target", "--report", str(report_path), wiring=wiring)

    assert code == 1, out + err
    assert installed[0].injected >= 5  # botocore's five attempts, at least once
    report = json.loads(report_path.read_text())
    assert (report["status"], report["files_done"], report["files_failed"]) == ("failed", 2, 1)
    by_name = {r["file"].rsplit("/", 1)[-1]: r for r in report["file_results"]}
    assert by_name[refused.name]["status"] == "failed" and by_name[refused.name]["lines_done"] == 0
    assert "SlowDown" in by_name[refused.name]["error"]
    assert report["items_put"] == 60
    written = [files[0], files[2]]
    expected = [i for i in items if (i["pk"]["S"], i["sk"]["N"]) in file_keys(written[0]) | file_keys(written[1])]
    assert diff_tables(expected, scan_items(boto3.client("dynamodb"), "Target"), KEYS) == []

    refusing[0] = 0  # S3 answers again
    code, out, err = run(capsys, export, "--table", "Target", wiring=wiring)
    assert code == 0, out + err
    assert installed[-1].injected == 0
    assert diff_tables(items, scan_items(boto3.client("dynamodb"), "Target"), KEYS) == []


# ---- 3. DynamoDB 500 InternalServerError during the writes ---------------------------------------------------


def test_dynamodb_500s_are_retried_counted_and_lose_nothing(
    dynalite: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    table = create_table(dynamodb(dynalite), "t-server-errors")
    items = sample_items(100, large=False)
    lines = full_records(items)
    too_big = '{"Item":{"pk":{"S":"big"},"sk":{"N":"1"},"x":{"S":"' + "y" * 420_000 + '"}}}'
    lines.insert(10, too_big)  # DynamoDB itself refuses it (over 400 KB): found by halving, rejected once
    export = write_export(tmp_path / "src", lines, files=4)
    report_path = tmp_path / "report.json"
    with FaultProxy(dynalite) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", proxy.endpoint)
        proxy.server_error_next(4)
        code, out, err = run(capsys, str(export), "--table", table, "--max-rejects", "1", "--report", str(report_path))
    assert code == 0, out + err
    report = json.loads(report_path.read_text())
    assert report["server_error_retries"] == proxy.server_errors == 4
    assert report["throttle_retries"] == report["unprocessed_retries"] == 0
    assert (report["items_expected"], report["items_put"], report["items_rejected"]) == (101, 100, 1)
    assert (report["status"], report["files_done"], report["items_deleted"]) == ("succeeded", 4, 0)
    assert diff_tables(items, scan_items(dynamodb(dynalite), table), KEYS) == []


# ---- 4. throttling longer than the retry bound, starting mid-file; then a second run ------------------------


class ThrottleAfter(FaultProxy):
    """Lets the first `passing` BatchWriteItem calls through, then throttles every call while `throttling`."""

    def __init__(self, upstream: str, passing: int) -> None:
        super().__init__(upstream)
        self.passing = passing
        self.throttling = True

    def decide(self, op: str) -> tuple[str, Any]:
        action = super().decide(op)
        if op != "BatchWriteItem" or action[0] != "forward" or not self.throttling:
            return action
        with self._lock:
            if self._calls <= self.passing:
                return action
            self._throttled += 1
            return ("throttle", "ProvisionedThroughputExceededException")


def test_throttling_past_the_bound_mid_file_reports_exactly_how_far_each_file_got_then_a_second_run_finishes(
    dynalite: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    table = create_table(dynamodb(dynalite), "t-throttled")
    items = sample_items(120, large=False)
    export = write_export(tmp_path / "src", full_records(items), files=3, empty_files=0)  # 40 records a file
    report_path = tmp_path / "first.json"
    with ThrottleAfter(dynalite, passing=3) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", proxy.endpoint)
        code, out, err = run(
            capsys,
            *(str(export), "--table", table, "--workers", "3", "--retry-seconds", "0.3"),
            *("--report", str(report_path)),
        )
        assert code == 1, out + err
        assert proxy.throttled > 0
        report = json.loads(report_path.read_text())
        assert report["status"] == "failed" and report["files_failed"] >= 2
        in_table = item_keys(scan_items(dynamodb(dynalite), table))
        for path in data_files(export):
            (result,) = [r for r in report["file_results"] if r["file"].endswith(path.name)]
            written = len(file_keys(path) & in_table)
            # lines_done is exact: every line before it is in the table, none after it
            assert result["lines_done"] == written == result["items_put"], result
            assert result["status"] == ("done" if written == 40 else "failed"), result
            if result["status"] == "failed":
                assert "gave up after" in result["error"], result
        # what the three batches let through carried, all of it counted, all of it in the table
        assert report["items_put"] == len(in_table) == proxy.forwarded_items
        assert any(0 < r["lines_done"] < r["item_count"] for r in report["file_results"])
        assert "gave up after" in err

        proxy.throttling = False  # the table keeps up again
        code, out, err = run(capsys, str(export), "--table", table, "--report", str(tmp_path / "second.json"))
    assert code == 0, out + err
    second = json.loads((tmp_path / "second.json").read_text())
    # The CLI's second run writes every file again from line 0: idempotent puts.
    assert (second["status"], second["items_put"], second["items_rejected"]) == ("succeeded", 120, 0)
    assert diff_tables(items, scan_items(dynamodb(dynalite), table), KEYS) == []


# ---- the state machines --------------------------------------------------------------------------------------


@pytest.fixture
def aws_timeouts() -> Iterator[LocalAws]:
    """moto with the state machines running, and Lambda's time limit enforced (Sandbox.Timedout)."""
    with local_aws(enforce_timeout=True) as local:
        new_containers()
        yield local


def start_restore(deployed: Any, name: str, manifest_keys: list[str]) -> dict[str, Any]:
    sfn = boto3.client("stepfunctions")
    started = sfn.start_execution(
        stateMachineArn=deployed.state_machine_arns["ParentStateMachine"],
        name=name,
        input=json.dumps({"manifestKeys": manifest_keys}),
    )
    return wait_for_execution(sfn, started["executionArn"], timeout=60)


def run_report(deployed: Any, name: str) -> dict[str, Any]:
    body = boto3.client("s3").get_object(Bucket=deployed.buckets["RunBucket"], Key=f"runs/{name}/report.json")
    return json.loads(body["Body"].read())


def manifest_key(export_id: str) -> str:
    return f"exports/AWSDynamoDB/{export_id}/manifest-summary.json"


# ---- 5. the writer Lambda killed at its time limit mid-chunk ------------------------------------------------


def test_a_writer_lambda_timed_out_mid_chunk_is_retried_from_the_last_cursor(
    aws_timeouts: LocalAws, tmp_path: Path
) -> None:
    items = sample_items(210, large=False)
    folder = write_export(tmp_path / "src", full_records(items), export_id=EXPORT_ID, files=1, empty_files=0)
    upload_s3(tmp_path / "src")
    create_table(boto3.client("dynamodb"), "Orders")
    deployed = deploy_template(
        TEMPLATE,
        {"ExportBucketName": BUCKET, "TargetTable": "Orders"},
        {
            "WriteChunkFunction": {
                # 4 s: a chunk of 100 records must finish well inside it on a loaded 2-core machine (1 s did not);
                # only the slowed call outlasts it.
                "Timeout": 4,
                "Environment": {"Variables": {"CHUNK_MAX_RECORDS": "100", "CHUNK_RESERVE_SECONDS": "0"}},
            }
        },
    )
    slow_file = data_files(folder)[0]
    # Line 150 of the file, in the 2nd batch of its 2nd chunk (lines 101-200): that call outlasts the Lambda.
    slow_lines = [json.loads(line)["Item"] for line in file_lines(slow_file)]
    slow_key = {k: slow_lines[149][k] for k in KEYS}
    slowed: list[tuple[bool, bool]] = []

    def stored(items: list[dict[str, Any]]) -> int:
        keys = [{k: i[k] for k in KEYS} for i in items]
        got = boto3.client("dynamodb").batch_get_item(RequestItems={"Orders": {"Keys": keys, "ConsistentRead": True}})
        return len(got["Responses"]["Orders"])

    def slow_once(params: dict[str, Any], **_: Any) -> None:
        requests = json.loads(params["body"])["RequestItems"]["Orders"]  # the body as it will be sent
        put_keys = [{k: r["PutRequest"]["Item"][k] for k in KEYS} for r in requests if "PutRequest" in r]
        if not slowed and slow_key in put_keys:
            # (the chunk's first batch, lines 101-125, is written; line 150 is not): killed mid-chunk
            slowed.append((stored(slow_lines[100:125]) == 25, stored(slow_lines[149:150]) == 0))
            time.sleep(4.5)

    _common.dynamodb_as(None).meta.events.register("before-call.dynamodb.BatchWriteItem", slow_once)

    execution = start_restore(deployed, "killed-mid-chunk", [manifest_key(EXPORT_ID)])

    assert execution["status"] == "SUCCEEDED", execution
    assert slowed == [(True, True)], slowed
    chunks = [c for c in aws_timeouts.calls if "WriteChunk" in c.function_name]
    timed_out = [c for c in chunks if c.error and c.error["errorType"] == "Sandbox.Timedout"]
    assert [(c.event["file"]["name"], c.event["cursor"]) for c in timed_out] == [(f"data/{slow_file.name}", 100)]
    cursors = [c.event["cursor"] for c in chunks if c.event["file"]["name"] == f"data/{slow_file.name}"]
    assert cursors == [0, 100, 100, 200], cursors  # the killed chunk ran again from its cursor, then the file went on
    assert 5 in aws_timeouts.retry_waits  # the child's Retry on Sandbox.Timedout (IntervalSeconds 5)
    report = run_report(deployed, "killed-mid-chunk")
    # The killed chunk's writes were done again (idempotent); its counts died with it: no record counted twice.
    assert (report["status"], report["files_done"], report["items_put"], report["items_rejected"]) == (
        "succeeded",
        1,
        210,
        0,
    )
    assert diff_tables(items, scan_items(boto3.client("dynamodb"), "Orders"), KEYS) == []


# ---- 6. the parent execution fails half way through a series of exports, then is re-run ----------------------


def test_a_series_restore_failing_half_way_is_re_run_and_skips_the_files_already_done(
    aws_timeouts: LocalAws, tmp_path: Path
) -> None:
    items = sample_items(60, large=False)
    root = tmp_path / "src"
    full = write_export(root, full_records(items), export_id=EXPORT_ID, files=3, empty_files=0)
    updated = {**items[0], "name": {"S": "changed"}}
    inserted = {"pk": {"S": "new"}, "sk": {"N": "1"}}
    changes = [(items[0], items[0], updated), (items[1], items[1], None), (inserted, None, inserted)]
    write_export(
        root,
        incremental_records(changes, KEYS, first_micros=1),
        export_id=INCR_ID,
        files=2,
        empty_files=0,
        incremental={"exportFromTime": "2024-05-01T10:00:00.000Z", "exportToTime": "2024-05-01T10:15:00.000Z"},
    )
    files = data_files(full)
    missing = files[1]  # the plan reads only file 0's first records: a missing file 1 is found by its writer
    upload_s3(root)
    s3 = boto3.client("s3")
    s3.delete_object(Bucket=BUCKET, Key=s3_key(full, missing))
    create_table(boto3.client("dynamodb"), "Orders")
    deployed = deploy_template(TEMPLATE, {"ExportBucketName": BUCKET, "TargetTable": "Orders"})
    keys = [manifest_key(EXPORT_ID), manifest_key(INCR_ID)]

    first = start_restore(deployed, "series-1", keys)

    assert first["status"] == "FAILED" and first["error"] == "RestoreFailed", first
    cause = json.loads(first["cause"])["errorMessage"]
    assert missing.name in cause and "does not exist" in cause, cause
    report1 = run_report(deployed, "series-1")
    assert (report1["files"], report1["files_done"], report1["files_failed"], report1["files_skipped"]) == (
        5,
        2,
        1,
        2,
    )
    assert (report1["items_put"], report1["items_deleted"], report1["items_rejected"]) == (40, 0, 0)
    done_first = file_keys(files[0]) | file_keys(files[2])
    expected_first = [i for i in items if (i["pk"]["S"], i["sk"]["N"]) in done_first]
    assert diff_tables(expected_first, scan_items(boto3.client("dynamodb"), "Orders"), KEYS) == []

    s3.put_object(Bucket=BUCKET, Key=s3_key(full, missing), Body=missing.read_bytes())  # the file is back
    calls_before = len(aws_timeouts.calls)
    second = start_restore(deployed, "series-2", keys)

    assert second["status"] == "SUCCEEDED", second
    assert diff_tables([updated, *items[2:], inserted], scan_items(boto3.client("dynamodb"), "Orders"), KEYS) == []
    rerun = [c for c in aws_timeouts.calls[calls_before:] if "WriteChunk" in c.function_name]
    skipped = sorted(c.event["file"]["name"] for c in rerun if c.result and c.result.get("alreadyDone"))
    assert skipped == sorted(f"data/{p.name}" for p in (files[0], files[2]))
    assert len(rerun) == 5, [(c.event["file"]["name"], c.error) for c in rerun]  # 3 files + 2 of the incremental
    report2 = run_report(deployed, "series-2")
    assert (report2["status"], report2["files_done"], report2["items_rejected"]) == ("succeeded", 5, 0)
    # 20 records of the file that was missing, then the incremental's 2 puts and 1 delete: nothing done twice.
    assert (report2["items_put"], report2["items_deleted"]) == (20 + 2, 1)
    applied = report1["items_put"] + report2["items_put"] + report2["items_deleted"]
    assert applied == report2["items_expected"] == 60 + 3
