"""Run the SAM application's state machines and Lambda handlers locally, inside moto (no Docker, no AWS).

Usual entry point::

    with local_aws() as aws:                       # mock_aws + executing state machines + every fix below
        deployed = deploy_template(REPO / "template.yaml", {"TargetTableName": "Orders"})
        sfn = boto3.client("stepfunctions")
        started = sfn.start_execution(stateMachineArn=deployed.state_machine_arns["Parent"], input="{}")
        result = wait_for_execution(sfn, started["executionArn"])   # output parsed
        aws.calls        # every in-process Lambda call (function, event, result or error)
        aws.retry_waits  # the ASL Retry waits asked for (not slept: retry_wait_scale=0)

The pieces, each a context manager usable alone:

* :func:`run_lambda_in_process` replaces moto's one Docker entry point,
  ``moto.awslambda.models.LambdaFunction._invoke_lambda(self, event) -> (payload_json, errored, logs)``:
  ``Handler="pkg.module.func"`` is imported (it must be importable: ``functions/`` is, through the editable
  install; tests add folders with ``monkeypatch.syspath_prepend``) and called with ``(event, context)``,
  with the function's ``Environment.Variables`` in ``os.environ`` for the call. Calls are serialised by one
  lock (Map iterations run in threads, ``os.environ`` is process-wide), and reading the whole environment
  (``copy()``, ``items()``...) is made atomic meanwhile (see :func:`_environ_snapshot`). An exception becomes
  Lambda's error
  payload ``{"errorMessage", "errorType": <class name>, "stackTrace"}``, so ASL ``Retry``/``Catch`` on the
  exception's class name work, as with the real Python runtime.
* moto 5.2.5's Step Functions interpreter, fixed where it differs from AWS (each function says why):
  :func:`fix_sfn_start_execution` (``states:startExecution[.sync[:2]]`` failed with ``States.Runtime``),
  :func:`fix_execution_names` (nameless executions were all called ``None``),
  :func:`fix_tolerated_failure_percentage` (an integer ``ToleratedFailurePercentage`` was refused),
  :func:`enforce_map_failure_tolerance` (failed Distributed Map items never failed the Map),
  :func:`scale_retry_waits` and :func:`fast_sync_polling` (speed). :func:`fix_moto_sfn` = the first four.
  :func:`route_sdk_tasks`: ``aws-sdk`` Tasks through a client the test prepares (a double attached), each call
  recorded with its ``Credentials`` role (moto makes the call with its own credentials).
* :func:`deploy_template` reads a SAM ``template.yaml`` (``cfnlint.decode.decode`` reads the short-form
  tags) and creates its ``AWS::Serverless::Function``, ``AWS::S3::Bucket``, ``AWS::DynamoDB::Table`` /
  ``AWS::Serverless::SimpleTable`` and ``AWS::Serverless::StateMachine`` resources in the active mock, with
  ``DefinitionSubstitutions`` applied as CloudFormation would.

Still different from AWS with all this (see tests/functional/test_sfn_local_probe.py): a failed item's slot in a
tolerated Distributed Map's output is ``null``; ``ResultWriter`` writes only a ``manifest.json`` with empty
``ResultFiles`` and evaluates its ``Parameters`` paths against the Map's results, not its input;
``ItemBatcher``, ``InputType: JSONL`` and ``ExecutionType: EXPRESS`` in a ``ProcessorConfig`` are refused;
``MaxConcurrency`` 0 (the default) starts one thread per item.

Pinned to moto 5.2.5: the patched names are private, and each patch checks its hooks still exist.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import importlib
import io
import json
import os
import re
import threading
import time
import traceback
import uuid
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from .moto_tables import thread_safe_tables

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account
PARTITION = "aws"
EXECUTE_STATE_MACHINES: dict[str, Any] = {"stepfunctions": {"execute_state_machine": True}}

# --------------------------------------------------------------------------------------------------
# Lambda, in-process
# --------------------------------------------------------------------------------------------------

_LAMBDA_LOCK = threading.RLock()


@dataclass
class LambdaContext:
    """The attributes of the Python runtime's context object that handlers commonly use."""

    function_name: str
    function_version: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    timeout_seconds: float
    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        elapsed = time.monotonic() - self.started
        return max(0, int((self.timeout_seconds - elapsed) * 1000))


@dataclass
class Invocation:
    """One in-process Lambda call, for assertions: what went in, what came out."""

    function_name: str
    event: Any
    result: Any = None
    error: dict[str, Any] | None = None
    seconds: float = 0.0


def _error_payload(error_type: str, message: str, stack: list[str] | None = None) -> dict[str, Any]:
    return {"errorMessage": message, "errorType": error_type, "stackTrace": stack or []}


def _resolve_handler(spec: str) -> Callable[[Any, Any], Any]:
    module_name, _, attr = spec.rpartition(".")
    if not module_name:
        raise ImportError(f"Handler {spec!r} is not of the form 'package.module.function'")
    return getattr(importlib.import_module(module_name), attr)


