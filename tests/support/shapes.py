"""What tests expect the parser to hand to botocore, written independently of records.py."""

from __future__ import annotations

import base64
from typing import Any


def as_sent(value: Any) -> Any:
    """An export attribute value as botocore's low-level client takes it: B and BS as bytes, the rest as is."""
    if isinstance(value, dict) and len(value) == 1:
        ((tag, inner),) = value.items()
        if tag == "B":
            return {"B": base64.b64decode(inner)}
        if tag == "BS":
            return {"BS": [base64.b64decode(b) for b in inner]}
        if tag == "L":
            return {"L": [as_sent(v) for v in inner]}
        if tag == "M":
            return {"M": {k: as_sent(v) for k, v in inner.items()}}
    return value


def as_sent_map(item: dict[str, Any]) -> dict[str, Any]:
    return {name: as_sent(value) for name, value in item.items()}
