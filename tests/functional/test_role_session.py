"""clients.role_session: the writer's cross-account role, assumed through STS with refreshable credentials."""

from __future__ import annotations

import json

import boto3
from botocore.credentials import RefreshableCredentials

from ddb_restore.aws.handlers import _common
from ddb_restore.write.clients import dynamodb_client, role_session
from support.sample import create_sample_table

TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
}


def make_role() -> str:
    iam = boto3.client("iam")
    return iam.create_role(RoleName="Writer", AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]


def test_the_session_acts_as_the_role_with_refreshable_credentials(moto: None) -> None:
    session = role_session(make_role(), "ddb-restore-writer")

    identity = session.client("sts").get_caller_identity()
    credentials = session.get_credentials()

    assert identity["Arn"].endswith(":assumed-role/Writer/ddb-restore-writer")
    assert isinstance(credentials, RefreshableCredentials) and credentials.method == "assume-role"
    assert credentials.get_frozen_credentials().access_key != "testing"  # not this process's own keys


def test_the_handlers_write_through_the_role_when_one_is_set(moto: None) -> None:
    create_sample_table(boto3.client("dynamodb"), "Orders")
    _common.dynamodb_as.cache_clear()
    client = _common.dynamodb_as(make_role())
    tokens: list[bytes] = []
    client.meta.events.register(
        "before-send.dynamodb.PutItem", lambda request, **_: tokens.append(request.headers["X-Amz-Security-Token"])
    )

    client.put_item(TableName="Orders", Item={"pk": {"S": "a"}, "sk": {"N": "1"}})

    assert tokens and tokens[0] != b"testing"  # signed with the role's session, not this process's own
    assert dynamodb_client().get_item(TableName="Orders", Key={"pk": {"S": "a"}, "sk": {"N": "1"}})["Item"]
    _common.dynamodb_as.cache_clear()
