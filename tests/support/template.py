"""template.yaml as plain data, parsed by cfn-lint's decoder (which understands `!Sub`, `!If` and the rest)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cfnlint.decode

__all__ = ["TEMPLATE", "load_template"]

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    template, matches = cfnlint.decode.decode(str(path))
    assert not matches, f"{path} does not parse: {matches}"
    assert isinstance(template, dict)
    # Plain dicts and strs (cfn-lint's node classes subclass them), so tests can copy and edit it.
    return json.loads(json.dumps(template))
