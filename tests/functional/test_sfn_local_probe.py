"""The local Step Functions + Lambda adapter (tests/support/sfn_local.py), proven on a tiny SAM app.

The app lives in this file: a template, two ASL definitions and a handler module are written to tmp_path.
The parent reads a JSON array from S3 with a Distributed Map and starts the child state machine once per
item (``states:startExecution.sync:2``); the child calls a Lambda in a Choice loop until it says done.
These tests also pin what moto 5.2.5 does and what sfn_local fixes, so a moto upgrade that changes either
shows up here first.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from support.sfn_local import (
    EXECUTE_STATE_MACHINES,
    LocalAws,
    _environ,
    deploy_template,
    failure_events,
    local_aws,
    run_lambda_in_process,
    wait_for_execution,
)

HANDLERS = "sfn_probe_handlers"

HANDLER_CODE = '''
import json
import os

import boto3

ATTEMPTS = {}


class FlakyError(Exception):
    """Raised on purpose: ASL Retry/Catch match it by this class name."""


def step(event, context):
    state = dict(event)
    if state["item"].get("fail"):
        raise ValueError(f"item {state['item']['id']} is broken")
    state["n"] = state.get("n", 0) + 1
    state["cursor"] = state["n"] * 100
    state["done"] = state["n"] >= int(state["until"])
    state["greeting"] = os.environ["GREETING"]
    state["function"] = context.function_name
    assert 0 < context.get_remaining_time_in_millis() <= 30_000
    if state["done"]:
        boto3.client("s3").put_object(
            Bucket=os.environ["RESULTS_BUCKET"], Key=f"done/{state['item']['id']}.json", Body=json.dumps(state)
        )
    return state


def flaky(event, context):
    key = event["key"]
    ATTEMPTS[key] = ATTEMPTS.get(key, 0) + 1
    if ATTEMPTS[key] <= event["fail_times"]:
        raise FlakyError(f"attempt {ATTEMPTS[key]} of {key}")
    return {"key": key, "attempts": ATTEMPTS[key]}
'''

TEMPLATE = r"""
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Greeting:
    Type: String
  Until:
    Type: Number
    Default: 3
Conditions:
  Never: !Equals [!Ref Greeting, "never"]
Globals:
  Function:
    Runtime: python3.13
    Timeout: 30
    CodeUri: handlers/
    Environment:
      Variables:
        GREETING: !Ref Greeting
Resources:
  ItemsBucket:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: !Sub "${AWS::StackName}-items-${AWS::AccountId}"
  StepFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: sfn_probe_handlers.app.step
      Environment:
        Variables:
          RESULTS_BUCKET: !Ref ItemsBucket
  FlakyFunction:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: !Sub "${AWS::StackName}-flaky"
      Handler: sfn_probe_handlers.app.flaky
      Timeout: 5
  UnusedFunction:
    Type: AWS::Serverless::Function
    Condition: Never
    Properties:
      Handler: sfn_probe_handlers.app.step
  ChildStateMachine:
    Type: AWS::Serverless::StateMachine
    Properties:
      Name: !Sub "${AWS::StackName}-child"
      DefinitionUri: statemachine/child.asl.json
      DefinitionSubstitutions:
        StepFunctionArn: !GetAtt StepFunction.Arn
        Until: !Ref Until
  ParentStateMachine:
    Type: AWS::Serverless::StateMachine
    Properties:
      DefinitionUri: statemachine/parent.asl.json
      DefinitionSubstitutions:
        ChildArn: !Sub "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:\
          stateMachine:${ChildStateMachine.Name}"
  RetryStateMachine:
    Type: AWS::Serverless::StateMachine
    Properties:
      DefinitionUri: statemachine/retry.asl.json
      DefinitionSubstitutions:
        FlakyFunctionName: !Ref FlakyFunction
Outputs:
  ParentArn:
    Value: !Ref ParentStateMachine
  FlakyArn:
    Value: !GetAtt FlakyFunction.Arn
