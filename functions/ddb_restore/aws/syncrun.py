"""Starting and following one execution of the sync state machine (`ddb-restore sync --stack-name`).

The phases are read from the execution's history, one line as each is reached: the plan's decision, the export
started, each new DescribeExport status, the restore's nested execution (followed with follow.py, as `start`
follows one), then how it ended. `outcome` turns the finished execution into the one line and the exit status
the local `sync` gives: 0 applied or nothing due, 1 failed, 2 refused (nothing started).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..clock import Clock
from .follow import Snapshot, follow
from .state import SyncInput

__all__ = ["start_sync", "follow_sync", "outcome", "SyncFollowed"]

EXIT_OK, EXIT_FAILED, EXIT_REFUSED = 0, 1, 2


def start_sync(sfn: Any, state_machine_arn: str, given: SyncInput, clock: Clock) -> str:
    """Start one sync execution (named after `clock`'s time: the name is the lease's holder); its ARN."""
    now = clock.time()
    name = "sync-" + time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + f"-{int(now * 1000) % 1000:03d}"
    return str(
        sfn.start_execution(stateMachineArn=state_machine_arn, name=name, input=json.dumps(given))["executionArn"]
    )


@dataclass
class SyncFollowed:
    """What following an execution has seen so far: history events read, the last export status shown."""

    events: int = 0
    export_status: str | None = None


def _output(details: dict[str, Any]) -> dict[str, Any]:
    with contextlib.suppress(ValueError, TypeError):
        return dict(json.loads(details.get("output") or "{}"))
    return {}


def _restore(event: dict[str, Any]) -> str | None:
    """The nested restore execution's ARN, when `event` is its start."""
    details = event.get("taskSubmittedEventDetails") or {}
    if event["type"] != "TaskSubmitted" or "startExecution" not in details.get("resource", ""):
        return None
    return str(_output(details).get("ExecutionArn") or "") or None


def _phase(event: dict[str, Any], seen: SyncFollowed) -> str | None:
    """The line a state's end stands for, or None (a DescribeExport status already shown is not shown again)."""
    details = event.get("stateExitedEventDetails")
    if not details:
        return None
    name, output = details["name"], _output(details)
    if name == "Plan":
        return f"plan: {output.get('plan', {}).get('message', '')}"
    if name.startswith("Start") and "started" in output:
        return f"export started: {output['started'].get('ExportArn')}"
    if name.startswith("DescribeExport"):
        export = output.get("described", {}).get("export", {})
        status = export.get("ExportStatus")
        if status == seen.export_status:
            return None
        seen.export_status = status
        return f"export {str(export.get('ExportArn', '')).rsplit('/', 1)[-1]}: {status}"
    return None


def _history(sfn: Any, arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=arn):
        events.extend(page["events"])
    return events


def follow_sync(
    sfn: Any,
    s3: Any,
    arn: str,
    show: Callable[[str], None],
    *,
    clock: Clock,
    interval: float = 5.0,
    show_snapshot: Callable[[Snapshot], None] = lambda snap: None,
) -> dict[str, Any]:
    """Poll until the execution ends, showing each phase once (and the nested restore's progress, followed to its
    end); its last DescribeExecution."""
    seen = SyncFollowed()

    def show_lines(lines: list[str]) -> None:
        for line in lines:
            show(line)

    while True:
        described = sfn.describe_execution(executionArn=arn)  # before the history: its end is in the history read
        events = _history(sfn, arn)
        for event in events[seen.events :]:
            line = _phase(event, seen)
            if line:
                show(line)
            restore = _restore(event)
            if restore:
                show(f"restore: nested execution {restore} of the parent state machine")
                follow(sfn, s3, restore, show_snapshot, clock=clock, interval=interval, show_plan=show_lines)
        seen.events = len(events)
        if described["status"] != "RUNNING":
            return dict(described)
        clock.sleep(interval)


def outcome(described: dict[str, Any]) -> tuple[int, str]:
    """The exit status and the one line of a finished sync execution."""
    output = _output(described)
    if described["status"] == "SUCCEEDED":
        return EXIT_OK, str(output.get("message") or f"{described['executionArn']} succeeded")
    cause = str(described.get("cause") or "")
    with contextlib.suppress(ValueError, AttributeError):  # a Lambda's error payload
        cause = str(json.loads(cause).get("errorMessage") or cause)
    error = described.get("error") or described["status"]
    status = EXIT_REFUSED if error == "SyncRefused" else EXIT_FAILED
    return status, f"sync execution {described['status']}: {error}: {cause}".rstrip(": ")
