"""sizes.py as installed: compiled by mypyc where a C compiler was there (setup.py), never older than its source.

What the walk accepts and how it sizes an item is checked in test_fuzz.py and test_records.py, against both the
installed copy and the source (support/walks.py). These tests check the build itself: that the copy the writer
runs is the compiled one the benchmarks measure, and that it was built from the source as it now stands.
"""

from __future__ import annotations

import inspect
import os
import shutil
import sysconfig
from pathlib import Path

import pytest

from ddb_restore.export import sizes
from support.walks import COMPILED, SOURCE

SOURCE_PATH = Path(SOURCE.__file__)


@pytest.mark.skipif(shutil.which(sysconfig.get_config_var("CC").split()[0]) is None, reason="no C compiler here")
def test_the_installed_walk_is_the_compiled_one_where_a_compiler_is_there() -> None:
    assert COMPILED, f"sizes.py was not compiled at install ({sizes.__file__}): see setup.py"
    assert Path(sizes.__file__).name.startswith("sizes.") and sizes.__file__.endswith(".so")


def test_the_source_copy_runs_as_python() -> None:
    """support/walks.py's second copy is the interpreted one the Lambda functions run, not the compiled again."""
    assert inspect.isfunction(SOURCE.measure) and SOURCE.__file__ == str(SOURCE_PATH)
    assert SOURCE_PATH.name == "sizes.py"


@pytest.mark.skipif(not COMPILED, reason="sizes.py runs from its source")
def test_the_compiled_walk_is_not_older_than_its_source() -> None:
    """An edited sizes.py with the old compiled copy beside it would test and run the old walk."""
    built = os.path.getmtime(sizes.__file__)
    assert built >= os.path.getmtime(SOURCE_PATH), (
        "sizes.py changed after it was compiled: run `make` (or `pip install -e .`) to compile it again"
    )


@pytest.mark.parametrize(
    ("item", "size"),
    [
        ({"n": {"N": "-0012.3400"}}, 1 + 3),  # significant digits 1234: (4 + 1) // 2 + 1
        ({"s": {"S": "日本"}, "b": {"B": "AAEC"}}, 1 + 6 + 1 + 3),
        ({"l": {"L": [{"NULL": True}, {"M": {"x": {"BOOL": False}}}]}}, 1 + 3 + 2 + 1 + (3 + 1 + 1)),
    ],
)
def test_both_copies_size_an_item_alike(item: dict[str, object], size: int) -> None:
    assert sizes.measure(item) == SOURCE.measure(item) == size


@pytest.mark.parametrize(
    "bad", [[], "x", {"a": {"S": 1}}, {"a": {"N": "1e"}}, {"a": {"L": {}}}, {"a": {"S": "x", "N": "1"}}]
)
def test_both_copies_refuse_what_is_not_dynamodb_json(bad: object) -> None:
    with pytest.raises(sizes.Invalid):
        sizes.measure(bad)
    with pytest.raises(SOURCE.Invalid):
        SOURCE.measure(bad)
