"""Parent state machine, after the verify Map: the parts added up into verify.json, and the one line."""

from __future__ import annotations

from aws_lambda_powertools.utilities.typing import LambdaContext

from ..state import VerifyStep, VerifySummary
from ..verifying import summarize_verify
from ._common import clock, logger, s3, tracer


@logger.inject_lambda_context(clear_state=True, correlation_id_path="run.runId")
@tracer.capture_lambda_handler
def handler(event: VerifyStep, context: LambdaContext) -> VerifySummary:
    result = summarize_verify(event, s3(), clock=clock)
    logger.info("verified", extra=result)
    return result
