"""The plan's sizing: files at once from the table's capacity, and its warnings about what the table can take."""

from __future__ import annotations

from typing import Any

from ddb_restore.restore.capacity import (
    TableCapacity,
    capacity_lines,
    choose_files_at_once,
    choose_workers,
    planned_rate,
    prewarm_target,
)

CAP = {"cap": 20, "cap_name": "the stack's DefaultMaxConcurrency", "per_file_wcu": 1000.0}


def provisioned(wcu: int, gsis: tuple[tuple[str, int], ...] = ()) -> TableCapacity:
    return TableCapacity(provisioned_wcu=wcu, gsi_wcu=gsis, warm_wcu=wcu, warm_status="ACTIVE")


def on_demand(warm: int = 4000, maximum: int | None = None) -> TableCapacity:
    return TableCapacity(on_demand=True, on_demand_max_wcu=maximum, warm_wcu=warm, warm_status="ACTIVE")


def test_files_at_once_reach_the_provisioned_capacity_and_no_more() -> None:
    chosen = choose_files_at_once(32, None, provisioned(8000), **CAP)
    assert chosen.count == 8
    assert "the table's provisioned 8,000 WCU, 8,000 WCU/s, ÷ ~1,000 WCU/s a file (one partition) = 8" in chosen.reason


def test_files_at_once_follow_a_budget_below_the_capacity() -> None:
    assert choose_files_at_once(32, 2500, provisioned(8000), **CAP).count == 3


def test_a_budget_above_the_capacity_does_not_add_files() -> None:
    chosen = choose_files_at_once(32, 50_000, provisioned(4000), **CAP)
    assert chosen.count == 4 and "(below the budget)" in chosen.reason


def test_files_at_once_never_exceed_the_files_or_the_cap() -> None:
    few = choose_files_at_once(3, None, provisioned(8000), **CAP)
    assert (few.count, few.reason.endswith("held to 3 by the 3 files")) == (3, True)
    big = choose_files_at_once(500, None, provisioned(64_000), **CAP)
    assert big.count == 20 and big.reason.endswith("held to 20 by the stack's DefaultMaxConcurrency 20")
    huge = choose_files_at_once(50_000, None, provisioned(40_000_000), **{**CAP, "cap": 20_000})
    assert huge.count == 10_000 and "a Distributed Map's limit" in huge.reason


def test_an_on_demand_table_without_a_maximum_gets_the_cap() -> None:
    assert choose_files_at_once(64, None, on_demand(), **CAP).count == 20
    assert choose_files_at_once(64, None, on_demand(maximum=6000), **CAP).count == 6


def test_a_gsi_with_less_capacity_bounds_the_files_at_once() -> None:
    assert choose_files_at_once(32, None, provisioned(8000, (("byEmail", 2000),)), **CAP).count == 2


def test_run_keeps_its_default_workers_and_says_when_the_table_needs_more() -> None:
    assert choose_workers(3, 8, 16, None, provisioned(1000)).count == 3
    assert choose_workers(None, 8, 16, None, provisioned(1000)).count == 4  # 16 files keep 4 workers busy
    wide = choose_workers(None, 4, 256, None, provisioned(64_000))
    assert wide.count == 4 and "the table needs 64" in wide.reason and "give --workers 16" in wide.reason


def test_the_plan_warns_of_a_budget_above_the_provisioned_wcu() -> None:
    lines = capacity_lines("Orders", provisioned(1000), 5000, 1000, prewarm=False)
    assert lines == [
        "warning: the budget 5,000 WCU/s is above table Orders's provisioned 1,000 WCU: writes past that are "
        "throttled (raise its WCU, or lower the budget)"
    ]
    assert capacity_lines("Orders", provisioned(1000), 800, 800, prewarm=False) == []


def test_the_plan_warns_of_a_budget_above_the_on_demand_maximum() -> None:
    (line,) = capacity_lines("Orders", on_demand(warm=40_000, maximum=3000), 5000, 3000, prewarm=False)
    assert "above on-demand table Orders's maximum 3,000 write request units a second" in line


def test_the_plan_warns_of_a_gsi_with_less_capacity_than_planned() -> None:
    capacity = provisioned(4000, (("byEmail", 500),))
    (line,) = capacity_lines("Orders", capacity, None, planned_rate(None, capacity, 8, 1000), prewarm=False)
    assert line.startswith("warning: GSI byEmail of Orders has 500 WCU, below the 4,000 WCU/s the restore would write")
    assert capacity_lines("Orders", capacity, 400, 400, prewarm=False) == []


def test_the_plan_says_when_a_cold_on_demand_table_throttles_at_first() -> None:
    (line,) = capacity_lines("Orders", on_demand(), 20_000, 20_000, prewarm=False)
    assert line.startswith("note: on-demand table Orders is warm for 4,000 WCU/s: at ~20,000 WCU/s writes throttle")
    assert "doubled its capacity 3 time(s)" in line and "~90 min" in line and "--prewarm" in line
    assert capacity_lines("Orders", on_demand(warm=30_000), 20_000, 20_000, prewarm=False) == []


def test_prewarm_is_shown_as_a_one_time_charge_and_only_for_a_cold_on_demand_table() -> None:
    (line,) = capacity_lines("Orders", on_demand(), 20_000, 20_000, prewarm=True)
    assert "raised from 4,000 to 20,000 write units a second before the first write" in line
    assert "a one-time charge" in line
    assert capacity_lines("Orders", provisioned(1000), None, 1000, prewarm=True) == [
        "prewarm: nothing to do (a provisioned table's rate is its provisioned WCU)"
    ]
    assert prewarm_target(on_demand(), 20_000) == 20_000
    assert prewarm_target(on_demand(warm=30_000), 20_000) is None
    assert prewarm_target(provisioned(1000), 20_000) is None


def test_the_planned_rate_is_the_lowest_bound() -> None:
    assert planned_rate(None, on_demand(), 8, 1000) == 8000  # what 8 files drive
    assert planned_rate(5000, on_demand(), 8, 1000) == 5000
    assert planned_rate(None, provisioned(3000), 8, 1000) == 3000


def test_capacity_is_read_from_describe_table() -> None:
    desc: dict[str, Any] = {
        "BillingModeSummary": {"BillingMode": "PROVISIONED"},
        "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 700},
        "GlobalSecondaryIndexes": [
            {"IndexName": "byEmail", "ProvisionedThroughput": {"WriteCapacityUnits": 300}},
        ],
        "WarmThroughput": {"WriteUnitsPerSecond": 700, "Status": "ACTIVE"},
    }
    assert TableCapacity.from_description(desc) == TableCapacity(
        provisioned_wcu=700, gsi_wcu=(("byEmail", 300),), warm_wcu=700, warm_status="ACTIVE"
    )
    assert TableCapacity.from_description(desc).ceiling() == (300.0, "GSI byEmail's provisioned 300 WCU")
    demand = {
        "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"},
        "ProvisionedThroughput": {"ReadCapacityUnits": 0, "WriteCapacityUnits": 0},
        "OnDemandThroughput": {"MaxWriteRequestUnits": -1},
        "WarmThroughput": {"WriteUnitsPerSecond": 4000, "Status": "ACTIVE"},
    }
    assert TableCapacity.from_description(demand) == on_demand()
