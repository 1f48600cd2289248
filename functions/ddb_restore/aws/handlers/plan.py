"""Parent state machine, first step: check the export(s) and the table, write the file lists."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from ..steps import plan_execution
from ._common import dynamodb, logger, s3, settings, tracer


@logger.inject_lambda_context(clear_state=True, correlation_id_path="executionName")
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # The parent passes its whole input under "input", and its execution name, which names the run.
    result = plan_execution({**event["input"], "executionName": event["executionName"]}, settings(), s3(), dynamodb())
    logger.info("plan", extra={"plan": result["plan"]})
    return result
