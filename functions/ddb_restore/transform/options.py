"""The transform options of the commands that write (`run`, `start`, `sync`): one function adds them to a
parser, one builds the pipeline from the parsed arguments (in this process), one the execution input (in AWS).

The three built-in options share one list, so they keep the order they were given in across kinds.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import InputError
from .builtins import Step, spec_of
from .pipeline import Pipeline, TableKeys, build_pipeline
from .userfile import load_user_functions

__all__ = ["add_transform_arguments", "execution_input", "pipeline_from_args"]


class _StepAction(argparse.Action):
    """Appends the option's Step to `transform_steps`, in command-line order."""

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any, option: str | None = None
    ) -> None:
        text = str(values)
        if self.const == "rename":
            old, sep, new = text.partition("=")
            if not (sep and old and new):
                parser.error(f"{option}: give OLD=NEW, got {text!r}")
            step = Step("rename", old, new)
        else:
            step = Step(self.const, text)
        namespace.transform_steps = [*(getattr(namespace, "transform_steps", None) or []), step]


def add_transform_arguments(command: argparse.ArgumentParser) -> None:
    """--transform FILE.py and the repeatable built-ins --drop-attribute, --mask-attribute, --rename-attribute."""
    group = command.add_argument_group("transforms (built-ins first, in the order given, then the file's functions)")
    group.add_argument(
        "--transform",
        metavar="FILE.py",
        help="a Python file with transform(item) -> item | list[item] | None, and optionally transform_key(key) "
        "-> key | None for deletes, on DynamoDB JSON as in the export (for start: s3://EXPORT-BUCKET/KEY)",
    )
    command.set_defaults(transform_steps=[])
    for name, metavar, what in (
        ("drop", "NAME", "remove the top-level attribute NAME"),
        ("mask", "NAME", "mask NAME: each word of a string to its first and last character around *s"),
        ("rename", "OLD=NEW", "rename the top-level attribute OLD to NEW"),
    ):
        group.add_argument(
            f"--{name}-attribute",
            dest=f"transform_{name}_steps",
            const=name,
            metavar=metavar,
            action=_StepAction,
            help=f"{what} (repeatable)",
        )


def _steps(args: argparse.Namespace) -> tuple[Step, ...]:
    steps: Sequence[Step] = getattr(args, "transform_steps", None) or []
    return tuple(steps)


def pipeline_from_args(args: argparse.Namespace, table: TableKeys) -> Pipeline | None:
    """The pipeline the options ask for on `table`; InputError (exit 2, nothing written) when it cannot be."""
    user = None
    if args.transform:
        path = Path(args.transform)
        try:
            source = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise InputError(f"--transform {path}: cannot be read ({err})") from None
        user = load_user_functions(source, str(path))
    return build_pipeline(_steps(args), user, table)


def execution_input(args: argparse.Namespace, export_bucket: str | None) -> dict[str, Any]:
    """The options as the parent execution's input: "transform" (the built-ins) and "transformKey" (the file's
    key in the export bucket, where every function of the stack may read it)."""
    out: dict[str, Any] = {}
    if steps := _steps(args):
        out["transform"] = spec_of(steps)
    if args.transform:
        bucket, _, key = args.transform.removeprefix("s3://").partition("/")
        if not args.transform.startswith("s3://") or not key or (export_bucket and bucket != export_bucket):
            raise InputError(
                f"--transform {args.transform}: in AWS the file must be in S3, in the export bucket under the "
                f"stack's ExportPrefix: s3://{export_bucket or 'EXPORT-BUCKET'}/KEY"
            )
        out["transformKey"] = key
    return out
