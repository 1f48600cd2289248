"""Parent state machine, before the first Map when the input says "prewarm": one look at the table's warm throughput."""

from __future__ import annotations

from aws_lambda_powertools.utilities.typing import LambdaContext

from ..state import RunStep, WarmResult
from ..steps import prewarm_table
from ._common import dynamodb, logger, settings, tracer


@logger.inject_lambda_context(clear_state=True, correlation_id_path="run.runId")
@tracer.capture_lambda_handler
def handler(event: RunStep, context: LambdaContext) -> WarmResult:
    result = prewarm_table(event, settings(), dynamodb())
    logger.info("prewarm", extra=dict(result))
    return result
