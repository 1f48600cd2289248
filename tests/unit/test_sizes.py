"""sizes.py: the check-and-size walk sizes items by DynamoDB's rules and refuses what is not DynamoDB JSON.

What the walk accepts, against records.py's explaining walk, is fuzzed in test_fuzz.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ddb_restore.export import sizes


def test_the_walk_runs_from_its_source() -> None:
    """A compiled copy beside sizes.py (left by the old mypyc build) would be imported instead of the source."""
    assert Path(sizes.__file__).name == "sizes.py", f"delete {sizes.__file__}: a stale compiled copy of sizes.py"


@pytest.mark.parametrize(
    ("item", "size"),
    [
        ({"n": {"N": "-0012.3400"}}, 1 + 3),  # significant digits 1234: (4 + 1) // 2 + 1
        ({"s": {"S": "日本"}, "b": {"B": "AAEC"}}, 1 + 6 + 1 + 3),
        ({"l": {"L": [{"NULL": True}, {"M": {"x": {"BOOL": False}}}]}}, 1 + 3 + 2 + 1 + (3 + 1 + 1)),
    ],
)
def test_an_item_is_sized_by_dynamodbs_rules(item: dict[str, object], size: int) -> None:
    assert sizes.measure(item) == size


@pytest.mark.parametrize(
    "bad", [[], "x", {"a": {"S": 1}}, {"a": {"N": "1e"}}, {"a": {"L": {}}}, {"a": {"S": "x", "N": "1"}}]
)
def test_what_is_not_dynamodb_json_is_refused(bad: object) -> None:
    with pytest.raises(sizes.Invalid):
        sizes.measure(bad)