"""

CHILD = {
    "StartAt": "Step",
    "States": {
        "Step": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "${StepFunctionArn}", "Payload.$": "$"},
            "ResultSelector": {
                "item.$": "$.Payload.item",
                "until.$": "$.Payload.until",
                "n.$": "$.Payload.n",
                "cursor.$": "$.Payload.cursor",
                "done.$": "$.Payload.done",
                "greeting.$": "$.Payload.greeting",
            },
            "Next": "Done?",
        },
        "Done?": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.done", "BooleanEquals": True, "Next": "Done"}],
            "Default": "Step",
        },
        "Done": {"Type": "Succeed"},
    },
}

PARENT = {
    "StartAt": "Files",
    "States": {
        "Files": {
            "Type": "Map",
            "ItemReader": {
                "Resource": "arn:aws:states:::s3:getObject",
                "ReaderConfig": {"InputType": "JSON"},
                "Parameters": {"Bucket.$": "$.bucket", "Key.$": "$.key"},
            },
            "ItemSelector": {"item.$": "$$.Map.Item.Value", "until.$": "$.until", "index.$": "$$.Map.Item.Index"},
            "MaxConcurrencyPath": "$.concurrency",
            "ToleratedFailurePercentage": 100,
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                "StartAt": "Child",
                "States": {
                    "Child": {
                        "Type": "Task",
                        "Resource": "arn:aws:states:::states:startExecution.sync:2",
                        "Parameters": {
                            "StateMachineArn": "${ChildArn}",
                            "Input": {
                                "item.$": "$.item",
                                "until.$": "$.until",
                                "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID.$": "$$.Execution.Id",
                            },
                        },
                        "OutputPath": "$.Output",
                        "End": True,
                    }
                },
            },
            "ResultPath": "$.results",
            "Next": "Summary",
        },
        "Summary": {
            "Type": "Pass",
            "Parameters": {
                "count.$": "States.ArrayLength($.results)",
                "first.$": "States.ArrayGetItem($.results, 0)",
                "next.$": "States.MathAdd($.concurrency, 1)",
                "where.$": "States.Format('s3://{}/{}', $.bucket, $.key)",
                "results.$": "$.results",
            },
            "End": True,
        },
    },
}

RETRY = {
    "StartAt": "Flaky",
    "States": {
        "Flaky": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "${FlakyFunctionName}", "Payload.$": "$"},
            "OutputPath": "$.Payload",
            "Retry": [{"ErrorEquals": ["FlakyError"], "IntervalSeconds": 2, "MaxAttempts": 3, "BackoffRate": 2.0}],
            "Catch": [{"ErrorEquals": ["FlakyError"], "ResultPath": "$.error", "Next": "GaveUp"}],
            "End": True,
        },
        "GaveUp": {"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"},
    },
}


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The tiny SAM app on disk; its handler package importable; returns the template's path."""
    package = tmp_path / "handlers" / HANDLERS
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "app.py").write_text(textwrap.dedent(HANDLER_CODE))
    monkeypatch.syspath_prepend(str(tmp_path / "handlers"))
    for name in [m for m in sys.modules if m == HANDLERS or m.startswith(HANDLERS + ".")]:
        monkeypatch.delitem(sys.modules, name)
    machines = tmp_path / "statemachine"
    machines.mkdir()
    for name, definition in {"child": CHILD, "parent": PARENT, "retry": RETRY}.items():
        (machines / f"{name}.asl.json").write_text(json.dumps(definition, indent=2))
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    yield tmp_path / "template.yaml"
    for name in [m for m in sys.modules if m == HANDLERS or m.startswith(HANDLERS + ".")]:
        del sys.modules[name]


@pytest.fixture
def aws() -> Iterator[LocalAws]:
    with local_aws() as local:
        yield local


def run(state_machine_arn: str, payload: dict[str, Any]) -> dict[str, Any]:
    sfn = boto3.client("stepfunctions")
    started = sfn.start_execution(stateMachineArn=state_machine_arn, input=json.dumps(payload))
    result = wait_for_execution(sfn, started["executionArn"], timeout=15)
    result["failures"] = failure_events(sfn, started["executionArn"])
    return result


