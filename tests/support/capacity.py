"""A table's capacity settings as DynamoDB describes them, where the local servers do not: warm throughput and an
on-demand table's maximum, on one boto3 client (botocore hooks, like botocore_faults.py).

Why: dynalite knows neither; moto 5.2.5 reports a `WarmThroughput` that is always ACTIVE, applies an UpdateTable of
it at once, lets it go down, and has no `OnDemandThroughput`. AWS (developer guide, "Understanding DynamoDB warm
throughput"; API reference, TableWarmThroughputDescription) describes:
- every table has a warm throughput: a new on-demand table 12,000 read and 4,000 write units a second; a provisioned
  table its provisioned units;
- UpdateTable with `WarmThroughput` raises it asynchronously: the table and its WarmThroughput show UPDATING, then
  ACTIVE at the new value; an update while the table is UPDATING is refused (ResourceInUseException);
- a warm throughput is never lowered (ValidationException here; AWS's exact words are not documented);
- an on-demand table may have `OnDemandThroughput.MaxWriteRequestUnits`.
"Then" is counted in DescribeTable calls (`looks`), not seconds, so a test needs no clock. Each raise asked for is
kept in `raises` (table, from, to): what AWS bills once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.parsers import create_parser

__all__ = ["NEW_ON_DEMAND_WARM_WCU", "CapacityDouble"]

NEW_ON_DEMAND_WARM_WCU = 4000
NEW_ON_DEMAND_WARM_RCU = 12000


@dataclass
class _Warm:
    read: int
    write: int
    pending: int | None = None  # the write units asked for, while UPDATING
    looks_left: int = 0


@dataclass
class CapacityDouble:
    """Install on `client`; `warm` overrides a table's starting warm write units, `on_demand_max` sets
    MaxWriteRequestUnits; an update becomes ACTIVE on the `looks`-th DescribeTable after it."""

    client: Any
    warm: dict[str, int] = field(default_factory=dict)
    on_demand_max: dict[str, int] = field(default_factory=dict)
    looks: int = 2
    raises: list[tuple[str, int, int]] = field(default_factory=list)
    _tables: dict[str, _Warm] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.client.meta.events.register("before-call.dynamodb.UpdateTable", self._update)
        self.client.meta.events.register("after-call.dynamodb.DescribeTable", self._describe)

    def _state(self, desc: dict[str, Any]) -> _Warm:
        name = desc["TableName"]
        if name not in self._tables:
            on_demand = desc.get("BillingModeSummary", {}).get("BillingMode") == "PAY_PER_REQUEST"
            provisioned = desc.get("ProvisionedThroughput") or {}
            read = NEW_ON_DEMAND_WARM_RCU if on_demand else int(provisioned.get("ReadCapacityUnits") or 1)
            write = NEW_ON_DEMAND_WARM_WCU if on_demand else int(provisioned.get("WriteCapacityUnits") or 1)
            self._tables[name] = _Warm(read, self.warm.get(name, write))
        return self._tables[name]

    def _describe(self, parsed: dict[str, Any], **_: Any) -> None:
        desc = parsed.get("Table")
        if not desc:
            return
        state = self._state(desc)
        if state.pending is not None:
            state.looks_left -= 1
            if state.looks_left <= 0:
                state.write, state.pending = state.pending, None
        updating = state.pending is not None
        desc["WarmThroughput"] = {
            "ReadUnitsPerSecond": state.read,
            "WriteUnitsPerSecond": state.write,
            "Status": "UPDATING" if updating else "ACTIVE",
        }
        if updating:
            desc["TableStatus"] = "UPDATING"
        if desc["TableName"] in self.on_demand_max:
            desc["OnDemandThroughput"] = {"MaxWriteRequestUnits": self.on_demand_max[desc["TableName"]]}

    def _update(self, params: dict[str, Any], model: Any, **_: Any) -> Any:
        request = json.loads(params["body"])
        wanted = (request.get("WarmThroughput") or {}).get("WriteUnitsPerSecond")
        if wanted is None:
            return None  # any other update goes to the server
        name = request["TableName"]
        if name in self._tables and self._tables[name].pending is not None:
            return _error("ResourceInUseException", f"Attempt to change a resource which is still in use: {name}")
        desc = self.client.describe_table(TableName=name)["Table"]
        state = self._state(desc)
        if wanted < state.write:
            message = f"warm throughput cannot be decreased (now {state.write}, asked {wanted})"
            return _error("ValidationException", message)
        self.raises.append((desc["TableName"], state.write, wanted))
        state.pending, state.looks_left = wanted, self.looks
        desc = {**desc, "TableStatus": "UPDATING"}
        desc["WarmThroughput"] = {
            "ReadUnitsPerSecond": state.read,
            "WriteUnitsPerSecond": state.write,
            "Status": "UPDATING",
        }
        body = json.dumps({"TableDescription": desc}, default=str).encode()
        parsed = create_parser("json").parse({"body": body, "headers": {}, "status_code": 200}, model.output_shape)
        return AWSResponse("https://dynamodb", 200, {}, None), parsed


def _error(code: str, message: str) -> tuple[AWSResponse, dict[str, Any]]:
    return AWSResponse("https://dynamodb", 400, {}, None), {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": 400},
    }
