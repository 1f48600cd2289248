"""A user's transform file: Python source defining `transform(item)` and, optionally, `transform_key(key)`.

The source is run as a module of its own (not imported by path: in AWS it comes from S3 as text), once per
process or Lambda container. `transform` takes each item to put as DynamoDB JSON exactly as in the export
(numbers as strings, binaries as base64 strings) and returns an item, a list of items or None (skip it);
`transform_key` takes a delete's key the same way and returns a key or None. What they return is checked by
pipeline.py like any record; what they raise becomes a reject of that record.
"""

from __future__ import annotations

import hashlib
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import InputError

__all__ = ["UserFunctions", "load_user_functions"]

Function = Callable[[dict[str, Any]], Any]


@dataclass(frozen=True)
class UserFunctions:
    name: str  # the file's name or URL, for messages
    transform: Function
    transform_key: Function | None
    digest: str  # sha256 of the source, shown in the plan: which version of the file ran


def load_user_functions(source: str, name: str) -> UserFunctions:
    """Run the file's source and take its functions; InputError with the file (and line) when it cannot be."""
    module = types.ModuleType(name.rsplit("/", 1)[-1].removesuffix(".py").replace(".", "_") or "transform")
    module.__file__ = name
    try:
        exec(compile(source, name, "exec"), module.__dict__)  # noqa: S102  # running the user's code is the point
    except SyntaxError as err:
        raise InputError(f"{name}:{err.lineno}: {err.msg}") from None
    except Exception as err:  # noqa: BLE001  # whatever the file raises, the user reads one line
        raise InputError(f"{name}: running it raised {type(err).__name__}: {err}") from None
    transform = getattr(module, "transform", None)
    transform_key = getattr(module, "transform_key", None)
    if not callable(transform):
        raise InputError(f"{name}: defines no function transform(item)")
    if transform_key is not None and not callable(transform_key):
        raise InputError(f"{name}: transform_key is not a function")
    return UserFunctions(name, transform, transform_key, hashlib.sha256(source.encode()).hexdigest()[:12])