def put_items(bucket: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    boto3.client("s3").put_object(Bucket=bucket, Key="plan/items.json", Body=json.dumps(items))
    return {"bucket": bucket, "key": "plan/items.json", "until": 3, "concurrency": 2}


def test_deploy_template_creates_and_resolves_everything(app: Path, aws: LocalAws) -> None:
    deployed = deploy_template(app, {"Greeting": "hello"}, overrides={"FlakyFunction": {"MemorySize": 256}})

    assert deployed.buckets == {"ItemsBucket": "sam-app-items-123456789012"}
    assert deployed.function_names == {"StepFunction": "StepFunction", "FlakyFunction": "sam-app-flaky"}
    assert deployed.parameters == {"Greeting": "hello", "Until": "3"}
    child_arn = "arn:aws:states:us-east-1:123456789012:stateMachine:sam-app-child"
    assert deployed.state_machine_arns["ChildStateMachine"] == child_arn
    processor = deployed.definitions["ParentStateMachine"]["States"]["Files"]["ItemProcessor"]
    assert processor["States"]["Child"]["Parameters"]["StateMachineArn"] == child_arn
    step = deployed.definitions["ChildStateMachine"]["States"]["Step"]["Parameters"]["FunctionName"]
    assert step == deployed.function_arns["StepFunction"]
    assert deployed.outputs == {
        "ParentArn": deployed.state_machine_arns["ParentStateMachine"],
        "FlakyArn": deployed.function_arns["FlakyFunction"],
    }
    assert deployed.code_uris["StepFunction"] == app.parent / "handlers"

    config = boto3.client("lambda").get_function_configuration(FunctionName="StepFunction")
    assert config["Environment"]["Variables"] == {"GREETING": "hello", "RESULTS_BUCKET": "sam-app-items-123456789012"}
    assert (config["Runtime"], config["Timeout"]) == ("python3.13", 30)
    assert config["Handler"] == "sfn_probe_handlers.app.step"
    flaky = boto3.client("lambda").get_function_configuration(FunctionName="sam-app-flaky")
    assert (flaky["Timeout"], flaky["MemorySize"]) == (5, 256)


def test_parent_fans_out_to_child_loops(app: Path, aws: LocalAws) -> None:
    deployed = deploy_template(app, {"Greeting": "hello"})
    bucket = deployed.buckets["ItemsBucket"]

    result = run(deployed.state_machine_arns["ParentStateMachine"], put_items(bucket, [{"id": i} for i in range(4)]))

    assert result["status"] == "SUCCEEDED", result["failures"]
    output = result["output"]
    assert output["count"] == 4
    assert output["where"] == f"s3://{bucket}/plan/items.json"
    assert output["next"] == 3
    assert output["results"] == [
        {"item": {"id": i}, "until": 3, "n": 3, "cursor": 300, "done": True, "greeting": "hello"} for i in range(4)
    ]
    assert output["first"] == output["results"][0]
    # Each child ran the Lambda 3 times, in-process, with the function's own environment.
    assert [call.function_name for call in aws.calls] == ["StepFunction"] * 12
    assert all(call.result["function"] == "StepFunction" for call in aws.calls)
    assert "GREETING" not in os.environ
    written = boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix="done/")["Contents"]
    assert sorted(o["Key"] for o in written) == [f"done/{i}.json" for i in range(4)]
    # One child execution per item, each with its own name (moto alone would call every one "None").
    children = boto3.client("stepfunctions").list_executions(
        stateMachineArn=deployed.state_machine_arns["ChildStateMachine"]
    )["executions"]
    assert len({c["name"] for c in children}) == 4
    assert {c["status"] for c in children} == {"SUCCEEDED"}


