"""Parent state machine, first step: check the export(s) and the table, write the file lists."""

from __future__ import annotations

from typing import Any, cast

from aws_lambda_powertools.utilities.typing import LambdaContext

from ..state import PlanEvent, PlanResult
from ..steps import plan_execution
from ._common import clock, dynamodb, logger, s3, settings, tracer


@logger.inject_lambda_context(clear_state=True, correlation_id_path="executionName")
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> PlanResult:
    # The parent passes its whole input under "input", and its execution name, which names the run.
    plan_event = cast(PlanEvent, {**event["input"], "executionName": event["executionName"]})
    result = plan_execution(plan_event, settings(), s3(), dynamodb(), clock=clock)
    logger.info("plan", extra={"plan": result["plan"]})
    return result
