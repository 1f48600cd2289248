"""Transforms on the way in: built-ins (drop, mask, rename) and a user's file, on the records' own DynamoDB JSON.

builtins (the three built-in steps and their refusals against the table's and GSIs' keys), userfile (loading a
user's `transform`/`transform_key` from a .py file's source), pipeline (the built-ins then the file's functions,
applied to one Record, with the results checked and re-serialised like any record), options (the CLI options
and the execution input's "transform" object, both turned into one spec).
May import: ddb_restore.errors, ddb_restore.export. Not write/, restore/, aws/ nor cli.
"""

from .builtins import Step, TransformSpec, parse_spec
from .pipeline import Pipeline, build_pipeline, record_key_names
from .userfile import UserFunctions, load_user_functions

__all__ = [
    "Pipeline",
    "Step",
    "TransformSpec",
    "UserFunctions",
    "build_pipeline",
    "load_user_functions",
    "parse_spec",
    "record_key_names",
]
