"""The state the state machines carry between steps, as TypedDicts: what steps.py reads and writes, checked by mypy.

Keys are camelCase because the ASL (statemachine/*.asl.json) names them in its paths: `$.run.runBucket`,
`$.current.filesKey`, `$.current.incremental`, `$.run.maxConcurrency`, `$.step.next`, the child's `$.status`
and `$.done`. Renaming a key here means changing the ASL with it.

How they flow: the parent's input (`ExecutionInput`) goes to the plan step as `PlanEvent`; the plan returns the
`Run` and its first export (`current`, an `ExportEntry`); the Map gives each child a `ChunkState` per
`FileEntry` of the export's file list; each chunk returns the next `ChunkState`; the summary step returns a
`Summary` (next export, or the end of the run). The sync state machine: its input (`SyncInput`) goes to its plan step
as `SyncPlanEvent`; the plan returns a `SyncPlan` (`$.plan`), whose export request the SDK tasks send and whose
`restore` is the nested parent's input; the record step takes a `SyncRecordEvent` and returns a `SyncOutcome`.
tests/unit/test_state_keys.py checks the ASL's paths against these keys at run time, so this module evaluates its
annotations (no `from __future__ import annotations`, with which `NotRequired` cannot be seen at run time).
"""

from typing import NotRequired, TypedDict

from ..transform.builtins import TransformSpec

__all__ = [
    "ExecutionInput",
    "PlanEvent",
    "PlanResult",
    "Run",
    "RunTransform",
    "ExportEntry",
    "FileEntry",
    "ExportStep",
    "RunStep",
    "WarmResult",
    "SupersededResult",
    "ChunkState",
    "Summary",
    "VerifyStep",
    "VerifyPlan",
    "VerifyItem",
    "VerifyChunkState",
    "VerifySummary",
    "SyncInput",
    "SyncPlanEvent",
    "SyncExport",
    "SyncRestore",
    "SyncPlan",
    "SyncRecordEvent",
    "SyncOutcome",
]


class ExecutionInput(TypedDict, total=False):
    """The parent execution's input, as a user (console, CLI `start`, EventBridge) gives it; checked by the plan."""

    manifestKey: str
    manifestKeys: list[str]
    bucket: str
    table: str
    maxWcu: float
    maxConcurrency: int
    maxRejects: int
    allowGaps: bool
    fromIncremental: bool
    verify: bool  # after the last export, read the table back and compare (verify.json)
    maxRcu: float  # the verify's read units per second, all items together
    transform: TransformSpec  # the built-ins: {"drop": [...], "mask": [...], "rename": {OLD: NEW}}
    transformKey: str  # a transform file's key in the export bucket (under the stack's ExportPrefix)
    prewarm: bool  # raise an on-demand table's warm throughput to the planned rate before the first write
    reorderWindow: int  # records of a file written in a spread order (restore/chunk.py); 0: file order


class PlanEvent(ExecutionInput, total=False):
    """The plan step's event: the input, and the execution's name, which names the run."""

    executionName: str


class ExportEntry(TypedDict):
    """One export of the run, in the order they are applied (`$.current` in the parent)."""

    index: int
    prefix: str
    exportId: str
    incremental: bool
    format: str  # DYNAMODB_JSON or ION
    filesKey: str  # the file list in the run bucket: the Map's ItemReader reads it
    supersededKey: str | None  # the latest-record-wins table in the run bucket, when the export needs one
    files: int
    items: int


class RunTransform(TypedDict):
    """The run's transform, checked by the plan: what each writer builds its pipeline from (transform/)."""

    builtins: TransformSpec
    fileKey: str | None
    fileETag: str | None  # the version the plan checked: the writers read that one
    keyTypes: dict[str, str]  # the table's key attribute types, which results are checked against


class Run(TypedDict):
    """What every step of one run is told (`$.run`), fixed by the plan."""

    runId: str
    runBucket: str
    exportBucket: str
    table: str
    tableIdentity: str
    keyNames: list[str]
    maxWcu: float | None
    fileWcu: float | None  # each child's share of maxWcu
    fileRate: NotRequired[float]  # each child's share of the planned rate: its writer's rate grows toward it
    maxConcurrency: int  # files the Distributed Map runs at once: the input's, or the plan's choice
    prewarmWcu: int | None  # the warm throughput to reach before writing (None: no pre-warm)
    prewarmPollSeconds: int  # the parent's wait between two looks at a pre-warm under way
    maxRejects: int
    startedAt: float  # epoch seconds
    exportCount: int
    exports: list[ExportEntry]
    verify: NotRequired[bool]
    maxRcu: NotRequired[float | None]
    transform: NotRequired[RunTransform | None]
    reorderWindow: NotRequired[int]  # the input's, or the stack's REORDER_WINDOW (0: file order)


class PlanResult(TypedDict):
    run: Run
    current: ExportEntry
    plan: list[str]  # the plan's lines, logged (the ASL keeps only run and current)


class ExportStep(TypedDict):
    """The event of the steps that work on the current export: supersede and summarize."""

    run: Run
    current: ExportEntry


class RunStep(TypedDict):
    """The event of a step that needs only the run: the pre-warm."""

    run: Run


class WarmResult(TypedDict):
    """The pre-warm step's result (`$.warm` in the parent): the parent waits and looks again until ready."""

    ready: bool
    status: str


