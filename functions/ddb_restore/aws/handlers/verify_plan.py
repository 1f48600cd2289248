"""Parent state machine, `"verify": true`, after the last export: the series' final state and the Map's items."""

from __future__ import annotations

from aws_lambda_powertools.utilities.typing import LambdaContext

from ..state import VerifyPlan, VerifyStep
from ..verifying import plan_verify
from ._common import clock, logger, s3, settings, tracer


@logger.inject_lambda_context(clear_state=True, correlation_id_path="run.runId")
@tracer.capture_lambda_handler
def handler(event: VerifyStep, context: LambdaContext) -> VerifyPlan:
    result = plan_verify(event, settings(), s3(), clock=clock)
    logger.info("verify plan", extra={"items": result["items"]})
    return result
