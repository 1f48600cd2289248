"""`make demo` stays true: the demo script restores both ways and says each table matches."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

DEMO = Path(__file__).resolve().parents[2] / "demo" / "demo.py"


def test_the_demo_restores_with_the_cli_and_the_state_machines_and_both_tables_match() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    done = subprocess.run([sys.executable, str(DEMO)], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "table Orders-cli matches the exports: 305 items, every attribute equal" in done.stdout
    assert "table Orders matches the exports: 305 items, every attribute equal" in done.stdout
    # Each act ends with ddb-restore's own verify: `verify` after `run`, `start --verify` in the state machines.
    verified = "verified: 305 of 305 items equal; 0 missing, 0 different, 0 extra (in the table, not in the exports)"
    assert done.stdout.count(verified) == 2
    assert "equals arn:aws:dynamodb:us-east-1:123456789012:table/Orders-live as of" in done.stdout  # act 3: migrate
    assert "table Orders-moved matches the exports" in done.stdout
    assert "Traceback" not in done.stderr