class SupersededResult(TypedDict):
    current: ExportEntry  # with supersededKey set
    keys: int


class FileEntry(TypedDict):
    """One line of an export's file list in the run bucket: one item of the Distributed Map."""

    name: str
    itemCount: int
    md5: str


class ChunkState(TypedDict):
    """The child execution's state: the Map's item (run, export, file, cursor 0), then each chunk's result."""

    run: Run
    export: ExportEntry
    file: FileEntry
    cursor: int  # lines of the file applied or rejected so far
    counts: NotRequired[dict[str, int]]  # the file's WriteCounts so far
    chunkCounts: NotRequired[dict[str, int]]  # this chunk's alone (the handler's metrics)
    done: NotRequired[bool]
    status: NotRequired[str]  # running, done or failed: the child's Choice reads it
    error: NotRequired[str | None]
    rate: NotRequired[float]  # write units per second the file's writer reached (rate.py): the next chunk's start
    stalls: NotRequired[int]  # chunks in a row that gave up without moving the cursor
    alreadyDone: NotRequired[bool]  # applied to this table by an earlier run: skipped


class Summary(TypedDict):
    """The summary step's result (`$.step` in the parent)."""

    next: bool
    current: ExportEntry
    status: str
    report: str | None  # the report's s3:// URL, at the end of the run
    summary: str | None


class VerifyPlan(TypedDict):
    """What the verify's plan step returns (`$.verify`): where its items and the final state are."""

    itemsKey: str  # the Map's items in the run bucket: one per data file with records, one per Scan segment
    finalKey: str  # the final state of the series' changed keys (verify/expected.py's bytes)
    items: int
    itemRcu: float | None  # each item's share of maxRcu
    startedAt: float


class VerifyStep(TypedDict):
    """The event of the verify steps of the parent: the run, and the verify's plan once made."""

    run: Run
    verify: NotRequired[VerifyPlan]


class VerifyItem(TypedDict):
    """One item of the verify Map: a data file to read back, or a segment of the table to count."""

    index: int
    kind: str  # "file" or "segment"
    export: NotRequired[int]  # file: the export's index in the run
    seriesFile: NotRequired[int]  # file: its index among every file of the series
    name: NotRequired[str]
    itemCount: NotRequired[int]
    md5: NotRequired[str]
    segment: NotRequired[int]  # segment: which, of how many
    segments: NotRequired[int]


class VerifyChunkState(TypedDict):
    """A verify item's state between Lambda calls: the Map's item (run, verify, item, cursor 0), then each call's."""

    run: Run
    verify: VerifyPlan
    item: VerifyItem
    cursor: int  # file: lines read so far
    startKey: NotRequired[dict | None]  # segment: the Scan's key to go on from
    done: NotRequired[bool]
    status: NotRequired[str]  # running, done or failed
    error: NotRequired[str | None]
    stalls: NotRequired[int]


class VerifySummary(TypedDict):
    """The verify's summary (`$.verified`): equal, different or incomplete, and where verify.json is."""

    status: str
    report: str
    summary: str
    cause: str | None  # for the VerifyFailed state: the one line and where the report is


class SyncInput(TypedDict, total=False):
    """The sync execution's input (CLI `sync --stack-name`, the schedule: `{}`)."""

    table: str  # the target (default: the stack's TargetTable)
    verify: bool  # the nested restore verifies the table against the export


class SyncPlanEvent(TypedDict):
    input: SyncInput
    executionName: str  # names the lease's holder


class SyncExport(TypedDict):
    type: str  # FULL_EXPORT or INCREMENTAL_EXPORT: which of the two export Tasks sends `request`
    request: dict  # ExportTableToPointInTime's parameters, times as ISO text (the SDK integration's form)


class SyncRestore(TypedDict):
    """The nested parent execution's input, less the manifest key DescribeExport gives."""

    bucket: str
    table: str
    fromIncremental: bool
    verify: bool


class SyncPlan(TypedDict):
    """The sync plan step's result (`$.plan`): nothing due (`due` false, the lease given back) or the export to make."""

    due: bool
    message: str  # one line: what was decided
    table: str
    stateKey: str
    holder: str  # the lease's holder: the execution's name
    watermark: str | None
    dueAt: str | None  # when nothing is due: the time the next window can be exported
    sourceRoleArn: str | None  # the Tasks' Credentials role, when the source is another account's
    pollSeconds: int  # the Wait between two DescribeExport calls
    export: SyncExport | None
    restore: SyncRestore | None


class SyncRecordEvent(TypedDict):
    """The record step's event: the plan, how the export and the restore ended, and what they gave."""

    plan: SyncPlan
    outcome: str  # applied, export failed, refused, interrupted
    export: NotRequired[dict]  # DescribeExport's ExportDescription
    restore: NotRequired[dict]  # the nested execution: executionArn, output (the parent's)
    error: NotRequired[dict]  # a caught error: Error, Cause


class SyncOutcome(TypedDict):
    """The record step's result, and the sync execution's output when it applied an export."""

    status: str  # applied or failed
    message: str  # one line, for the CLI and the Fail state's cause
    table: str
    watermarkBefore: str | None
    watermarkAfter: str | None
    exportArn: str | None
    itemsPut: int
    itemsDeleted: int
    verify: str | None  # with "verify": the nested restore's verify line (the parent's verifySummary)
