"""Parent state machine, after each export: next export, or the report (and the notification)."""

from __future__ import annotations

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext

from ..state import ExportStep, Summary
from ..steps import summarize
from ._common import clock, logger, s3, settings, tracer


def _notify(subject: str, message: str) -> None:
    topic = settings().topic_arn
    if topic:
        boto3.client("sns").publish(TopicArn=topic, Subject=subject[:100], Message=message)


@logger.inject_lambda_context(clear_state=True, correlation_id_path="run.runId")
@tracer.capture_lambda_handler
def handler(event: ExportStep, context: LambdaContext) -> Summary:
    result = summarize(event, s3(), _notify, clock=clock)
    logger.info("summary", extra=result)
    return result