@contextlib.contextmanager
def _environ(variables: Mapping[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update({name: str(value) for name, value in variables.items()})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _environ_snapshot(self: Any) -> dict[str, str]:
    """``os.environ`` as it is at one instant, whatever other threads do to it.

    The stock ``copy()`` and ``items()`` list the keys, then read each one, so a key that an in-process call
    removes in between (its environment restored, under the lock) raises ``KeyError`` in the reading thread.
    Every botocore client created in a Map iteration's thread does both: its credential chain copies the
    environment (``InstanceMetadataFetcher``) and its endpoint reads the proxy variables
    (``urllib.request.getproxies`` iterates ``os.environ.items()``). CI saw a Task fail with ``States.Runtime``
    / ``'AWS_LAMBDA_FUNCTION_NAME'``, and a child execution's thread die, leaving its parent waiting for good.
    ``dict(self._data)`` is one C call, atomic under the GIL.
    """
    data = dict(self._data)
    return {self.decodekey(key): self.decodevalue(value) for key, value in data.items()}


@contextlib.contextmanager
def _atomic_environ_reads() -> Iterator[None]:
    """``os.environ.copy()``, ``.items()``, ``.keys()`` and ``.values()`` from a snapshot (see above)."""
    environ = type(os.environ)
    with contextlib.ExitStack() as stack:
        stack.enter_context(_patched(environ, "copy", _environ_snapshot))
        stack.enter_context(_patched(environ, "items", lambda self: _environ_snapshot(self).items()))
        stack.enter_context(_patched(environ, "keys", lambda self: _environ_snapshot(self).keys()))
        stack.enter_context(_patched(environ, "values", lambda self: _environ_snapshot(self).values()))
        yield


@contextlib.contextmanager
def run_lambda_in_process(*, enforce_timeout: bool = False, serialise: bool = True) -> Iterator[list[Invocation]]:
    """Patch moto so Lambda functions run in this process; yields the list of calls made (appended live).

    ``enforce_timeout``: a call that took longer than the function's ``Timeout`` is reported as Lambda
    reports a timeout (``errorType`` ``Sandbox.Timedout``) - the handler itself cannot be interrupted.
    ``serialise=False`` (for benchmarks that need Map iterations to write at once, as Lambdas do in AWS): calls run
    concurrently, and each function's environment is set for good instead of for the call (the Globals a template's
    functions share are equal; a variable one function alone has stays set for the others).
    """
    from moto.awslambda.models import LambdaFunction

    calls: list[Invocation] = []
    original = LambdaFunction._invoke_lambda  # noqa: SLF001 - moto's one entry point to run Lambda code (design notes, §6)

    def _invoke_lambda(self: Any, event: Any = None) -> tuple[str, bool, str]:
        with contextlib.suppress(Exception):
            self.logs_backend.ensure_log_group(self.logs_group_name)
        if event is None:
            event = {}
        if isinstance(event, str | bytes):  # moto passes the raw "{}" when the request had no body
            with contextlib.suppress(ValueError):
                event = json.loads(event)
        timeout = float(self.timeout or 3)
        context = LambdaContext(
            function_name=self.function_name,
            function_version=str(self.version),
            invoked_function_arn=self.function_arn,
            memory_limit_in_mb=int(self.memory_size or 128),
            aws_request_id=str(uuid.uuid4()),
            log_group_name=self.logs_group_name,
            log_stream_name=f"{time.strftime('%Y/%m/%d')}/[{self.version}]{uuid.uuid4().hex}",
            timeout_seconds=timeout,
        )
        variables = {
            "AWS_LAMBDA_FUNCTION_NAME": self.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": str(self.version),
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(context.memory_limit_in_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": context.log_group_name,
            "_HANDLER": self.handler or "",
            **{str(k): str(v) for k, v in (self.environment_vars or {}).items()},
        }
        call = Invocation(function_name=self.function_name, event=copy.deepcopy(event))
        errored = False
        if not serialise:
            os.environ.update(variables)
        with _LAMBDA_LOCK if serialise else contextlib.nullcontext(), _environ(variables if serialise else {}):
            context.started = time.monotonic()
            try:
                handler = _resolve_handler(self.handler or "")
                result = handler(event, context)
                try:
                    payload = json.dumps(result)
                    call.result = result
                except (TypeError, ValueError) as exc:
                    errored = True
                    call.error = _error_payload("Runtime.MarshalError", f"Unable to marshal response: {exc}")
            except Exception as exc:  # every handler failure becomes Lambda's error payload
                errored = True
                stack = traceback.format_exception(type(exc), exc, exc.__traceback__)
                call.error = _error_payload(type(exc).__name__, str(exc), stack)
            call.seconds = time.monotonic() - context.started
        if enforce_timeout and call.seconds > timeout:
            errored = True
            call.error = _error_payload("Sandbox.Timedout", f"Task timed out after {timeout:.2f} seconds")
        if errored:
            payload = json.dumps(call.error)
        calls.append(call)
        status = "ERROR" if errored else "OK"
        logs = f"START RequestId: {context.aws_request_id}\nEND {status} in {call.seconds * 1000:.0f} ms\n"
        return payload, errored, logs

    LambdaFunction._invoke_lambda = _invoke_lambda  # type: ignore[method-assign]  # noqa: SLF001 - moto's one entry point to run Lambda code
    try:
        with _atomic_environ_reads():
            yield calls
    finally:
        LambdaFunction._invoke_lambda = original  # type: ignore[method-assign]  # noqa: SLF001 - moto's one entry point to run Lambda code


# --------------------------------------------------------------------------------------------------
# Step Functions: where moto 5.2.5's interpreter differs from AWS
# --------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _patched(owner: Any, name: str, replacement: Any) -> Iterator[None]:
    """Set ``owner.name`` for the duration; restores the attribute exactly (own or inherited) afterwards."""
    if not hasattr(owner, name):  # pragma: no cover - moto changed: re-probe (tests/functional/test_sfn_local_probe.py)
        raise RuntimeError(f"{getattr(owner, '__name__', owner)} has no {name}: sfn_local needs updating for this moto")
    had_own = name in vars(owner)
    saved = vars(owner).get(name)
    setattr(owner, name, replacement)
    try:
        yield
    finally:
        if had_own:
            setattr(owner, name, saved)
        else:
            delattr(owner, name)


def _epoch_millis(value: Any) -> Any:
    return int(value.timestamp() * 1000) if isinstance(value, datetime.datetime) else value


@contextlib.contextmanager
def fix_sfn_start_execution() -> Iterator[None]:
    """``arn:aws:states:::states:startExecution[.sync|.sync:2]`` from a state machine, as in AWS.

    moto ported LocalStack's interpreter but left ``StateTaskService._normalise_parameters`` and
    ``_normalise_response`` as no-ops. Every other integration moto runs speaks PascalCase on the wire;
    Step Functions' own API is lowerCamel, so the task failed with ``States.Runtime`` / ``'StateMachineArn'``.
    This restores LocalStack's normalisation for the Step Functions integration only (botocore's model
    of the operation maps ``StateMachineArn`` -> ``stateMachineArn`` and ``executionArn`` -> ``ExecutionArn``)
    and turns dates into epoch milliseconds, as AWS's task output has them (moto would otherwise store a
    ``datetime`` in the execution output, which its own ``DescribeExecution`` cannot serialise).
    """
    import botocore.session
    from botocore import xform_name
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn import (
        StateTaskServiceSfn,
    )

    for hook in ("_to_boto_request", "_from_boto_response", "_get_boto_service_action"):
        if not hasattr(StateTaskServiceSfn, hook):  # pragma: no cover - moto changed: re-probe, re-pin
            raise RuntimeError(f"moto's StateTaskServiceSfn has no {hook}: fix_sfn_start_execution needs updating")

    model = botocore.session.get_session().get_service_model("stepfunctions")
    operations = {xform_name(name): model.operation_model(name) for name in model.operation_names}
    # adds the Input default, then super() (a no-op)
    sfn_parameters = StateTaskServiceSfn._normalise_parameters  # noqa: SLF001 - moto's gap, patched (pinned moto)

    def _normalise_parameters(
        self: Any, parameters: dict, boto_service_name: Any = None, service_action_name: Any = None
    ) -> None:
        sfn_parameters(self, parameters, boto_service_name, service_action_name)
        operation = operations.get(self._get_boto_service_action(service_action_name))
        if operation is not None and operation.input_shape is not None:
            self._to_boto_request(parameters, operation.input_shape)

    def _normalise_response(
        self: Any, response: Any, boto_service_name: Any = None, service_action_name: Any = None
    ) -> None:
        operation = operations.get(self._get_boto_service_action(service_action_name))
        if operation is not None and operation.output_shape is not None:
            self._from_boto_response(response, operation.output_shape)
        if isinstance(response, dict):
            for key, value in response.items():
                response[key] = _epoch_millis(value)

    with (
        _patched(StateTaskServiceSfn, "_normalise_parameters", _normalise_parameters),
        _patched(StateTaskServiceSfn, "_normalise_response", _normalise_response),
    ):
        yield


@contextlib.contextmanager
def fix_execution_names() -> Iterator[None]:
    """``StartExecution`` without ``name`` gets a fresh UUID, as in AWS.

    With ``execute_state_machine`` on, moto 5.2.5's backend uses the name as given: every nameless
    execution of a state machine is called ``None`` (ARN ``...:execution:<sm>:None``), so the second one
    returns the first (same input) or fails with ``ExecutionAlreadyExists`` (other input). That includes
    executions started by ``states:startExecution`` tasks, e.g. one per Distributed Map item.
    """
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    original = StepFunctionsParserBackend.start_execution

    def start_execution(self: Any, state_machine_arn: str, name: Any = None, *args: Any, **kwargs: Any) -> Any:
        return original(self, state_machine_arn, name or str(uuid.uuid4()), *args, **kwargs)

    with _patched(StepFunctionsParserBackend, "start_execution", start_execution):
        yield


def _float_tolerances(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            key: float(value)
            if key == "ToleratedFailurePercentage" and isinstance(value, int) and not isinstance(value, bool)
            else _float_tolerances(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_float_tolerances(value) for value in node]
    return node


@contextlib.contextmanager
def fix_tolerated_failure_percentage() -> Iterator[None]:
    """Accept ``"ToleratedFailurePercentage": 100`` (an integer), as AWS does.

    moto's ASL grammar wants a NUMBER token there and its lexer makes ``100`` an INT, so the definition is
    refused (``ASLParserException ... no viable alternative at input '"ToleratedFailurePercentage":100'``);
    ``100.0`` parses. The parser is handed a copy of the definition with such integers written as floats;
    the stored definition (``DescribeStateMachine``) is unchanged.
    """
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    original = AmazonStateLanguageParser.parse

    def parse(definition: str) -> Any:
        if "ToleratedFailurePercentage" in definition:
            with contextlib.suppress(ValueError):
                definition = json.dumps(_float_tolerances(json.loads(definition)))
        return original(definition)

    with _patched(AmazonStateLanguageParser, "parse", staticmethod(parse)):
        yield


@contextlib.contextmanager
def enforce_map_failure_tolerance() -> Iterator[None]:
    """A Distributed Map whose failed items exceed its tolerance fails, as in AWS.

    moto 5.2.5 ignores ``ToleratedFailureCount``/``ToleratedFailurePercentage`` (it logs "...declarations
    currently have no effect"): a failed child is counted, its slot in the Map's output is ``null``, and the
    Map succeeds - whatever the tolerance. With this patch the Map Run fails with
    ``States.ExceedToleratedFailureThreshold`` when failed (+ timed out + aborted) items exceed both the
    tolerated count and the tolerated percentage (both default to 0, so by default any failure fails the
    Map; setting only one of them makes that one decide). Within the tolerance moto's behaviour is kept:
    the Map succeeds and failed items are ``null`` in its output.
    """
    from moto.stepfunctions.parser.api import HistoryEventType, MapRunFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.distributed_iteration_component import (
        DistributedIterationComponent,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    original = DistributedIterationComponent._map_run  # noqa: SLF001 - moto's interpreter patched (pinned moto)

    def _map_run(self: Any, env: Any, eval_input: Any) -> None:
        original(self, env, eval_input)
        counter = eval_input.map_run_record.item_counter
        total = counter.total.get()
        failed = counter.failed.get() + counter.timed_out.get() + counter.aborted.get()
        if not failed:
            return
        over_count = failed > int(eval_input.tolerated_failure_count or 0)
        over_percentage = 100.0 * failed / max(total, 1) > float(eval_input.tolerated_failure_percentage or 0.0)
        if over_count and over_percentage:
            error = StatesErrorNameType.StatesExceedToleratedFailureThreshold.to_name()
            cause = f"The specified tolerated failure threshold was exceeded: {failed} of {total} items failed"
            raise FailureEventException(
                FailureEvent(
                    env=env,
                    error_name=StatesErrorName(typ=StatesErrorNameType.StatesExceedToleratedFailureThreshold),
                    event_type=HistoryEventType.MapRunFailed,
                    event_details=EventDetails(
                        mapRunFailedEventDetails=MapRunFailedEventDetails(error=error, cause=cause)
                    ),
                )
            )

    with _patched(DistributedIterationComponent, "_map_run", _map_run):
        yield


@contextlib.contextmanager
def fix_describe_map_run() -> Iterator[None]:
    """``DescribeMapRun`` looks through every execution's worker, and crashes (AttributeError) on the first
    execution that has none yet or any more (e.g. a child started by ``startExecution``): skip those.
    ``ListMapRuns`` crashes the same way on an execution whose worker has not started yet: no Map Runs."""
    from moto.stepfunctions.parser.api import ResourceNotFound
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    def describe_map_run(self: Any, map_run_arn: str) -> dict[str, Any]:
        for execution in self._get_executions():
            env = getattr(getattr(execution, "exec_worker", None), "env", None)
            record = env.map_run_record_pool_manager.get(map_run_arn) if env is not None else None
            if record is not None:
                return dict(record.describe())
        raise ResourceNotFound()

    def list_map_runs(self: Any, execution_arn: str) -> dict[str, Any]:
        execution = self.describe_execution(execution_arn=execution_arn)
        env = getattr(getattr(execution, "exec_worker", None), "env", None)
        records = env.map_run_record_pool_manager.get_all() if env is not None else []
        return {"mapRuns": [record.list_item() for record in records]}

    with (
        _patched(StepFunctionsParserBackend, "describe_map_run", describe_map_run),
        _patched(StepFunctionsParserBackend, "list_map_runs", list_map_runs),
    ):
        yield


@contextlib.contextmanager
def fix_moto_sfn(*, enforce_tolerance: bool = True) -> Iterator[None]:
    """All of moto 5.2.5's Step Functions fixes above (see each one for the why)."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(fix_describe_map_run())
        stack.enter_context(fix_sfn_start_execution())
        stack.enter_context(fix_execution_names())
        stack.enter_context(fix_tolerated_failure_percentage())
        if enforce_tolerance:
            stack.enter_context(enforce_map_failure_tolerance())
        yield


@contextlib.contextmanager
def scale_retry_waits(scale: float = 0.0) -> Iterator[list[float]]:
    """ASL ``Retry`` waits ``IntervalSeconds x BackoffRate^n`` for real in moto; multiply every wait by
    ``scale`` (0: no wait) and yield the list of waits the definition asked for, in seconds, for assertions."""
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

    asked: list[float] = []

    def sleep(seconds: float) -> None:
        asked.append(seconds)
        if seconds * scale > 0:
            time.sleep(seconds * scale)

    shim = type("_Time", (), {"sleep": staticmethod(sleep)})
    with _patched(retrier_decl, "time", shim):
        yield asked


@contextlib.contextmanager
def fast_sync_polling(seconds: float = 0.02) -> Iterator[None]:
    """``.sync``/``.sync:2`` tasks poll the child's ``DescribeExecution`` every 0.5 s in moto; poll faster."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_callback

    with _patched(state_task_service_callback, "_DELAY_SECONDS_SYNC_CONDITION_CHECK", seconds):
        yield


@dataclass
class SdkCall:
    """One ``arn:aws:states:::aws-sdk:<service>:<action>`` Task call, for assertions."""

    service: str  # boto3's name: "dynamodb"
    action: str  # boto3's method: "export_table_to_point_in_time"
    parameters: dict[str, Any]
    role_arn: str | None  # the Task's ``Credentials`` RoleArn; None without Credentials (the execution's role)


def _iso_dates(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: _iso_dates(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_iso_dates(value) for value in node]
    if isinstance(node, datetime.datetime):
        return node.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return node


@contextlib.contextmanager
def route_sdk_tasks(prepare: Callable[[str, Any], Any] = lambda service, client: client) -> Iterator[list[SdkCall]]:
    """``aws-sdk`` Tasks through a client the test prepares, recorded with their ``Credentials`` role.

    moto 5.2.5 makes each such Task's boto3 client itself (``boto_client_for``) and leaves the Task's
    ``Credentials`` unused: ``prepare(service, client)`` gets that client first (a test attaches a double of the
    service to it, e.g. support/exportdouble.py for DynamoDB's exports), and every call is kept with the role it
    would have been made as. Dates in the response become ISO 8601 text, as JSON can carry them (moto would keep
    ``datetime`` objects in the state); code that reads them should not rely on their exact form.
    """
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_aws_sdk
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk import (
        StateTaskServiceAwsSdk,
    )

    calls: list[SdkCall] = []
    make_client = state_task_service_aws_sdk.boto_client_for
    # records the call, then the original makes the client and the call
    evaluate = StateTaskServiceAwsSdk._eval_service_task  # noqa: SLF001 - moto's interpreter patched (pinned moto)

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        return prepare(service, make_client(region=region, service=service, state_credentials=state_credentials))

    def _eval_service_task(
        self: Any, env: Any, resource_runtime_part: Any, normalised_parameters: dict, state_credentials: Any
    ) -> None:
        calls.append(
            SdkCall(
                service=self._get_boto_service_name(),
                action=self._get_boto_service_action(),
                parameters=copy.deepcopy(normalised_parameters),
                role_arn=state_credentials.role_arn if self.credentials else None,
            )
        )
        evaluate(self, env, resource_runtime_part, normalised_parameters, state_credentials)
        env.stack.append(_iso_dates(env.stack.pop()))

    with (
        _patched(state_task_service_aws_sdk, "boto_client_for", boto_client_for),
        _patched(StateTaskServiceAwsSdk, "_eval_service_task", _eval_service_task),
    ):
        yield calls


@dataclass
class LocalAws:
    """What :func:`local_aws` yields: the in-process Lambda calls and the retry waits asked for, in order."""

    calls: list[Invocation]
    retry_waits: list[float]
    sdk_calls: list[SdkCall]  # the aws-sdk Tasks' calls (route_sdk_tasks)


@contextlib.contextmanager
def local_aws(
    *,
    enforce_tolerance: bool = True,
    retry_wait_scale: float = 0.0,
    enforce_timeout: bool = False,
    serialise_lambdas: bool = True,
    prepare_sdk_client: Callable[[str, Any], Any] = lambda service, client: client,
) -> Iterator[LocalAws]:
    """moto with executing state machines, in-process Lambda and every fix above: the usual entry point.
    ``prepare_sdk_client``: see :func:`route_sdk_tasks`."""
    from moto import mock_aws

    with contextlib.ExitStack() as stack:
        stack.enter_context(mock_aws(config=copy.deepcopy(EXECUTE_STATE_MACHINES)))  # type: ignore[arg-type]
        stack.enter_context(thread_safe_tables())  # `ddb-restore run`'s workers write the same tables
        calls = stack.enter_context(run_lambda_in_process(enforce_timeout=enforce_timeout, serialise=serialise_lambdas))
        stack.enter_context(fix_moto_sfn(enforce_tolerance=enforce_tolerance))
        waits = stack.enter_context(scale_retry_waits(retry_wait_scale))
        stack.enter_context(fast_sync_polling())
        sdk_calls = stack.enter_context(route_sdk_tasks(prepare_sdk_client))
        yield LocalAws(calls=calls, retry_waits=waits, sdk_calls=sdk_calls)


def new_containers() -> None:
    """Forget the handlers' cached clients (built once per Lambda container in AWS): each test a new container.

    Called by a test's fixture inside ``local_aws()``, not by ``local_aws()`` itself: importing the handlers
    there, before a deployed function's environment is set, made Powertools log INFO lines into ``make demo``."""
    from ddb_restore.aws.handlers import _common

    for cached in (_common.s3, _common.dynamodb_as):
        cached.cache_clear()


# --------------------------------------------------------------------------------------------------
# Executions
# --------------------------------------------------------------------------------------------------


def wait_for_execution(client: Any, arn: str, timeout: float = 60, poll: float = 0.05) -> dict[str, Any]:
    """Poll ``DescribeExecution`` until the execution is no longer RUNNING; its ``output`` is parsed JSON."""
    deadline = time.monotonic() + timeout
    while True:
        described = client.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING":
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"{arn} still RUNNING after {timeout} s")
        time.sleep(poll)
    if isinstance(described.get("output"), str):
        described["output"] = json.loads(described["output"])
    return described


def failure_events(client: Any, arn: str) -> list[dict[str, Any]]:
    """The history events that say what went wrong (type + details), oldest first: for assertion messages."""
    events = client.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    wanted = ("Failed", "Aborted", "TimedOut")
    return [
        {"type": event["type"], **{k: v for k, v in event.items() if k.endswith("EventDetails")}}
        for event in events
        if event["type"].endswith(wanted)
    ]


# --------------------------------------------------------------------------------------------------
# SAM template -> moto resources
# --------------------------------------------------------------------------------------------------

FUNCTION = "AWS::Serverless::Function"
STATE_MACHINE = "AWS::Serverless::StateMachine"
BUCKET = "AWS::S3::Bucket"
TABLES = ("AWS::DynamoDB::Table", "AWS::Serverless::SimpleTable")
ROLE_NAME = "sfn-local-role"
_NO_VALUE = object()
_SUB = re.compile(r"\$\{([^}]+)\}")
_TABLE_KEYS = (
    "TableName",
    "KeySchema",
    "AttributeDefinitions",
    "BillingMode",
    "ProvisionedThroughput",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "StreamSpecification",
    "SSESpecification",
    "Tags",
)


@dataclass
class Deployed:
    """The resources :func:`deploy_template` created, by logical id."""

    function_arns: dict[str, str]
    function_names: dict[str, str]
    state_machine_arns: dict[str, str]
    buckets: dict[str, str]
    tables: dict[str, str]
    parameters: dict[str, Any]
    code_uris: dict[str, Path]  # each function's CodeUri, absolute (its handler must be importable)
    definitions: dict[str, dict[str, Any]]  # each state machine's definition as created (substituted)
    outputs: dict[str, Any]  # the template's Outputs that could be resolved
    template: dict[str, Any]
    resolve: Callable[[Any], Any] = field(repr=False)  # resolves intrinsics against this deployment


def _deep_merge(base: Any, extra: Any) -> Any:
    if isinstance(base, dict) and isinstance(extra, dict):
        merged = dict(base)
        for key, value in extra.items():
            merged[key] = _deep_merge(base.get(key), value) if key in base else value
        return merged
    return extra


def _plain(node: Any) -> Any:
    """cfn-lint's node classes -> plain dicts, lists and strings."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, str):
        return str(node)
    return node


def _zip_with_dummy_file() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.txt", "code is imported in-process by tests/support/sfn_local.py\n")
    return buffer.getvalue()


class _Resolver:
    """CloudFormation's intrinsic functions over one template, with deterministic moto names and ARNs."""

    def __init__(self, template: dict[str, Any], parameters: dict[str, Any], stack_name: str) -> None:
        self.template = template
        self.resources: dict[str, Any] = template.get("Resources") or {}
        self.pseudo = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::Partition": PARTITION,
            "AWS::StackName": stack_name,
            "AWS::StackId": f"arn:{PARTITION}:cloudformation:{REGION}:{ACCOUNT_ID}:stack/{stack_name}/local",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NotificationARNs": [],
            "AWS::NoValue": _NO_VALUE,
        }
        self.parameters = self._parameters(parameters)
        self._names: dict[str, str] = {}

    def _parameters(self, given: dict[str, Any]) -> dict[str, Any]:
        declared = self.template.get("Parameters") or {}
        unknown = set(given) - set(declared)
        if unknown:
            raise ValueError(f"Parameters not declared in the template: {sorted(unknown)}")
        values: dict[str, Any] = {}
        for name, spec in declared.items():
            if name in given:
                value = given[name]
            elif "Default" in spec:
                value = spec["Default"]
            else:
                raise ValueError(f"Template parameter {name!r} has no Default: pass it in `parameters`")
            if spec.get("Type") == "CommaDelimitedList" and isinstance(value, str):
                value = [part.strip() for part in value.split(",")] if value else []
            elif not isinstance(value, list):
                value = str(value).lower() if isinstance(value, bool) else str(value)
            allowed = spec.get("AllowedValues")
            if allowed and not isinstance(value, list) and value not in [str(a) for a in allowed]:
                raise ValueError(f"Parameter {name}={value!r} is not one of {allowed}")
            values[name] = value
        return values

    # -- conditions ------------------------------------------------------------------------------
    def condition(self, name: str) -> bool:
        return bool(self.resolve((self.template.get("Conditions") or {})[name]))

    def active(self, logical_id: str) -> bool:
        condition = self.resources[logical_id].get("Condition")
        return condition is None or self.condition(condition)

    # -- names and attributes --------------------------------------------------------------------
    def type_of(self, logical_id: str) -> str:
        return str((self.resources.get(logical_id) or {}).get("Type", ""))

    def properties(self, logical_id: str) -> dict[str, Any]:
        return self.resources[logical_id].get("Properties") or {}

    def name(self, logical_id: str) -> str:
        """The physical name moto will get: the template's name property, else the logical id."""
        if logical_id not in self._names:
            typ, props = self.type_of(logical_id), self.properties(logical_id)
            prop = {
                FUNCTION: "FunctionName",
                STATE_MACHINE: "Name",
                BUCKET: "BucketName",
                "AWS::DynamoDB::Table": "TableName",
                "AWS::Serverless::SimpleTable": "TableName",
                "AWS::IAM::Role": "RoleName",
            }.get(typ)
            if prop and prop in props:
                self._names[logical_id] = str(self.resolve(props[prop]))
            else:
                self._names[logical_id] = logical_id.lower() if typ == BUCKET else logical_id
        return self._names[logical_id]

    def arn(self, logical_id: str) -> str:
        typ, name = self.type_of(logical_id), self.name(logical_id)
        if typ == FUNCTION:
            return f"arn:{PARTITION}:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"
        if typ == STATE_MACHINE:
            return f"arn:{PARTITION}:states:{REGION}:{ACCOUNT_ID}:stateMachine:{name}"
        if typ == BUCKET:
            return f"arn:{PARTITION}:s3:::{name}"
        if typ in TABLES:
            return f"arn:{PARTITION}:dynamodb:{REGION}:{ACCOUNT_ID}:table/{name}"
        if typ == "AWS::IAM::Role":
            return f"arn:{PARTITION}:iam::{ACCOUNT_ID}:role/{name}"
        service = typ.split("::")[1].lower() if typ.count("::") == 2 else "unknown"
        return f"arn:{PARTITION}:{service}:{REGION}:{ACCOUNT_ID}:{name}"

    def ref(self, name: str) -> Any:
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.resources:
            return self.arn(name) if self.type_of(name) == STATE_MACHINE else self.name(name)
        if name.endswith("Role") and self.type_of(name[: -len("Role")]) in (FUNCTION, STATE_MACHINE):
            return ROLE_NAME  # SAM's implicit execution role
        raise ValueError(f"!Ref {name}: not a parameter, pseudo parameter or resource of the template")

    def get_att(self, logical_id: str, attribute: str) -> Any:
        if logical_id not in self.resources:
            if logical_id.endswith("Role") and attribute == "Arn":
                return f"arn:{PARTITION}:iam::{ACCOUNT_ID}:role/{ROLE_NAME}"  # SAM's implicit role
            raise ValueError(f"!GetAtt {logical_id}.{attribute}: no such resource")
        typ, name = self.type_of(logical_id), self.name(logical_id)
        if attribute == "Arn":
            return self.arn(logical_id)
        if attribute == "Name":
            return name
        if typ == BUCKET and attribute in ("DomainName", "RegionalDomainName"):
            return f"{name}.s3.amazonaws.com" if attribute == "DomainName" else f"{name}.s3.{REGION}.amazonaws.com"
        if typ in TABLES and attribute == "StreamArn":
            return f"{self.arn(logical_id)}/stream/local"
        raise ValueError(f"!GetAtt {logical_id}.{attribute}: attribute not supported by sfn_local")

    # -- intrinsic functions ---------------------------------------------------------------------
    def sub(self, text: str, variables: dict[str, Any]) -> str:
        def one(match: re.Match[str]) -> str:
            expr = match.group(1)
            if expr.startswith("!"):
                return "${" + expr[1:] + "}"
            if expr in variables:
                return str(self.resolve(variables[expr]))
            if "." in expr and expr.split(".", 1)[0] in self.resources:
                return str(self.get_att(*expr.split(".", 1)))
            return str(self.ref(expr))

        return _SUB.sub(one, text)

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (self.resolve(item) for item in node) if v is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                logical_id, attribute = arg.split(".", 1) if isinstance(arg, str) else arg
                return self.get_att(logical_id, self.resolve(attribute))
            if key == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else arg
                return self.sub(text, variables)
            if key == "Fn::Join":
                delimiter, values = arg
                return str(delimiter).join(str(v) for v in self.resolve(values))
            if key == "Fn::Select":
                index, values = self.resolve(arg)
                return values[int(index)]
            if key == "Fn::Split":
                delimiter, text = self.resolve(arg)
                return text.split(delimiter)
            if key == "Fn::If":
                name, yes, no = arg
                return self.resolve(yes if self.condition(name) else no)
            if key == "Fn::Equals":
                left, right = self.resolve(arg)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(arg))
            if key == "Fn::Or":
                return any(self.resolve(arg))
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::FindInMap":
                map_name, top, second = self.resolve(arg)
                return self.template["Mappings"][map_name][top][second]
            if key.startswith("Fn::"):
                raise ValueError(f"{key} is not supported by sfn_local")
        resolved = {key: self.resolve(value) for key, value in node.items()}
        return {key: value for key, value in resolved.items() if value is not _NO_VALUE}


def _substitute(node: Any, substitutions: dict[str, str]) -> Any:
    """SAM's DefinitionSubstitutions: ``${Name}`` in the definition's strings, for the names given only."""
    if isinstance(node, dict):
        return {key: _substitute(value, substitutions) for key, value in node.items()}
    if isinstance(node, list):
        return [_substitute(value, substitutions) for value in node]
    if isinstance(node, str):
        return _SUB.sub(lambda m: substitutions.get(m.group(1), m.group(0)), node)
    return node


def _load_definition(path: Path) -> Any:
    text = path.read_text()
    try:
        return json.loads(text)
    except ValueError:
        import yaml

        return yaml.safe_load(text)


def deploy_template(
    template_path: str | Path,
    parameters: dict[str, Any] | None = None,
    overrides: dict[str, dict[str, Any]] | None = None,
    *,
    stack_name: str = "sam-app",
) -> Deployed:
    """Create a SAM template's functions, buckets, tables and state machines in the active moto mock.

    ``parameters``: template parameter values (the others take their ``Default``). ``overrides``: by logical
    id, properties deep-merged into that resource's ``Properties`` before anything is resolved (e.g.
    ``{"WriteChunkFunction": {"Timeout": 5, "Environment": {"Variables": {"X": "1"}}}}``).
    Other resource types (roles, policies, log groups, alarms...) are not created; ``!Ref``/``!GetAtt`` on them
    give deterministic placeholder names/ARNs. Every function and state machine gets one IAM role.
    """
    from cfnlint.decode import decode

    template_path = Path(template_path).resolve()
    decoded, problems = decode(str(template_path))
    if decoded is None:
        raise ValueError(f"cannot read {template_path}: {problems}")
    template = _plain(decoded)
    for logical_id, props in (overrides or {}).items():
        if logical_id not in (template.get("Resources") or {}):
            raise ValueError(f"overrides: no resource {logical_id!r} in the template")
        resource = template["Resources"][logical_id]
        resource["Properties"] = _deep_merge(resource.get("Properties") or {}, props)

    resolver = _Resolver(template, parameters or {}, stack_name)
    resources = {lid: res for lid, res in resolver.resources.items() if resolver.active(lid)}
    by_type: dict[str, list[str]] = {}
    for logical_id, resource in resources.items():
        by_type.setdefault(str(resource.get("Type")), []).append(logical_id)

    iam = boto3.client("iam", region_name=REGION)
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    try:
        role_arn = iam.create_role(RoleName=ROLE_NAME, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    except iam.exceptions.EntityAlreadyExistsException:
        role_arn = iam.get_role(RoleName=ROLE_NAME)["Role"]["Arn"]

    s3 = boto3.client("s3", region_name=REGION)
    buckets: dict[str, str] = {}
    for logical_id in by_type.get(BUCKET, []):
        buckets[logical_id] = resolver.name(logical_id)
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            s3.create_bucket(Bucket=buckets[logical_id])

    tables: dict[str, str] = {}
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    for typ in TABLES:
        for logical_id in by_type.get(typ, []):
            props = resolver.resolve(resolver.properties(logical_id))
            name = resolver.name(logical_id)
            if typ == "AWS::Serverless::SimpleTable":
                key = props.get("PrimaryKey") or {"Name": "id", "Type": "String"}
                key_type = {"String": "S", "Number": "N", "Binary": "B"}[key["Type"]]
                spec: dict[str, Any] = {
                    "KeySchema": [{"AttributeName": key["Name"], "KeyType": "HASH"}],
                    "AttributeDefinitions": [{"AttributeName": key["Name"], "AttributeType": key_type}],
                }
                if "ProvisionedThroughput" in props:
                    spec["ProvisionedThroughput"] = props["ProvisionedThroughput"]
                else:
                    spec["BillingMode"] = "PAY_PER_REQUEST"
            else:
                spec = {k: v for k, v in props.items() if k in _TABLE_KEYS}
            spec["TableName"] = name
            dynamodb.create_table(**spec)
            tables[logical_id] = name

    globals_function = resolver.resolve((template.get("Globals") or {}).get("Function") or {})
    function_arns: dict[str, str] = {}
    function_names: dict[str, str] = {}
    code_uris: dict[str, Path] = {}
    lambda_client = boto3.client("lambda", region_name=REGION)
    code = _zip_with_dummy_file()
    for logical_id in by_type.get(FUNCTION, []):
        props = _deep_merge(globals_function, resolver.resolve(resolver.properties(logical_id)))
        if props.get("PackageType") == "Image":
            raise ValueError(f"{logical_id}: PackageType Image is not supported by sfn_local")
        name = resolver.name(logical_id)
        variables = {k: str(v) for k, v in ((props.get("Environment") or {}).get("Variables") or {}).items()}
        created = lambda_client.create_function(
            FunctionName=name,
            Runtime=str(props.get("Runtime") or "python3.12"),
            Role=role_arn,
            Handler=str(props["Handler"]),
            Code={"ZipFile": code},
            Timeout=int(props.get("Timeout", 3)),
            MemorySize=int(props.get("MemorySize", 128)),
            Environment={"Variables": variables},
        )
        function_arns[logical_id] = created["FunctionArn"]
        function_names[logical_id] = name
        if isinstance(props.get("CodeUri"), str):
            code_uris[logical_id] = (template_path.parent / props["CodeUri"]).resolve()

    sfn = boto3.client("stepfunctions", region_name=REGION)
    state_machine_arns: dict[str, str] = {}
    definitions: dict[str, dict[str, Any]] = {}
    for logical_id in by_type.get(STATE_MACHINE, []):
        raw = resolver.properties(logical_id)
        if "Definition" in raw:
            definition = resolver.resolve(raw["Definition"])
        elif isinstance(raw.get("DefinitionUri"), str):
            definition = _load_definition(template_path.parent / raw["DefinitionUri"])
        else:
            raise ValueError(f"{logical_id}: needs Definition or a local DefinitionUri path")
        substitutions = {
            str(k): str(v).lower() if isinstance(v, bool) else str(v)
            for k, v in resolver.resolve(raw.get("DefinitionSubstitutions") or {}).items()
        }
        definition = _substitute(definition, substitutions)
        kwargs: dict[str, Any] = {}
        if raw.get("Type"):
            kwargs["type"] = str(resolver.resolve(raw["Type"]))
        created = sfn.create_state_machine(
            name=resolver.name(logical_id), definition=json.dumps(definition), roleArn=role_arn, **kwargs
        )
        state_machine_arns[logical_id] = created["stateMachineArn"]
        definitions[logical_id] = definition

    outputs: dict[str, Any] = {}
    for name, output in (template.get("Outputs") or {}).items():
        with contextlib.suppress(ValueError, KeyError):
            if "Condition" not in output or resolver.condition(output["Condition"]):
                outputs[name] = resolver.resolve(output.get("Value"))

    return Deployed(
        function_arns=function_arns,
        function_names=function_names,
        state_machine_arns=state_machine_arns,
        buckets=buckets,
        tables=tables,
        parameters=dict(resolver.parameters),
        code_uris=code_uris,
        definitions=definitions,
        outputs=outputs,
        template=template,
        resolve=resolver.resolve,
    )


def publish_stack(deployed: Deployed, stack_name: str) -> None:
    """Create a CloudFormation stack in moto whose Outputs are the deployed template's resolved Outputs,
    so tools that find a stack's resources by its name (``ddb-restore start --stack-name``) work locally."""
    outputs = {
        name: {"Value": value if isinstance(value, str) else json.dumps(value)}
        for name, value in deployed.outputs.items()
        if value is not None
    }
    body = {
        "Resources": {"Placeholder": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
        "Outputs": outputs,
    }
    boto3.client("cloudformation", region_name=REGION).create_stack(StackName=stack_name, TemplateBody=json.dumps(body))