def test_failed_child_within_tolerance_leaves_null(app: Path, aws: LocalAws) -> None:
    deployed = deploy_template(app, {"Greeting": "hi"})
    items = [{"id": 0}, {"id": 1, "fail": True}, {"id": 2}]

    result = run(deployed.state_machine_arns["ParentStateMachine"], put_items(deployed.buckets["ItemsBucket"], items))

    assert result["status"] == "SUCCEEDED", result["failures"]
    assert [r and r["item"]["id"] for r in result["output"]["results"]] == [0, None, 2]
    children = boto3.client("stepfunctions").list_executions(
        stateMachineArn=deployed.state_machine_arns["ChildStateMachine"], statusFilter="FAILED"
    )["executions"]
    assert len(children) == 1
    child = boto3.client("stepfunctions").describe_execution(executionArn=children[0]["executionArn"])
    assert child["error"] == "ValueError"
    assert json.loads(child["cause"])["errorMessage"] == "item 1 is broken"


def test_failed_child_beyond_tolerance_fails_the_map(app: Path, aws: LocalAws) -> None:
    deployed = deploy_template(app, {"Greeting": "hi"})
    parent = json.loads(json.dumps(deployed.definitions["ParentStateMachine"]))
    del parent["States"]["Files"]["ToleratedFailurePercentage"]  # AWS's default: no failure tolerated
    sfn = boto3.client("stepfunctions")
    strict = sfn.create_state_machine(
        name="strict", definition=json.dumps(parent), roleArn="arn:aws:iam::123456789012:role/sfn-local-role"
    )["stateMachineArn"]
    items = [{"id": 0}, {"id": 1, "fail": True}]

    result = run(strict, put_items(deployed.buckets["ItemsBucket"], items))

    assert result["status"] == "FAILED"
    assert result["error"] == "States.ExceedToleratedFailureThreshold"


def test_start_execution_sync2_output_shape(app: Path, aws: LocalAws) -> None:
    deployed = deploy_template(app, {"Greeting": "hi"})
    child = deployed.state_machine_arns["ChildStateMachine"]
    definition = {
        "StartAt": "Run",
        "States": {
            "Run": {
                "Type": "Task",
                "Resource": "arn:aws:states:::states:startExecution.sync:2",
                "Parameters": {"StateMachineArn": child, "Input": {"item": {"id": 9}, "until": 1}},
                "End": True,
            }
        },
    }
    arn = boto3.client("stepfunctions").create_state_machine(
        name="sync2", definition=json.dumps(definition), roleArn="arn:aws:iam::123456789012:role/sfn-local-role"
    )["stateMachineArn"]

    result = run(arn, {})

    assert result["status"] == "SUCCEEDED", result["failures"]
    output = result["output"]
    assert output["Status"] == "SUCCEEDED"
    assert output["StateMachineArn"] == child
    assert output["ExecutionArn"].startswith(child.replace(":stateMachine:", ":execution:") + ":")
    assert output["Input"] == {"item": {"id": 9}, "until": 1}
    assert output["Output"]["n"] == 1 and output["Output"]["done"] is True
    assert isinstance(output["StartDate"], int) and output["StopDate"] >= output["StartDate"]


def test_handler_exception_is_retried_then_caught_by_name(app: Path, aws: LocalAws) -> None:
    deployed = deploy_template(app, {"Greeting": "hi"})
    machine = deployed.state_machine_arns["RetryStateMachine"]

    recovered = run(machine, {"key": "twice", "fail_times": 2})
    assert recovered["status"] == "SUCCEEDED", recovered["failures"]
    assert recovered["output"] == {"key": "twice", "attempts": 3}
    assert aws.retry_waits == [2.0, 4.0]  # IntervalSeconds x BackoffRate^n, asked for but not slept

    gave_up = run(machine, {"key": "always", "fail_times": 99})
    assert gave_up["status"] == "FAILED"
    assert gave_up["error"] == "FlakyError"  # Catch matched the exception's class name; Fail's ErrorPath
    cause = json.loads(gave_up["cause"])
    assert (cause["errorType"], cause["errorMessage"]) == ("FlakyError", "attempt 4 of always")
    assert [c.error["errorType"] for c in aws.calls if c.error] == ["FlakyError"] * 6


