"""A live move: sync steps until the target is close behind the source, then, after the writes stop, the last
window and a verify of the whole series.

Without `finish`: steps one after another (each waiting until its window may be exported) until the lag after a step
(now − watermark) is at most `lag`. With `finish`: steps until the watermark reaches the moment `--finish` began
(the writes to the source stopped before that), then every export applied is read back against the target with
`exact` (an item the exports lack is a difference): only then is the target the source.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..export.series import order_series
from .apply import verify_exports
from .exports import millis
from .state import iso, parse_time
from .step import StepResult, SyncJob, applied_exports, sync_step

__all__ = ["Migration", "step_when_due", "catch_up", "finish"]


@dataclass
class Migration:
    """What a migrate did: each step's result, and at the end the verify."""

    steps: list[StepResult] = field(default_factory=list)
    verify: dict[str, Any] | None = None
    equal_as_of: str | None = None

    @property
    def failed(self) -> bool:
        return any(s.status == "failed" for s in self.steps) or (
            self.verify is not None and self.verify["status"] != "equal"
        )


def step_when_due(job: SyncJob, show: Callable[[str], None]) -> StepResult:
    """A sync step, after waiting for its window when it is not long enough yet."""
    clock = job.target.clock
    while True:
        result = sync_step(job, show)
        if result.status != "not due" or result.due_at is None:
            return result
        wait = max(result.due_at - clock.time(), 0.0) + 0.001
        show(f"the next window can be exported at {iso(result.due_at)}: waiting {wait:,.0f} s")
        clock.sleep(wait)


def catch_up(job: SyncJob, lag: float, show: Callable[[str], None]) -> Migration:
    """Steps until the lag after one is at most `lag` seconds (or one fails)."""
    clock = job.target.clock
    migration = Migration()
    while True:
        result = step_when_due(job, show)
        migration.steps.append(result)
        behind = result.lag(clock.time())
        if result.status == "failed" or (behind is not None and behind <= lag):
            return migration
        show(f"{job.target.table} is {behind:,.0f} s behind {job.source}, more than --lag {lag:,.0f} s: another step")


def finish(job: SyncJob, show: Callable[[str], None]) -> Migration:
    """The last windows up to now, then the whole series verified exactly against the target."""
    clock = job.target.clock
    frozen = millis(clock.time())  # the watermark is in whole milliseconds too
    migration = Migration()
    while True:
        result = step_when_due(job, show)
        migration.steps.append(result)
        if result.status == "failed":
            return migration
        if result.watermark_after and parse_time(result.watermark_after) >= frozen:
            break
    exports = order_series(applied_exports(job))
    migration.verify = verify_exports(exports, job.target, exact=True)
    if migration.verify["status"] == "equal":
        migration.equal_as_of = migration.steps[-1].watermark_after
    return migration
