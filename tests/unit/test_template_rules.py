"""The template's Rules, evaluated as CloudFormation evaluates them before it creates anything: for each set of
parameters, the rules whose RuleCondition holds and one of whose Assertions fails (the stack is refused with their
AssertDescription)."""

from __future__ import annotations

from typing import Any

import pytest

from support.template import load_template

SOURCE = "arn:aws:dynamodb:eu-west-1:111122223333:table/Orders"
KEY = "arn:aws:kms:eu-west-1:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def evaluate(node: Any, parameters: dict[str, str]) -> Any:
    """The rule functions the template uses: Ref (of a parameter), Fn::Equals, Fn::Not, Fn::And, Fn::Or."""
    if isinstance(node, dict) and len(node) == 1:
        ((name, arg),) = node.items()
        if name == "Ref":
            return parameters[arg]
        values = [evaluate(a, parameters) for a in arg]
        functions = {
            "Fn::Equals": lambda: values[0] == values[1],
            "Fn::Not": lambda: not values[0],
            "Fn::And": lambda: all(values),
            "Fn::Or": lambda: any(values),
        }
        return functions[name]()
    return node


def refused(**given: str) -> list[str]:
    template = load_template()
    parameters = {name: str(spec.get("Default", "")) for name, spec in template["Parameters"].items()}
    parameters.update(ExportBucketName="exports", TargetTable="Orders", **given)
    failed = []
    for name, rule in template.get("Rules", {}).items():
        if "RuleCondition" in rule and not evaluate(rule["RuleCondition"], parameters):
            continue
        if not all(evaluate(a["Assert"], parameters) for a in rule["Assertions"]):
            failed.append(name)
    return failed


@pytest.mark.parametrize(
    ("given", "rules"),
    [
        ({}, []),
        ({"ExportKmsKeyArn": KEY, "ExportPrefix": "x/"}, []),
        ({"SourceTableArn": SOURCE, "ExportPrefix": "sync/"}, []),
        ({"SourceTableArn": SOURCE, "ExportPrefix": "sync/", "SyncSchedule": "rate(15 minutes)"}, []),
        ({"SourceTableArn": SOURCE}, ["SyncNeedsAnExportPrefix"]),
        ({"SourceTableArn": SOURCE, "ExportPrefix": "sync/", "ExportKmsKeyArn": KEY}, ["SyncNeedsAnSseS3Bucket"]),
        ({"SyncSchedule": "rate(15 minutes)"}, ["SyncOptionsNeedASource"]),
        ({"SourceRoleArn": "arn:aws:iam::111122223333:role/exporter"}, ["SyncOptionsNeedASource"]),
    ],
    ids=["no-sync", "kms-no-sync", "sync", "scheduled", "no-prefix", "kms", "schedule-alone", "role-alone"],
)
def test_the_rules_refuse_a_sync_the_stack_cannot_run(given: dict[str, str], rules: list[str]) -> None:
    assert refused(**given) == rules


def test_each_rule_says_what_to_give() -> None:
    for name, rule in load_template()["Rules"].items():
        for assertion in rule["Assertions"]:
            assert len(assertion["AssertDescription"]) > 40, name
