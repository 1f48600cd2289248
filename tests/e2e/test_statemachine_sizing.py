"""The state machines sized to the table (issue 17): the plan's file list in spread order, the Distributed Map's
MaxConcurrency from the plan's choice, the plan's lines shown by `ddb-restore start`, and a pre-warm of an on-demand
table before the first write (against support/capacity.py, since moto's warm throughput is always ACTIVE at once).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from ddb_restore.aws.handlers import _common
from ddb_restore.cli import main
from ddb_restore.restore.spread import spread_order
from support.capacity import CapacityDouble
from support.compare import diff_tables, scan_items
from support.partitions import create_provisioned_table, partition_of, write_partitioned_export
from support.sample import full_records, sample_items, upload_folder, write_export
from support.sfn_local import LocalAws, deploy_template, local_aws, new_containers, publish_stack, wait_for_execution
from support.tables import KEYS, create_table

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
BUCKET = "source-exports"
EXPORT_ID = "01700000000000-abcdef12"
EXPORT = f"exports/AWSDynamoDB/{EXPORT_ID}/"


@pytest.fixture
def aws() -> Iterator[LocalAws]:
    with local_aws() as local:
        new_containers()
        yield local


def upload(tmp_path: Path, items: list[dict[str, Any]], files: int) -> list[str]:
    """The export in the bucket; its data files' names in manifest order."""
    folder = write_export(tmp_path / "src", full_records(items), export_id=EXPORT_ID, files=files, empty_files=0)
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    upload_folder(s3, tmp_path / "src", BUCKET, "")
    manifest = (folder / "manifest-files.json").read_text().splitlines()
    return [json.loads(line)["dataFileS3Key"].split(EXPORT, 1)[1] for line in manifest]


def deploy(**plan_env: str) -> Any:
    overrides = {"PlanFunction": {"Environment": {"Variables": plan_env}}} if plan_env else None
    return deploy_template(TEMPLATE, {"ExportBucketName": BUCKET, "TargetTable": "Orders"}, overrides)


def restore(deployed: Any, name: str, **extra: Any) -> dict[str, Any]:
    """Run the parent state machine on the export; the finished execution, its ARN under "executionArn"."""
    sfn = boto3.client("stepfunctions")
    started = sfn.start_execution(
        stateMachineArn=deployed.state_machine_arns["ParentStateMachine"],
        name=name,
        input=json.dumps({"manifestKey": f"{EXPORT}manifest-summary.json", **extra}),
    )
    return wait_for_execution(sfn, started["executionArn"], timeout=120)


def run_json(deployed: Any, name: str, key: str) -> Any:
    body = boto3.client("s3").get_object(Bucket=deployed.buckets["RunBucket"], Key=f"runs/{name}/{key}")["Body"]
    return json.loads(body.read())


