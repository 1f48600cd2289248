"""Child state machine, the loop: one chunk of one data file, from its cursor until time runs low."""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from ..state import ChunkState
from ..steps import write_file_chunk
from ._common import clock, dynamodb, logger, metrics, s3, settings, tracer

# The chunk counts emitted as CloudWatch metrics, by name (the dashboard in template.yaml shows them).
METRICS = {
    "items_put": "ItemsPut",
    "items_deleted": "ItemsDeleted",
    "items_rejected": "ItemsRejected",
    "write_calls": "WriteCalls",
    "throttle_retries": "ThrottleRetries",
    "unprocessed_retries": "UnprocessedRetries",
    "write_units": "WriteUnits",
}


@logger.inject_lambda_context(clear_state=True, correlation_id_path="run.runId")
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: ChunkState, context: LambdaContext) -> ChunkState:
    logger.append_keys(file=event["file"]["name"], cursor=event.get("cursor", 0))
    storage, table_client = s3(), dynamodb()
    state = write_file_chunk(
        event, settings(), storage, table_client, context.get_remaining_time_in_millis, clock=clock
    )
    for field, name in METRICS.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=state["chunkCounts"][field])
    if "rate" in state:  # the write units per second the file's writer reached (write/rate.py)
        metrics.add_metric(name="WriteRate", unit=MetricUnit.CountPerSecond, value=state["rate"])
    if state["done"]:
        metrics.add_metric(
            name="FilesFailed" if state["status"] == "failed" else "FilesDone", unit=MetricUnit.Count, value=1
        )
    logger.info("chunk", extra={"status": state["status"], "cursor": state["cursor"], "counts": state["chunkCounts"]})
    return state
