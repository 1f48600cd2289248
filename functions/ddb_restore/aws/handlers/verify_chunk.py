"""Parent state machine, the verify Map's loop: one chunk of one data file's read-back, or of one Scan segment."""

from __future__ import annotations

from aws_lambda_powertools.utilities.typing import LambdaContext

from ..state import VerifyChunkState
from ..verifying import verify_chunk
from ._common import clock, dynamodb, logger, s3, settings, tracer


@logger.inject_lambda_context(clear_state=True, correlation_id_path="run.runId")
@tracer.capture_lambda_handler
def handler(event: VerifyChunkState, context: LambdaContext) -> VerifyChunkState:
    logger.append_keys(item=event["item"].get("name") or event["item"].get("segment"), cursor=event.get("cursor", 0))
    state = verify_chunk(event, settings(), s3(), dynamodb(), context.get_remaining_time_in_millis, clock=clock)
    logger.info("verify chunk", extra={"status": state["status"], "cursor": state["cursor"]})
    return state
