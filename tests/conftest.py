"""Fixtures shared by the test tiers: fake AWS credentials, moto, a real dynalite server, tables, exports.

`tests/` is on sys.path (pytest's `pythonpath`), so helpers import as `support.*`; tests import nothing from here
or from each other. The tiers are folders, marked by folder: `unit/` (no server), `functional/` (moto, dynalite),
`e2e/` (the CLI, the state machines, the demo): `pytest -m unit` runs one tier.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from moto import mock_aws

from support.dynalite import Dynalite
from support.moto_tables import thread_safe_tables


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test may reach real AWS: fake credentials, a region, and no profile or endpoint from the caller.
    Each test runs in its own folder, so default outputs (rejects-<time>.jsonl) stay out of the repo."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("AWS_ENDPOINT_URL") or name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")


@pytest.fixture
def moto() -> Iterator[None]:
    with mock_aws(), thread_safe_tables():
        yield


@pytest.fixture(scope="session")
def dynalite_server() -> Iterator[Dynalite]:
    with Dynalite() as server:
        yield server


@pytest.fixture
def dynalite(dynalite_server: Dynalite, monkeypatch: pytest.MonkeyPatch) -> str:
    """The endpoint of a real DynamoDB server (dynalite), also set as AWS_ENDPOINT_URL_DYNAMODB."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynalite_server.endpoint)
    return dynalite_server.endpoint


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with its tier, the folder it is in."""
    for item in items:
        tier = item.path.parent.name
        if tier in ("unit", "functional", "e2e"):
            item.add_marker(getattr(pytest.mark, tier))
