"""The dashboard shows what the writer emits: a metric renamed on one side only fails here, not in CloudWatch.

Why: issue 17 asks that a user sees throttled calls; the dashboard's share of calls throttled is
ThrottleRetries (one a call throttled whole) over WriteCalls (every BatchWriteItem sent), both per chunk.
"""

from __future__ import annotations

import json
from typing import Any

from ddb_restore.aws.handlers import write_chunk
from support.template import load_template

EMITTED = set(write_chunk.METRICS.values()) | {"WriteRate", "FilesDone", "FilesFailed"}


def widgets() -> list[dict[str, Any]]:
    body, _ = load_template()["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    return json.loads(body.replace("${Budget}", "0"))["widgets"]


def test_every_metric_on_the_dashboard_is_one_the_writer_emits() -> None:
    shown = {row[1] for w in widgets() for row in w["properties"]["metrics"] if isinstance(row[0], str)}
    assert shown and shown <= EMITTED, shown - EMITTED


def test_the_dashboard_shows_the_share_of_write_calls_throttled() -> None:
    (throttling,) = [w for w in widgets() if "throttled" in w["properties"]["title"]]
    rows = throttling["properties"]["metrics"]
    ids = {row[-1].get("id"): row[1] for row in rows if isinstance(row[0], str) and isinstance(row[-1], dict)}
    (share,) = [row[0]["expression"] for row in rows if isinstance(row[0], dict)]
    assert share == "100*thr/calls"
    assert (ids["thr"], ids["calls"]) == ("ThrottleRetries", "WriteCalls")
