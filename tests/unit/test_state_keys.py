"""The keys the ASL reads are the keys aws/state.py types: a rename on one side only fails here, not in AWS."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ddb_restore.aws import state

ASL = Path(__file__).resolve().parents[2] / "statemachine"
PARENT = json.loads((ASL / "parent.asl.json").read_text())
CHILD = json.loads((ASL / "child.asl.json").read_text())
# What each Lambda step returns (its `$.Payload`).
RESULTS = {
    "${PlanFunctionArn}": state.PlanResult,
    "${PrewarmFunctionArn}": state.WarmResult,
    "${SupersedeFunctionArn}": state.SupersededResult,
    "${SummarizeFunctionArn}": state.Summary,
    "${VerifyPlanFunctionArn}": state.VerifyPlan,
    "${VerifySummaryFunctionArn}": state.VerifySummary,
}


def keys(typed: Any) -> set[str]:
    return set(typed.__required_keys__ | typed.__optional_keys__)


def paths(node: Any) -> Iterator[str]:
    """Every JSONPath (`$.a.b`) in a piece of ASL."""
    if isinstance(node, dict):
        for value in node.values():
            yield from paths(value)
    elif isinstance(node, list):
        for value in node:
            yield from paths(value)
    elif isinstance(node, str) and node.startswith("$."):
        yield node


def states(definition: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, body in definition["States"].items():
        yield name, body
        if "ItemProcessor" in body:
            yield from states(body["ItemProcessor"])


def test_what_the_parent_reads_of_the_run_the_export_and_the_summary_is_typed() -> None:
    typed = {
        "run": state.Run,
        "current": state.ExportEntry,
        "step": state.Summary,
        "verify": state.VerifyPlan,
        "verified": state.VerifySummary,
        "warm": state.WarmResult,
    }
    seen = set()
    for _, body in states(PARENT):
        for path in paths(body):
            first, *rest = path[2:].split(".")
            if first in typed and rest:
                assert rest[0] in keys(typed[first]), path
                seen.add(first)
    assert seen == set(typed)


def test_what_the_parent_selects_from_each_step_is_what_the_step_returns() -> None:
    selected = 0
    for _, body in states(PARENT):
        if body.get("Resource") != "arn:aws:states:::lambda:invoke" or "ResultSelector" not in body:
            continue  # the verify Map's loop passes its Lambda's reply on whole (tested below)
        result = RESULTS[body["Parameters"]["FunctionName"]]
        for path in paths(body.get("ResultSelector", {})):
            first, name = path[2:].split(".")
            assert (first, name in keys(result)) == ("Payload", True), path
            selected += 1
    assert selected == 19


def test_the_child_state_is_what_the_map_gives_and_the_chunk_returns() -> None:
    apply = PARENT["States"]["ApplyExport"]
    given = {k.removesuffix(".$") for k in apply["ItemSelector"]}
    assert given == {"run", "export", "file", "cursor"} == set(state.ChunkState.__required_keys__)
    outputs = {p for p in paths(apply["ItemProcessor"]) if p.startswith("$.Output.")}
    assert outputs == {"$.Output.file.name", "$.Output.status", "$.Output.cursor"}
    assert "name" in keys(state.FileEntry)
    # The writer's own state, less `$.Payload` (the Lambda's reply, which is the state).
    read = {p[2:].split(".")[0] for _, body in states(CHILD) for p in paths(body) if p != "$.Payload"}
    assert read == {"status", "done", "error"} and read <= keys(state.ChunkState)


def test_the_verify_items_state_is_what_the_map_gives_and_the_chunk_returns() -> None:
    verify = PARENT["States"]["VerifyItems"]
    given = {k.removesuffix(".$") for k in verify["ItemSelector"]}
    assert given == {"run", "verify", "item", "cursor"} == set(state.VerifyChunkState.__required_keys__)
    read = {p[2:].split(".")[0] for p in paths(verify["ItemProcessor"]) if p != "$.Payload"}
    assert read == {"done", "item", "status"} and read <= keys(state.VerifyChunkState)
    assert "index" in keys(state.VerifyItem)


SYNC = json.loads((ASL / "sync.asl.json").read_text())


def test_what_the_sync_reads_of_its_plan_is_typed() -> None:
    typed = {"plan": state.SyncPlan, "export": state.SyncExport, "restore": state.SyncRestore}
    seen = set()
    for _, body in states(SYNC):
        for path in paths(body):
            first, *rest = path[2:].split(".")
            if first != "plan" or not rest:
                continue  # the record steps get the whole plan
            assert rest[0] in keys(state.SyncPlan), path
            seen.add(rest[0])
            if rest[0] in ("export", "restore") and len(rest) > 1:
                assert rest[1] in keys(typed[rest[0]]), path
    assert {"due", "export", "restore", "sourceRoleArn", "pollSeconds", "message"} <= seen


def test_the_sync_steps_get_and_give_what_their_types_say() -> None:
    plan = SYNC["States"]["Plan"]
    assert {k.removesuffix(".$") for k in plan["Parameters"]["Payload"]} == keys(state.SyncPlanEvent)
    recorded = [body["Parameters"] for _, body in states(SYNC) if body.get("Next") == "Record" and "Parameters" in body]
    assert len(recorded) == 5  # applied, restore failed, export failed, refused, interrupted
    for parameters in recorded:
        assert {k.removesuffix(".$") for k in parameters} <= keys(state.SyncRecordEvent)
    outcomes = {parameters["outcome"] for parameters in recorded}
    assert outcomes == {"applied", "export failed", "refused", "interrupted"}
    # After the record step (its reply is the state), the Choice and the Fail read the outcome.
    after = [p[2:] for name in ("Recorded?", "SyncFailed") for p in paths(SYNC["States"][name])]
    assert set(after) == {"status", "message"} and set(after) <= keys(state.SyncOutcome)
