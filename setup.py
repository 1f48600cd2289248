"""The package's build: pyproject.toml says what it is; this adds the one compiled module, sizes.py.

sizes.py (the check-and-size walk of every item) is compiled with mypyc, from the same source, when a C compiler
is there: ~40% fewer instructions an item for the walk (bench/writer_cost.py). Without one, the extension is
skipped (`optional`) and the package installs with sizes.py as plain Python, which gives the same results
(tests/test_sizes.py runs both). The Lambda functions are built by `sam build` for another CPU and Python, so
they run the plain module.
"""

from typing import Any

from setuptools import setup


def _compiled() -> list[Any]:
    try:
        from mypyc.build import mypycify
    except ImportError:  # mypy is in the build requirements; a build without it still installs, uncompiled
        return []
    extensions: list[Any] = mypycify(["functions/ddb_restore/export/sizes.py"], opt_level="3")
    for extension in extensions:
        extension.optional = True  # a failed compile (no C compiler) skips the extension instead of failing
    return extensions


setup(ext_modules=_compiled())
