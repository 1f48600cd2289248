"""Sync state machine, first step: the lease, and the export that is due (or nothing due)."""

from __future__ import annotations

from aws_lambda_powertools.utilities.typing import LambdaContext

from ..state import SyncPlan, SyncPlanEvent
from ..syncing import SyncSettings, plan_sync
from ._common import clock, dynamodb, dynamodb_as, logger, s3, settings, tracer


@logger.inject_lambda_context(clear_state=True, correlation_id_path="executionName")
@tracer.capture_lambda_handler
def handler(event: SyncPlanEvent, context: LambdaContext) -> SyncPlan:
    sync = SyncSettings.from_env()
    # The source's client through the source role when it is another account's (PITR is checked there).
    result = plan_sync(event, settings(), sync, s3(), dynamodb_as(sync.source_role_arn), dynamodb(), clock=clock)
    logger.info("sync plan", extra={"due": result["due"], "decision": result["message"]})
    return result