def test_lambda_invoke_directly(app: Path, aws: LocalAws) -> None:
    deploy_template(app, {"Greeting": "direct"})
    client = boto3.client("lambda")

    ok = client.invoke(FunctionName="sam-app-flaky", Payload=json.dumps({"key": "k", "fail_times": 0}))
    assert "FunctionError" not in ok
    assert json.loads(ok["Payload"].read()) == {"key": "k", "attempts": 1}

    failed = client.invoke(FunctionName="sam-app-flaky", Payload=json.dumps({"key": "j", "fail_times": 1}))
    assert failed["FunctionError"] == "Handled"
    assert json.loads(failed["Payload"].read())["errorType"] == "FlakyError"


@pytest.mark.parametrize(
    "read",
    [
        pytest.param(lambda: os.environ.copy(), id="copy"),  # botocore's credential chain, per client
        pytest.param(urllib.request.getproxies, id="getproxies"),  # botocore's endpoint, per client: items()
        pytest.param(lambda: list(os.environ.values()), id="values"),
    ],
)
def test_reading_the_environment_in_another_thread_never_sees_a_half_removed_variable(read: Any) -> None:
    """While one thread's in-process call sets and removes its function's variables, another thread reading the
    whole environment (every botocore client created in a Map iteration does) must not raise: CI once failed a
    Task with ``States.Runtime`` / ``'AWS_LAMBDA_FUNCTION_NAME'``, and once lost a child execution's thread."""
    stop = threading.Event()

    def churn() -> None:
        while not stop.is_set():
            with _environ({"SFN_LOCAL_PROBE_CHURN": "1"}):
                pass

    errors = 0
    with run_lambda_in_process():
        worker = threading.Thread(target=churn)
        worker.start()
        try:
            for _ in range(20_000):
                try:
                    read()
                except KeyError:
                    errors += 1
        finally:
            stop.set()
            worker.join()
    assert errors == 0
    assert "SFN_LOCAL_PROBE_CHURN" not in os.environ


def test_moto_gaps_the_fixes_are_for() -> None:
    """moto 5.2.5 alone (Lambda in-process only): the gaps sfn_local patches. If this fails after a moto
    upgrade, moto changed: re-run the probes and drop the patches it no longer needs."""
    role = "arn:aws:iam::123456789012:role/any"
    noop = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    with mock_aws(config=EXECUTE_STATE_MACHINES), run_lambda_in_process():  # type: ignore[arg-type]
        sfn = boto3.client("stepfunctions")
        child = sfn.create_state_machine(name="c", definition=json.dumps(noop), roleArn=role)["stateMachineArn"]
        # 1. Nameless executions are all called "None".
        first = sfn.start_execution(stateMachineArn=child, input="{}")["executionArn"]
        assert first.endswith(":c:None")
        with pytest.raises(sfn.exceptions.ExecutionAlreadyExists):
            sfn.start_execution(stateMachineArn=child, input='{"other": 1}')
        # 2. An integer ToleratedFailurePercentage is refused.
        map_state = {"Type": "Map", "ItemsPath": "$", "ToleratedFailurePercentage": 100, "End": True}
        map_state["ItemProcessor"] = {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}, **noop}
        with pytest.raises(ClientError, match="no viable alternative at input '\"ToleratedFailurePercentage\":100'"):
            sfn.create_state_machine(
                name="m", definition=json.dumps({"StartAt": "M", "States": {"M": map_state}}), roleArn=role
            )
        # 3. states:startExecution.sync:2 fails with States.Runtime.
        task = {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync:2", "End": True}
        task["Parameters"] = {"StateMachineArn": child, "Input": {}, "Name": "named"}
        parent = sfn.create_state_machine(
            name="p", definition=json.dumps({"StartAt": "T", "States": {"T": task}}), roleArn=role
        )["stateMachineArn"]
        started = sfn.start_execution(stateMachineArn=parent, input="{}", name="p1")["executionArn"]
        result = wait_for_execution(sfn, started, timeout=10)
        assert (result["status"], result["error"]) == ("FAILED", "States.Runtime")
        assert "'StateMachineArn'" in result["cause"]
