"""Sync state machine, last step: the applied export and the watermark written (or the failure), the lease back."""

from __future__ import annotations

from aws_lambda_powertools.utilities.typing import LambdaContext

from ..state import SyncOutcome, SyncRecordEvent
from ..syncing import SyncSettings, record_sync
from ._common import clock, logger, s3, settings, tracer


@logger.inject_lambda_context(clear_state=True, correlation_id_path="plan.holder")
@tracer.capture_lambda_handler
def handler(event: SyncRecordEvent, context: LambdaContext) -> SyncOutcome:
    result = record_sync(event, settings(), SyncSettings.from_env(), s3(), clock=clock)
    logger.info("sync recorded", extra={"status": result["status"], "outcome": result["message"]})
    return result
