"""Tables for the tests: the usual target (pk S + sk N) and clients, shared by every tier."""

from __future__ import annotations

from typing import Any

import boto3

from support.sample import create_sample_table

KEYS = ("pk", "sk")


def create_table(client: Any, name: str = "Target", **extra: Any) -> str:
    """The usual target: pk (S) + sk (N), on demand; `extra` adds GSIs or attribute definitions."""
    return create_sample_table(client, name, **extra)


def dynamodb(endpoint: str | None = None) -> Any:
    return boto3.client("dynamodb", endpoint_url=endpoint)


def point_dynamodb_at(monkeypatch: Any, endpoint: str) -> None:
    """Send the CLI's DynamoDB calls (as a user's environment would) to `endpoint`, with dummy credentials."""
    for name, value in {
        "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
