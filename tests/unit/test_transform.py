"""The built-in transforms, the user file's loading and the pipeline on one record at a time."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ddb_restore.cli import build_parser
from ddb_restore.errors import InputError, RecordError
from ddb_restore.export.records import RecordParser
from ddb_restore.transform import Step, build_pipeline, load_user_functions, parse_spec
from ddb_restore.transform.builtins import mask_value, spec_of
from ddb_restore.transform.options import execution_input
from ddb_restore.write.writer import WriteCounts


class Table:
    key_names = ("pk", "sk")
    key_types = {"pk": "S", "sk": "N"}
    gsis = (("by-email", ("email",)),)


def record(item: dict[str, Any], line: int = 1) -> Any:
    parser = RecordParser(incremental=False, key_names=Table.key_names)
    return parser.parse(json.dumps({"Item": item}).encode(), line)


ITEM = {"pk": {"S": "a"}, "sk": {"N": "1"}, "name": {"S": "Ada Lovelace"}, "email": {"S": "ada@example.com"}}


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ({"S": "Ada  Lovelace"}, {"S": "A*a  L******e"}),
        ({"S": "ab c"}, {"S": "** *"}),
        ({"S": ""}, {"S": ""}),
        ({"SS": ["John", "Joan", "x"]}, {"SS": ["J**n", "*"]}),
        ({"N": "12.5"}, {"N": "0"}),
        ({"B": "AAE="}, {"B": "Kg=="}),
        ({"BOOL": True}, {"BOOL": False}),
        ({"M": {"a": {"S": "b"}}}, {"M": {}}),
        ({"NS": ["1", "2"]}, {"NS": ["0"]}),
    ],
)
def test_mask_keeps_the_type(value: dict[str, Any], masked: dict[str, Any]) -> None:
    assert mask_value(value) == masked


def test_the_input_object_gives_steps_in_its_key_order() -> None:
    steps = parse_spec({"rename": {"a": "b"}, "drop": ["c"], "mask": ["d"]})
    assert steps == (Step("rename", "a", "b"), Step("drop", "c"), Step("mask", "d"))
    assert spec_of(steps) == {"rename": {"a": "b"}, "drop": ["c"], "mask": ["d"]}


def test_an_order_the_input_object_cannot_hold_is_refused() -> None:
    with pytest.raises(InputError, match="each kind's options together"):
        spec_of((Step("drop", "a"), Step("mask", "b"), Step("drop", "c")))


@pytest.mark.parametrize("spec", [["a"], {"drop": "a"}, {"rename": {"a": 1}}, {"upper": ["a"]}])
def test_a_malformed_input_object_is_refused(spec: Any) -> None:
    with pytest.raises(InputError, match='"transform"'):
        parse_spec(spec)


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (Step("drop", "pk"), "table's key attribute"),
        (Step("mask", "sk"), "masked keys collide"),
        (Step("rename", "pk", "id"), "table's key attribute"),
        (Step("drop", "email"), "GSI 'by-email'"),
        (Step("rename", "email", "mail"), "GSI 'by-email'"),
    ],
)
def test_a_built_in_that_breaks_a_key_is_refused(step: Step, message: str) -> None:
    with pytest.raises(InputError, match=message):
        build_pipeline((step,), None, Table())


def test_masking_a_gsi_key_and_renaming_into_a_key_are_allowed() -> None:
    assert build_pipeline((Step("mask", "email"), Step("rename", "id", "pk")), None, Table()) is not None


def test_a_record_no_step_touches_keeps_its_parsed_bytes() -> None:
    pipeline = build_pipeline((Step("drop", "phone"),), None, Table())
    assert pipeline is not None
    original = record(ITEM)
    counts = WriteCounts()
    assert pipeline.apply(original, counts) == [original]
    assert counts.items_transformed == 0


def test_built_ins_run_in_order_and_the_result_is_re_sized() -> None:
    pipeline = build_pipeline((Step("mask", "name"), Step("rename", "name", "who")), None, Table())
    assert pipeline is not None
    counts = WriteCounts()
    (result,) = pipeline.apply(record(ITEM), counts)
    assert result.attributes == {**{k: v for k, v in ITEM.items() if k != "name"}, "who": {"S": "A*a L******e"}}
    assert result.size == len("pkask") + 2 + len("emailada@example.comwhoA*a L******e")  # N "1": 2 B
    assert counts.items_transformed == 1


def user(source: str) -> Any:
    return load_user_functions(source, "t.py")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("raise ValueError('no good')", "t.py: transform() raised ValueError: no good"),
        ("return 42", "t.py: transform() returned int, not an item (dict), a list of items or None"),
        ("return {'pk': {'S': 'a'}}", "transform result lacks the table's key attribute 'sk'"),
        ("return {**item, 'sk': {'S': 'x'}}", "key attribute 'sk' is S, but the table's is N"),
        ("return {**item, 'big': {'S': 'x' * 410_000}}", "more than DynamoDB's 400 KB"),
        ("return [item, {**item, 'n': {'N': 'NaN'}}]", "transform result [1].n: N value"),
    ],
)
def test_an_invalid_result_or_an_exception_is_a_record_error(body: str, reason: str) -> None:
    pipeline = build_pipeline((), user(f"def transform(item):\n    {body}\n"), Table())
    assert pipeline is not None
    with pytest.raises(RecordError) as raised:
        pipeline.apply(record(ITEM), WriteCounts())
    assert reason in str(raised.value)


def test_a_fan_out_and_a_filter_are_counted() -> None:
    source = "def transform(item):\n    return None if item['sk']['N'] == '2' else [item, {**item, 'sk': {'N': '9'}}]\n"
    pipeline = build_pipeline((), user(source), Table())
    assert pipeline is not None
    counts = WriteCounts()
    assert pipeline.apply(record({**ITEM, "sk": {"N": "2"}}), counts) == []
    results = pipeline.apply(record(ITEM, line=7), counts)
    assert [(r.line, r.attributes["sk"]) for r in results] == [(7, {"N": "1"}), (7, {"N": "9"})]
    assert (counts.items_transformed, counts.items_fanned_out) == (1, 1)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("def transform(item)\n", "t.py:1: "),
        ("import nothing_of_that_name\n", "t.py: running it raised ModuleNotFoundError"),
        ("x = 1\n", "t.py: defines no function transform(item)"),
        ("def transform(item): return item\ntransform_key = 3\n", "transform_key is not a function"),
    ],
)
def test_a_file_that_cannot_be_loaded_is_one_line(source: str, message: str) -> None:
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        user(source)


def test_a_key_change_without_transform_key_is_refused_on_the_sample() -> None:
    pipeline = build_pipeline((), user("def transform(item):\n    return {**item, 'sk': {'N': '5'}}\n"), Table())
    assert pipeline is not None
    with pytest.raises(InputError, match="defines no transform_key"):
        pipeline.check_keys_kept(record(ITEM), "f:1")


def test_start_sends_the_options_as_the_execution_input() -> None:
    args = build_parser().parse_args(
        ["start", "s3://b/e/", "--stack-name", "s", "--drop-attribute", "a", "--drop-attribute", "b"]
        + ["--rename-attribute", "c=d", "--transform", "s3://b/t/fan.py"]
    )
    assert execution_input(args, "b") == {
        "transform": {"drop": ["a", "b"], "rename": {"c": "d"}},
        "transformKey": "t/fan.py",
    }
    args.transform = "local.py"
    with pytest.raises(InputError, match="in AWS the file must be in S3, in the export bucket"):
        execution_input(args, "b")
