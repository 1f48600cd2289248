"""Least privilege, checked: every IAM statement of template.yaml names only the stack's own resources.

The template is read as SAM source (short-form tags decoded by cfn-lint), and every statement any function or
state machine gets is walked: inline `Policies` statements (inside `!If` branches too, with the condition they
hang under), the SAM policy templates, and any `AWS::IAM::*` resource or `Role` a future change might add.
A statement passes only when each action is named without wildcards and each resource is one of the shapes
below, with the actions that fit it; the checker collects every violation, each naming the resource, the
statement (owner and Sid) and the action, so a wider statement added later fails here with a message that
says what to narrow.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from support.template import load_template

FUNCTION = "AWS::Serverless::Function"
STATE_MACHINE = "AWS::Serverless::StateMachine"
POLICY_OWNERS = (FUNCTION, STATE_MACHINE)
WRITER = "WriteChunkFunction"
VERIFIER = "VerifyFunction"

_ARN = "arn:${AWS::Partition}"
_REGIONAL = "${AWS::Region}:${AWS::AccountId}"
EXPORT_BUCKET = f"{_ARN}:s3:::${{ExportBucketName}}"
EXPORT_OBJECTS = f"{_ARN}:s3:::${{ExportBucketName}}/${{ExportPrefix}}*"
TARGET_TABLE = f"{_ARN}:dynamodb:{_REGIONAL}:table/${{TargetTable}}"
# Sync (SourceTableArn): its state object and the exports it asks for, under the prefix of the export bucket.
SYNC_STATE = f"{_ARN}:s3:::${{ExportBucketName}}/${{ExportPrefix}}ddb-restore/sync/${{TargetTable}}.json"
SYNC_EXPORTS = f"{_ARN}:s3:::${{ExportBucketName}}/${{ExportPrefix}}AWSDynamoDB/*"
SYNC_STEPS = ("SyncPlanFunction", "SyncRecordFunction")
SYNC_MACHINE = "SyncStateMachine"


# --------------------------------------------------------------------------------------------------------------
# Walking the template: every statement, with the conditions it is granted under


@dataclass(frozen=True)
class Grant:
    """One statement (inline, or expanded from a SAM policy template) that some principal of the stack gets."""

    owner: str  # logical id of the function, state machine or IAM resource
    sid: str  # the statement's Sid, or where it sits when it has none
    effect: str
    actions: tuple[Any, ...]  # as written (strings, or whatever a broken statement holds)
    resources: tuple[tuple[Any, frozenset[str]], ...]  # (resource as written, extra conditions from !If)
    conditions: frozenset[str]  # conditions the statement hangs under ("!C" for an !If's false branch)
    statement: dict[str, Any]  # the statement as written (empty for a SAM policy template)
    template_name: str | None = None  # the SAM policy template it came from

    @property
    def where(self) -> str:
        return f"{self.owner} statement {self.sid!r}"


def _if_branches(value: Any, conditions: frozenset[str]) -> Iterator[tuple[Any, frozenset[str]]]:
    """Unfold `Fn::If` (nested too) and drop `AWS::NoValue`: each plain value with the conditions it needs."""
    if isinstance(value, dict) and set(value) == {"Fn::If"}:
        args = value["Fn::If"]
        if isinstance(args, list) and len(args) == 3 and isinstance(args[0], str):
            yield from _if_branches(args[1], conditions | {args[0]})
            yield from _if_branches(args[2], conditions | {f"!{args[0]}"})
            return
    if isinstance(value, dict) and value == {"Ref": "AWS::NoValue"}:
        return
    yield value, conditions


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# SAM policy templates this checker understands: the parameter that names the resource, what that parameter must
# be (a resource of the template of the given type), and the statement SAM expands it to.
SAM_TEMPLATES: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    # name: (parameter, Ref or GetAtt attribute, resource type, actions)
    "LambdaInvokePolicy": ("FunctionName", "Ref", FUNCTION, ("lambda:InvokeFunction",)),
    "StepFunctionsExecutionPolicy": ("StateMachineName", "Name", STATE_MACHINE, ("states:StartExecution",)),
}


class Walk:
    """All grants of a template, plus the problems found while walking (shapes this checker cannot vouch for)."""

    def __init__(self, template: dict[str, Any]) -> None:
        self.template = template
        self.resources: dict[str, Any] = template.get("Resources") or {}
        self.grants: list[Grant] = []
        self.problems: list[str] = []
        self._walk()

    def type_of(self, logical_id: Any) -> str | None:
        resource = self.resources.get(logical_id) if isinstance(logical_id, str) else None
        return resource.get("Type") if isinstance(resource, dict) else None

    def _walk(self) -> None:
        globals_function = (self.template.get("Globals") or {}).get("Function") or {}
        for key in ("Policies", "Role"):
            if key in globals_function:
                self.problems.append(f"Globals.Function.{key}: give each function its own, so this test can check it")
        for logical_id, resource in self.resources.items():
            if not isinstance(resource, dict):
                continue
            kind = resource.get("Type")
            props = resource.get("Properties") or {}
            base = frozenset({resource["Condition"]}) if isinstance(resource.get("Condition"), str) else frozenset()
            if kind in POLICY_OWNERS:
                if "Role" in props:
                    self._role_reference(logical_id, props["Role"])
                if "Policies" in props:
                    self._sam_policies(logical_id, props["Policies"], base)
            elif kind == "AWS::IAM::Role":
                if props.get("ManagedPolicyArns"):
                    self.problems.append(f"{logical_id}: ManagedPolicyArns cannot be checked: write the statements")
                for n, policy in enumerate(_as_list(props.get("Policies") or [])):
                    for plain, conditions in _if_branches(policy, base):
                        document = plain.get("PolicyDocument") if isinstance(plain, dict) else None
                        self._document(logical_id, document, conditions, f"Policies[{n}]")
            elif kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy"):
                self._document(logical_id, props.get("PolicyDocument"), base, "PolicyDocument")
            elif isinstance(kind, str) and kind.startswith("AWS::IAM::") and kind != "AWS::IAM::InstanceProfile":
                self.problems.append(f"{logical_id}: {kind} is not checked by this test")

    def _role_reference(self, owner: str, role: Any) -> None:
        target = None
        if isinstance(role, dict) and set(role) == {"Fn::GetAtt"}:
            attr = role["Fn::GetAtt"]
            parts = attr if isinstance(attr, list) else str(attr).split(".", 1)
            target = parts[0] if len(parts) == 2 and parts[1] == "Arn" else None
        if self.type_of(target) != "AWS::IAM::Role":
            self.problems.append(f"{owner}: Role {role!r} is not a role of this template, so it cannot be checked")

    def _sam_policies(self, owner: str, policies: Any, base: frozenset[str]) -> None:
        for n, entry in enumerate(_as_list(policies)):
            for plain, conditions in _if_branches(entry, base):
                where = f"{owner} Policies[{n}]"
                if isinstance(plain, str):
                    self.problems.append(f"{where}: managed policy {plain!r} cannot be checked: write the statements")
                elif isinstance(plain, dict) and "Statement" in plain:
                    self._document(owner, plain, conditions, f"Policies[{n}]")
                elif isinstance(plain, dict) and len(plain) == 1:
                    ((name, params),) = plain.items()
                    self._sam_template(owner, where, name, params, conditions)
                else:
                    self.problems.append(f"{where}: {plain!r} is not a policy this test understands")

    def _sam_template(self, owner: str, where: str, name: str, params: Any, conditions: frozenset[str]) -> None:
        if name not in SAM_TEMPLATES:
            self.problems.append(
                f"{where}: SAM policy template {name} is not checked by this test: write its statement inline"
            )
            return
        parameter, attribute, kind, actions = SAM_TEMPLATES[name]
        value = params.get(parameter) if isinstance(params, dict) else None
        target = None
        if attribute == "Ref" and isinstance(value, dict) and set(value) == {"Ref"}:
            target = value["Ref"]
        elif isinstance(value, dict) and set(value) == {"Fn::GetAtt"}:
            attr = value["Fn::GetAtt"]
            parts = attr if isinstance(attr, list) else str(attr).split(".", 1)
            target = parts[0] if len(parts) == 2 and parts[1] == attribute else None
        if self.type_of(target) != kind:
            self.problems.append(
                f"{where}: {name} {parameter} {value!r} does not name a {kind} of this template "
                f"(a literal name would grant {', '.join(actions)} on every {kind} whose name starts with it)"
            )
            return
        resource = f"{kind} {target}"
        self.grants.append(
            Grant(owner, name, "Allow", actions, ((resource, frozenset()),), conditions, {}, template_name=name)
        )

    def _document(self, owner: str, document: Any, conditions: frozenset[str], where: str) -> None:
        statements = document.get("Statement") if isinstance(document, dict) else None
        if statements is None:
            self.problems.append(f"{owner} {where}: no Statement in {document!r}")
            return
        n = 0
        for entry in _as_list(statements):
            for statement, statement_conditions in _if_branches(entry, conditions):
                n += 1
                if not isinstance(statement, dict):
                    self.problems.append(f"{owner} {where}: statement {statement!r} is not an object")
                    continue
                sid = statement.get("Sid") or f"{where}.Statement[{n - 1}] (no Sid)"
                actions = tuple(_as_list(statement.get("Action", [])))
                resources = tuple(
                    (plain, extra - statement_conditions)
                    for resource in _as_list(statement.get("Resource", []))
                    for plain, extra in _if_branches(resource, statement_conditions)
                )
                effect = statement.get("Effect", "Allow")
                self.grants.append(
                    Grant(owner, str(sid), str(effect), actions, resources, statement_conditions, statement)
                )


# --------------------------------------------------------------------------------------------------------------
# What a resource may be, and which actions fit it


def canonical(resource: Any) -> str | None:
    """A resource as one `${...}` string (`!GetAtt A.B` → `${A.B}`, `!Ref X` → `${X}`), or None when its shape
    is not one a reviewer can read as a single ARN (Join, Select, ImportValue...)."""
    if isinstance(resource, str):
        return resource
    if not isinstance(resource, dict) or len(resource) != 1:
        return None
    ((fn, arg),) = resource.items()
    if fn == "Ref" and isinstance(arg, str):
        return f"${{{arg}}}"
    if fn == "Fn::GetAtt":
        parts = arg if isinstance(arg, list) else str(arg).split(".", 1)
        if len(parts) == 2 and all(isinstance(p, str) for p in parts):
            return f"${{{parts[0]}.{parts[1]}}}"
        return None
    if fn == "Fn::Sub":
        if isinstance(arg, str):
            return arg
        if isinstance(arg, list) and len(arg) == 2 and isinstance(arg[0], str) and isinstance(arg[1], dict):
            text = arg[0]
            for name, value in arg[1].items():
                inner = canonical(value) if isinstance(value, dict) and set(value) <= {"Ref", "Fn::GetAtt"} else None
                if inner is None:
                    return None
                text = text.replace(f"${{{name}}}", inner)
            return text
    return None


@dataclass(frozen=True)
class Shape:
    """A resource shape the stack may be granted, the actions that fit it, and the condition it needs."""

    name: str
    pattern: re.Pattern[str]
    action_ok: Callable[[str], bool]
    actions_meaning: str
    condition: str | None = None


def _exact(text: str) -> re.Pattern[str]:
    return re.compile(re.escape(text))


def _service(service: str) -> Callable[[str], bool]:
    return lambda action: action.startswith(f"{service}:")


def _only(*names: str) -> Callable[[str], bool]:
    return lambda action: action.lower() in {n.lower() for n in names}


def _s3_read(action: str) -> bool:
    return action.lower().startswith(("s3:get", "s3:list"))


_RUN_BUCKET = r"(?:\$\{RunBucket\.Arn\}|arn:\$\{AWS::Partition\}:s3:::\$\{RunBucket\})"
_STATES = re.escape(f"{_ARN}:states:{_REGIONAL}:")
_OWN_NAMES = r"\$\{AWS::StackName\}-(?:file|restore|sync)"

SHAPES = (
    Shape("the export bucket", _exact(EXPORT_BUCKET), _s3_read, "s3 reads (Get*, List*)"),
    Shape("the export prefix", _exact(EXPORT_OBJECTS), _s3_read, "s3 reads (Get*, List*)"),
    Shape("the run bucket", re.compile(_RUN_BUCKET), _service("s3"), "s3 actions"),
    Shape(
        "a prefix of the run bucket",
        re.compile(_RUN_BUCKET + r"/(?:[A-Za-z0-9_.=-]+/)+\*"),
        _service("s3"),
        "s3 actions",
    ),
    Shape("the target table", _exact(TARGET_TABLE), _service("dynamodb"), "dynamodb actions"),
    Shape(
        "the target table's indexes",
        re.compile(re.escape(TARGET_TABLE) + r"/index/\*"),
        _service("dynamodb"),
        "dynamodb actions",
    ),
    Shape("the export's KMS key", _exact("${ExportKmsKeyArn}"), _only("kms:Decrypt"), "kms:Decrypt", "HasKmsKey"),
    Shape("the writer role", _exact("${WriterRoleArn}"), _only("sts:AssumeRole"), "sts:AssumeRole", "HasWriterRole"),
    Shape(
        "the stack's state machines",
        re.compile(_STATES + r"stateMachine:" + _OWN_NAMES),
        _service("states"),
        "states actions",
    ),
    Shape(
        "the executions of the stack's state machines",
        re.compile(_STATES + r"execution:" + _OWN_NAMES + r"[:/]\*"),
        _service("states"),
        "states actions",
    ),
    Shape(
        "Step Functions' rule for synchronous executions",
        _exact(f"{_ARN}:events:{_REGIONAL}:rule/StepFunctionsGetEventsForStepFunctionsExecutionRule"),
        _service("events"),
        "events actions",
    ),
    Shape("the notification topic", _exact("${NotificationTopic}"), _only("sns:Publish"), "sns:Publish", "HasEmail"),
    Shape(
        "the sync state object",
        _exact(SYNC_STATE),
        _only("s3:GetObject", "s3:PutObject"),
        "s3:GetObject, s3:PutObject",
        "HasSync",
    ),
    Shape(
        "the exports sync asks for",
        _exact(SYNC_EXPORTS),
        _only("s3:PutObject", "s3:AbortMultipartUpload", "s3:PutObjectAcl"),
        "what DynamoDB writes an export with (s3:PutObject, s3:AbortMultipartUpload, s3:PutObjectAcl)",
        "HasSync",
    ),
    Shape(
        "the sync's source table",
        _exact("${SourceTableArn}"),
        _only("dynamodb:ExportTableToPointInTime", "dynamodb:DescribeContinuousBackups"),
        "dynamodb:ExportTableToPointInTime, dynamodb:DescribeContinuousBackups",
        "HasSync",
    ),
    Shape(
        "the source table's exports",
        _exact("${SourceTableArn}/export/*"),
        _only("dynamodb:DescribeExport"),
        "dynamodb:DescribeExport",
        "HasSync",
    ),
    Shape("the source role", _exact("${SourceRoleArn}"), _only("sts:AssumeRole"), "sts:AssumeRole", "HasSourceRole"),
)

_WILDCARD = re.compile(r"[*?]")
_ACTION = re.compile(r"[a-z0-9-]+:[A-Za-z0-9]+")


def _own_resource_shape(walk: Walk, text: str) -> Shape | None:
    """`${X.Arn}` of a function or state machine of this template (an inline invoke or start statement)."""
    match = re.fullmatch(r"\$\{(\w+)(\.Arn)?\}", text)
    if not match:
        return None
    kind = walk.type_of(match.group(1))
    if kind == FUNCTION and match.group(2):
        return Shape("a function of this stack", _exact(text), _only("lambda:InvokeFunction"), "lambda:InvokeFunction")
    if kind == STATE_MACHINE and not match.group(2):  # !Ref of a state machine is its ARN
        return Shape("a state machine of this stack", _exact(text), _service("states"), "states actions")
    return None


def _shape_of(walk: Walk, text: str) -> Shape | None:
    own = _own_resource_shape(walk, text)
    if own is not None:
        return own
    return next((shape for shape in SHAPES if shape.pattern.fullmatch(text)), None)


def violations(template: dict[str, Any]) -> list[str]:
    """Every way the template's IAM statements are wider than the stack's own resources, one line each."""
    walk = Walk(template)
    found = list(walk.problems)
    for grant in walk.grants:
        statement = grant.statement
        for key in ("NotAction", "NotResource", "NotPrincipal"):
            if key in statement:
                found.append(f"{grant.where}: uses {key} {statement[key]!r}: name the actions and resources it grants")
        if grant.effect == "Deny":
            continue  # a Deny only narrows; its wildcards take nothing away from the checks above
        if grant.effect != "Allow":
            found.append(f"{grant.where}: Effect {grant.effect!r} is neither Allow nor Deny")
        if grant.template_name:
            continue  # its resource was checked against the template while walking
        if not grant.actions:
            found.append(f"{grant.where}: no Action")
        if not grant.resources:
            found.append(f"{grant.where}: no Resource (actions {list(grant.actions)})")
        for action in grant.actions:
            if not isinstance(action, str) or _WILDCARD.search(action) or not _ACTION.fullmatch(action):
                names = [canonical(r) or repr(r) for r, _ in grant.resources]
                found.append(
                    f"{grant.where}: action {action!r} on {names}: "
                    "not one named action (no '*' or '?', no intrinsic functions)"
                )
        for resource, extra in grant.resources:
            text = canonical(resource)
            conditions = grant.conditions | extra
            for action in grant.actions:
                if not isinstance(action, str):
                    continue
                if text is None:
                    found.append(
                        f"{grant.where}: action {action} on resource {resource!r}: "
                        "not a single ARN this test can read (Fn::Sub, Ref or GetAtt)"
                    )
                    continue
                if text == "*":
                    found.append(f"{grant.where}: action {action} on resource '*': every resource of the account")
                    continue
                shape = _shape_of(walk, text)
                if shape is None:
                    found.append(
                        f"{grant.where}: action {action} on resource {text!r}: wider than, or other than, "
                        "the stack's own resources (export bucket and prefix, run bucket, target table, "
                        "KMS key, writer role, its state machines, topic)"
                    )
                elif not shape.action_ok(action):
                    found.append(
                        f"{grant.where}: action {action} on resource {text!r} ({shape.name}): "
                        f"only {shape.actions_meaning} fit it"
                    )
                elif shape.condition and shape.condition not in conditions:
                    found.append(
                        f"{grant.where}: action {action} on resource {text!r} ({shape.name}): "
                        f"granted without the {shape.condition} condition"
                    )
    return found


def plain_grants(template: dict[str, Any]) -> list[tuple[Grant, str, str]]:
    """(grant, action, resource as one string) for every Allow pair of an action and a resource."""
    return [
        (grant, action, canonical(resource) or repr(resource))
        for grant in Walk(template).grants
        if grant.effect == "Allow"
        for action in grant.actions
        if isinstance(action, str)
        for resource, _ in grant.resources
    ]


# --------------------------------------------------------------------------------------------------------------
# The template as it is


def test_every_statement_grants_named_actions_on_the_stacks_own_resources_only() -> None:
    found = violations(load_template())
    assert not found, "IAM statements wider than least privilege:\n" + "\n".join(found)


def test_the_check_walked_the_statements_of_every_function_and_state_machine() -> None:
    template = load_template()
    walk = Walk(template)
    kinds = (*POLICY_OWNERS, "AWS::IAM::Role")
    owners = {name for name, r in template["Resources"].items() if r.get("Type") in kinds}
    assert len(walk.grants) >= 20, f"only {len(walk.grants)} statements found: is the walk still reaching them?"
    assert owners == {grant.owner for grant in walk.grants}
    assert {"PlanFunction", WRITER, "SummarizeFunction", "ChildStateMachine", "ParentStateMachine"} <= owners
    assert {*SYNC_STEPS, SYNC_MACHINE, "ScheduledSyncRole"} <= owners
    conditional = {grant.sid for grant in walk.grants if grant.conditions}
    assert {"DecryptExports", "AssumeWriterRole", "Notify"} <= conditional, "the !If branches were not walked"
    assert {"AssumeSourceRole", "ExportSource", "SyncState", "StartSync"} <= conditional
    assert {grant.template_name for grant in walk.grants} >= {"LambdaInvokePolicy"}
    pairs = plain_grants(template)
    assert len(pairs) >= 30


def test_the_writer_can_batch_write_only_the_target_table() -> None:
    pairs = [(g, a, r) for g, a, r in plain_grants(load_template()) if g.owner == WRITER]
    batch_writes = [r for g, a, r in pairs if a.lower() == "dynamodb:batchwriteitem"]
    assert batch_writes == [TARGET_TABLE]
    table_writes = {
        "dynamodb:batchwriteitem",
        "dynamodb:putitem",
        "dynamodb:updateitem",
        "dynamodb:deleteitem",
        "dynamodb:partiqlinsert",
        "dynamodb:partiqlupdate",
        "dynamodb:partiqldelete",
        "dynamodb:executestatement",
        "dynamodb:batchexecutestatement",
        "dynamodb:transactwriteitems",
    }
    elsewhere = [(g.sid, a, r) for g, a, r in pairs if a.lower() in table_writes and r != TARGET_TABLE]
    assert not elsewhere, f"the writer can write other tables: {elsewhere}"


def test_only_the_verify_function_reads_items_and_only_from_the_target_table() -> None:
    reads = {"dynamodb:batchgetitem", "dynamodb:scan", "dynamodb:getitem", "dynamodb:query"}
    granted = sorted((g.owner, a, r) for g, a, r in plain_grants(load_template()) if a.lower() in reads)
    assert granted == [(VERIFIER, "dynamodb:BatchGetItem", TARGET_TABLE), (VERIFIER, "dynamodb:Scan", TARGET_TABLE)]


def test_the_verify_function_cannot_write_the_table() -> None:
    actions = {a.lower() for g, a, _ in plain_grants(load_template()) if g.owner == VERIFIER}
    assert "dynamodb:batchgetitem" in actions, "the verify function no longer reads the table: did it move?"
    assert not {a for a in actions if a.startswith("dynamodb:")} - {"dynamodb:batchgetitem", "dynamodb:scan"}


def test_only_the_prewarm_function_can_update_the_table_and_only_the_target() -> None:
    updates = [(g.owner, r) for g, a, r in plain_grants(load_template()) if a.lower() == "dynamodb:updatetable"]
    assert updates == [("PrewarmFunction", TARGET_TABLE)]


def test_the_writer_cannot_put_objects_into_the_export_bucket() -> None:
    pairs = [(g, a, r) for g, a, r in plain_grants(load_template()) if g.owner == WRITER]
    export = [(g.sid, a, r) for g, a, r in pairs if r in (EXPORT_BUCKET, EXPORT_OBJECTS)]
    assert export, "the writer no longer reads the export bucket: did its statements move?"
    assert not [x for x in export if x[1].lower() == "s3:putobject"], export


def _sync_write(grant: Grant, resource: str) -> bool:
    """The only writes into the export bucket: the sync steps' state object, the sync's exports (DynamoDB writes
    them with the state machine's permissions), each only under HasSync."""
    if "HasSync" not in grant.conditions:
        return False
    return (grant.owner in SYNC_STEPS and resource == SYNC_STATE) or (
        grant.owner == SYNC_MACHINE and resource == SYNC_EXPORTS
    )


def test_no_function_can_write_to_the_export_bucket() -> None:
    pairs = plain_grants(load_template())
    on_export = [(g, a, r) for g, a, r in pairs if "${ExportBucketName}" in r]
    assert on_export, "no statement names the export bucket: did its statements move?"
    writes = [f"{g.where}: {a} on {r}" for g, a, r in on_export if not _s3_read(a) and not _sync_write(g, r)]
    assert not writes, "the export bucket can be written or changed:\n" + "\n".join(writes)
    assert {g.owner for g, _, _ in on_export} <= {
        "PlanFunction",
        "SupersedeFunction",
        WRITER,
        "VerifyPlanFunction",
        VERIFIER,
        *SYNC_STEPS,
        SYNC_MACHINE,
    }


def test_sync_writes_only_its_state_object_and_the_exports_it_asks_for() -> None:
    pairs = plain_grants(load_template())
    writes = sorted((g.owner, a, r) for g, a, r in pairs if "${ExportBucketName}" in r and not _s3_read(a))
    assert writes == [
        ("SyncPlanFunction", "s3:PutObject", SYNC_STATE),
        ("SyncRecordFunction", "s3:PutObject", SYNC_STATE),
        (SYNC_MACHINE, "s3:AbortMultipartUpload", SYNC_EXPORTS),
        (SYNC_MACHINE, "s3:PutObject", SYNC_EXPORTS),
        (SYNC_MACHINE, "s3:PutObjectAcl", SYNC_EXPORTS),
    ]


def test_only_the_sync_touches_the_source_table_and_only_to_export_it() -> None:
    grants = [(g, a, r) for g, a, r in plain_grants(load_template()) if "${SourceTableArn}" in r]
    assert sorted((g.owner, a, r) for g, a, r in grants) == [
        ("SyncPlanFunction", "dynamodb:DescribeContinuousBackups", "${SourceTableArn}"),
        (SYNC_MACHINE, "dynamodb:DescribeExport", "${SourceTableArn}/export/*"),
        (SYNC_MACHINE, "dynamodb:ExportTableToPointInTime", "${SourceTableArn}"),
    ]
    # With a source role these calls are the role's, in the source's account: the stack's own grants fall away.
    assert all({"HasSync", "!HasSourceRole"} <= g.conditions for g, _, _ in grants)
    assumes = sorted(
        (g.owner, sorted(g.conditions)) for g, a, r in plain_grants(load_template()) if r == "${SourceRoleArn}"
    )
    assert assumes == [("SyncPlanFunction", ["HasSourceRole", "HasSync"]), (SYNC_MACHINE, ["HasSourceRole", "HasSync"])]


def test_the_sync_starts_only_the_parent_and_the_schedule_only_the_sync() -> None:
    pairs = plain_grants(load_template())
    starts = sorted(
        (g.owner, r) for g, a, r in pairs if a == "states:StartExecution" and g.owner != "ParentStateMachine"
    )
    assert starts == [("ScheduledSyncRole", "${SyncStateMachine}"), (SYNC_MACHINE, "${ParentStateMachine}")]


def test_kms_decrypt_is_granted_only_under_HasKmsKey() -> None:
    grants = [g for g in Walk(load_template()).grants if g.effect == "Allow"]
    decrypts = [g for g in grants if any(isinstance(a, str) and a.lower().startswith("kms:") for a in g.actions)]
    assert decrypts, "no kms:Decrypt statement found: did the SSE-KMS grant move?"
    for grant in decrypts:
        assert [a.lower() for a in grant.actions] == ["kms:decrypt"], grant.where
        assert "HasKmsKey" in grant.conditions, f"{grant.where}: kms:Decrypt without HasKmsKey"
        assert [canonical(r) for r, _ in grant.resources] == ["${ExportKmsKeyArn}"], grant.where


def test_sam_policy_templates_name_functions_of_this_template() -> None:
    template = load_template()
    walk = Walk(template)
    invokes = [g for g in walk.grants if g.template_name == "LambdaInvokePolicy"]
    assert {r for g in invokes for r, _ in g.resources} == {
        f"{FUNCTION} WriteChunkFunction",
        f"{FUNCTION} PlanFunction",
        f"{FUNCTION} PrewarmFunction",
        f"{FUNCTION} SupersedeFunction",
        f"{FUNCTION} SummarizeFunction",
        f"{FUNCTION} VerifyPlanFunction",
        f"{FUNCTION} VerifyFunction",
        f"{FUNCTION} VerifySummaryFunction",
        f"{FUNCTION} SyncPlanFunction",
        f"{FUNCTION} SyncRecordFunction",
    }
    assert not walk.problems, walk.problems


# --------------------------------------------------------------------------------------------------------------
# The checker itself: a wider statement added later must fail, and say where


def _with_statement(statement: dict[str, Any], owner: str = WRITER) -> list[str]:
    template = copy.deepcopy(load_template())
    template["Resources"][owner]["Properties"]["Policies"].append({"Statement": [statement]})
    return violations(template)


def _one(found: list[str], *fragments: str) -> None:
    matching = [line for line in found if all(fragment in line for fragment in fragments)]
    assert matching, f"no violation naming {fragments} in {found}"


def test_the_checker_refuses_wildcard_actions_and_resources_and_names_them() -> None:
    found = _with_statement({"Sid": "TooWide", "Effect": "Allow", "Action": "s3:*", "Resource": "*"})
    _one(found, "WriteChunkFunction", "'TooWide'", "s3:*")
    _one(found, "'TooWide'", "resource '*'")
    found = _with_statement({"Sid": "Star", "Effect": "Allow", "Action": ["*"], "Resource": {"Fn::Sub": EXPORT_BUCKET}})
    _one(found, "'Star'", "'*'", EXPORT_BUCKET)
    found = _with_statement(
        {"Sid": "Question", "Effect": "Allow", "Action": "s3:GetObjec?", "Resource": {"Fn::Sub": EXPORT_OBJECTS}}
    )
    _one(found, "'Question'", "s3:GetObjec?")


def test_the_checker_refuses_resources_wider_than_the_stacks_own() -> None:
    wider = {
        f"{_ARN}:s3:::${{ExportBucketName}}/*": "s3:GetObject",  # the whole bucket, not the prefix
        f"{_ARN}:s3:::another-bucket/*": "s3:GetObject",
        "arn:aws:s3:::${ExportBucketName}/${ExportPrefix}*": "s3:GetObject",  # a fixed partition: not our shape
        "${RunBucket.Arn}/*": "s3:PutObject",
        f"{_ARN}:dynamodb:{_REGIONAL}:table/*": "dynamodb:BatchWriteItem",
        f"{_ARN}:dynamodb:{_REGIONAL}:table/${{TargetTable}}*": "dynamodb:BatchWriteItem",
        f"{_ARN}:dynamodb:*:*:table/${{TargetTable}}": "dynamodb:BatchWriteItem",
        f"{_ARN}:states:{_REGIONAL}:stateMachine:*": "states:StartExecution",
        f"{_ARN}:states:{_REGIONAL}:execution:${{AWS::StackName}}-file*": "states:StopExecution",
        f"{_ARN}:kms:{_REGIONAL}:key/*": "kms:Decrypt",
        f"{_ARN}:lambda:{_REGIONAL}:function:*": "lambda:InvokeFunction",
    }
    for resource, action in wider.items():
        found = _with_statement(
            {"Sid": "Wider", "Effect": "Allow", "Action": action, "Resource": {"Fn::Sub": resource}}
        )
        _one(found, WRITER, "'Wider'", action, repr(resource))


def test_the_checker_refuses_actions_that_do_not_fit_the_resource() -> None:
    cases = [
        ("s3:PutObject", {"Fn::Sub": EXPORT_OBJECTS}, "the export prefix"),
        ("s3:DeleteObject", {"Fn::Sub": EXPORT_BUCKET}, "the export bucket"),
        ("dynamodb:BatchWriteItem", {"Fn::GetAtt": ["RunBucket", "Arn"]}, "the run bucket"),
        ("kms:Encrypt", {"Ref": "ExportKmsKeyArn"}, "KMS key"),
        ("sts:TagSession", {"Ref": "WriterRoleArn"}, "writer role"),
        ("sns:Subscribe", {"Ref": "NotificationTopic"}, "topic"),
    ]
    for action, resource, shape in cases:
        found = _with_statement({"Sid": "Misfit", "Effect": "Allow", "Action": action, "Resource": resource})
        _one(found, "'Misfit'", action, shape)


def test_the_checker_refuses_conditional_grants_made_unconditional() -> None:
    found = _with_statement(
        {"Sid": "Kms", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": {"Ref": "ExportKmsKeyArn"}}
    )
    _one(found, "'Kms'", "kms:Decrypt", "${ExportKmsKeyArn}", "HasKmsKey")
    found = _with_statement(
        {"Sid": "Assume", "Effect": "Allow", "Action": "sts:AssumeRole", "Resource": {"Ref": "WriterRoleArn"}}
    )
    _one(found, "'Assume'", "sts:AssumeRole", "HasWriterRole")
    # Under the wrong branch of its condition is no better.
    template = copy.deepcopy(load_template())
    template["Resources"][WRITER]["Properties"]["Policies"].append(
        {
            "Fn::If": [
                "HasKmsKey",
                {"Ref": "AWS::NoValue"},
                {
                    "Statement": [
                        {
                            "Sid": "Else",
                            "Effect": "Allow",
                            "Action": "kms:Decrypt",
                            "Resource": {"Ref": "ExportKmsKeyArn"},
                        }
                    ]
                },
            ]
        }
    )
    _one(violations(template), "'Else'", "HasKmsKey")


def test_the_checker_refuses_not_action_not_resource_and_unreadable_shapes() -> None:
    _one(
        _with_statement({"Sid": "Not", "Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}), "'Not'", "NotAction"
    )
    _one(
        _with_statement(
            {"Sid": "NotRes", "Effect": "Allow", "Action": "s3:GetObject", "NotResource": "arn:aws:s3:::x/*"}
        ),
        "'NotRes'",
        "NotResource",
    )
    joined = {"Fn::Join": ["", ["arn:aws:s3:::", {"Ref": "ExportBucketName"}, "/*"]]}
    _one(
        _with_statement({"Sid": "Joined", "Effect": "Allow", "Action": "s3:GetObject", "Resource": joined}),
        "'Joined'",
        "s3:GetObject",
        "Fn::Join",
    )
    inside_if = {"Fn::If": ["HasEmail", "*", {"Ref": "AWS::NoValue"}]}
    _one(
        _with_statement({"Sid": "IfStar", "Effect": "Allow", "Action": "s3:GetObject", "Resource": inside_if}),
        "'IfStar'",
        "resource '*'",
    )


def test_the_checker_refuses_unchecked_policies_and_roles() -> None:
    template = copy.deepcopy(load_template())
    policies = template["Resources"][WRITER]["Properties"]["Policies"]
    policies.append("AmazonDynamoDBFullAccess")
    policies.append({"DynamoDBCrudPolicy": {"TableName": {"Ref": "TargetTable"}}})
    policies.append({"LambdaInvokePolicy": {"FunctionName": "some-other-function"}})
    template["Resources"]["PlanFunction"]["Properties"]["Role"] = "arn:aws:iam::111122223333:role/Admin"
    template["Resources"]["ExtraPolicy"] = {
        "Type": "AWS::IAM::Policy",
        "Properties": {
            "PolicyName": "extra",
            "PolicyDocument": {
                "Statement": [{"Sid": "Extra", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]
            },
            "Roles": [{"Ref": "WriteChunkFunctionRole"}],
        },
    }
    found = violations(template)
    _one(found, "AmazonDynamoDBFullAccess")
    _one(found, "DynamoDBCrudPolicy")
    _one(found, "LambdaInvokePolicy", "some-other-function")
    _one(found, "PlanFunction", "Role")
    _one(found, "ExtraPolicy statement 'Extra'", "s3:GetObject", "resource '*'")
