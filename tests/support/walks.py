"""The two copies of sizes.py's walk that tests run side by side: the installed module (compiled by mypyc when
the package was installed with a C compiler, see setup.py) and its source run as plain Python (as the Lambda
functions run it)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from ddb_restore.export import sizes


def _source_copy() -> ModuleType:
    """sizes.py loaded from its source under another name, whether or not a compiled copy sits beside it."""
    spec = importlib.util.spec_from_file_location(
        "ddb_restore_sizes_source", Path(sizes.__file__).with_name("sizes.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SOURCE = _source_copy()
COMPILED = not sizes.__file__.endswith(".py")
WALKS = [
    pytest.param(sizes, id="installed-compiled" if COMPILED else "installed-source"),
    pytest.param(SOURCE, id="source"),
]
