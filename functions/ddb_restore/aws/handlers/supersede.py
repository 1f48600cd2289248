"""Parent state machine, before an incremental export's files: the latest-record-wins pass over it."""

from __future__ import annotations

from aws_lambda_powertools.utilities.typing import LambdaContext

from ..state import ExportStep, SupersededResult
from ..steps import find_export_superseded
from ._common import logger, s3, settings, tracer


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: ExportStep, context: LambdaContext) -> SupersededResult:
    result = find_export_superseded(event, settings(), s3())
    logger.info("superseded", extra={"export": event["current"].get("exportId"), "keys": result["keys"]})
    return result