def test_the_map_runs_the_files_in_spread_order_as_many_at_once_as_the_plan_chose(
    aws: LocalAws, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    items = sample_items(160, large=False)
    names = upload(tmp_path, items, files=8)
    create_provisioned_table(boto3.client("dynamodb"), "Orders", 3000)
    deployed = deploy()
    publish_stack(deployed, "sam-app")
    code = main(["start", f"s3://{BUCKET}/{EXPORT}", "--stack-name", "sam-app", "--poll-seconds", "0.2"])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert diff_tables(items, scan_items(boto3.client("dynamodb"), "Orders"), KEYS) == []

    run = out.split()[1].rsplit(":", 1)[1]
    listed = [f["name"] for f in run_json(deployed, run, "exports/0/files.json")]
    assert listed == spread_order(names) != names
    sfn = boto3.client("stepfunctions")
    (map_run,) = sfn.list_map_runs(executionArn=out.split()[1])["mapRuns"]
    assert sfn.describe_map_run(mapRunArn=map_run["mapRunArn"])["maxConcurrency"] == 3
    chosen = "files at once: 3 (the table's provisioned 3,000 WCU, 3,000 WCU/s, ÷ ~1,000 WCU/s a file"
    assert any(line.startswith(chosen) for line in run_json(deployed, run, "plan.json"))
    assert chosen in out  # `start` shows the plan's lines


def test_the_input_s_max_concurrency_overrides_the_plan_s_choice(aws: LocalAws, tmp_path: Path) -> None:
    upload(tmp_path, sample_items(40, large=False), files=4)
    create_provisioned_table(boto3.client("dynamodb"), "Orders", 3000)
    deployed = deploy()
    execution = restore(deployed, "given", maxConcurrency=2)
    assert execution["status"] == "SUCCEEDED"
    sfn = boto3.client("stepfunctions")
    (map_run,) = sfn.list_map_runs(executionArn=execution["executionArn"])["mapRuns"]
    assert sfn.describe_map_run(mapRunArn=map_run["mapRunArn"])["maxConcurrency"] == 2
    assert "files at once: 2 (maxConcurrency from the input), in an order spread over the keyspace" in run_json(
        deployed, "given", "plan.json"
    )


def test_start_s_reorder_window_reaches_the_writers_which_spread_each_file_s_batches(
    aws: LocalAws, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    items = [{"pk": {"S": f"user#{i}"}, "sk": {"N": "1"}} for i in range(400)]
    write_partitioned_export(tmp_path / "src", items, files=1, export_id=EXPORT_ID)
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    upload_folder(s3, tmp_path / "src", BUCKET, "")
    batches: dict[str, list[set[int]]] = {"Orders-a": [], "Orders-b": []}

    def seen(params: dict[str, Any], **_: Any) -> None:
        ((table, requests),) = json.loads(params["body"])["RequestItems"].items()
        batches[table].append({partition_of(r["PutRequest"]["Item"]["pk"], 4) for r in requests})

    _common.dynamodb_as(None).meta.events.register("before-call.dynamodb.BatchWriteItem", seen)
    deployed = deploy_template(TEMPLATE, {"ExportBucketName": BUCKET, "TargetTable": "Orders-*"})
    publish_stack(deployed, "sam-app")
    for table, window in (("Orders-a", "0"), ("Orders-b", "400")):
        create_table(boto3.client("dynamodb"), table)
        args = ["--table", table, "--reorder-window", window, "--poll-seconds", "0.2"]
        assert main(["start", f"s3://{BUCKET}/{EXPORT}", "--stack-name", "sam-app", *args]) == 0, capsys.readouterr()
        assert diff_tables(items, scan_items(boto3.client("dynamodb"), table), KEYS) == []
    in_order, spread = batches["Orders-a"], batches["Orders-b"]
    assert len(in_order) == len(spread) == 16
    assert sum(len(b) == 1 for b in in_order) >= len(in_order) - 4  # in file order, a batch hits one of 4 partitions
    assert all(len(b) >= 3 for b in spread)  # in the window's order, three or four of them


def test_prewarm_raises_warm_throughput_and_waits_for_it_before_the_first_write(aws: LocalAws, tmp_path: Path) -> None:
    items = sample_items(60, large=False)
    upload(tmp_path, items, files=3)
    create_table(boto3.client("dynamodb"), "Orders")  # on demand: warm for 4,000 WCU/s, as a new one in AWS
    warm = CapacityDouble(_common.dynamodb_as(None), looks=2)
    # 3 files at the real ~1,000 WCU/s a file drive 3,000 WCU/s, which a cold table takes: planned 20,000 here.
    deployed = deploy(PREWARM_POLL_SECONDS="0", FILE_WCU="10000")
    execution = restore(deployed, "warmed", maxWcu=20000, prewarm=True)
    assert execution["status"] == "SUCCEEDED", execution
    assert diff_tables(items, scan_items(boto3.client("dynamodb"), "Orders"), KEYS) == []
    assert warm.raises == [("Orders", 4000, 20000)]  # asked once: the one-time charge
    names = [c.function_name for c in aws.calls]
    looks = [c.result["status"] for c in aws.calls if "Prewarm" in c.function_name]
    assert looks[0] == "prewarm: asked Orders for 20,000 write units a second (was 4,000)"
    assert looks[-1] == "prewarm: Orders is warm for 20,000 write units a second (ACTIVE)" and len(looks) >= 3
    last_look = max(i for i, n in enumerate(names) if "Prewarm" in n)
    assert last_look < min(i for i, n in enumerate(names) if "WriteChunk" in n)
    plan = run_json(deployed, "warmed", "plan.json")
    assert any("raised from 4,000 to 20,000" in line and "a one-time charge" in line for line in plan)


def test_without_prewarm_the_plan_says_a_cold_on_demand_table_throttles_at_first(aws: LocalAws, tmp_path: Path) -> None:
    upload(tmp_path, sample_items(20, large=False), files=2)
    create_table(boto3.client("dynamodb"), "Orders")
    warm = CapacityDouble(_common.dynamodb_as(None))
    deployed = deploy(FILE_WCU="10000")
    assert restore(deployed, "cold", maxWcu=20000)["status"] == "SUCCEEDED"
    assert warm.raises == [] and not [c for c in aws.calls if "Prewarm" in c.function_name]
    plan = run_json(deployed, "cold", "plan.json")
    assert any(line.startswith("note: on-demand table Orders is warm for 4,000 WCU/s") for line in plan)
