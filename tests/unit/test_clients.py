"""clients.py: the DynamoDB client is made without listing every service botocore knows, from the same models
(read with orjson)."""

from __future__ import annotations

import gzip
import json
import math
import os
from pathlib import Path
from typing import Any

import botocore
import botocore.session
import pytest

from ddb_restore.write.clients import _dynamodb_session, dynamodb_client

BUILTIN_DATA = Path(botocore.__file__).parent / "data"


def test_making_the_client_lists_only_dynamodbs_folders(monkeypatch: pytest.MonkeyPatch) -> None:
    listed: list[Path] = []
    listdir = os.listdir

    def recording(path: Any = ".") -> list[str]:
        listed.append(Path(os.fsdecode(path)))
        return listdir(path)

    monkeypatch.setattr(os, "listdir", recording)
    client = dynamodb_client()

    assert client.meta.service_model.service_name == "dynamodb"
    in_data = [p for p in listed if p.is_relative_to(BUILTIN_DATA)]
    assert in_data, "botocore's data folder was not read at all: the test no longer sees the loader"
    assert BUILTIN_DATA not in in_data  # the ~420 service folders are not listed
    assert all(p.is_relative_to(BUILTIN_DATA / "dynamodb") for p in in_data), in_data


def model_on_data_path(monkeypatch: pytest.MonkeyPatch, folder: Path, **metadata: Any) -> None:
    """botocore's DynamoDB model with these metadata changed, in `folder`, put on AWS_DATA_PATH."""
    version = folder / "dynamodb" / "2012-08-10"
    version.mkdir(parents=True)
    with gzip.open(BUILTIN_DATA / "dynamodb" / "2012-08-10" / "service-2.json.gz") as f:
        model = json.load(f)
    model["metadata"].update(metadata)
    (version / "service-2.json").write_text(json.dumps(model))  # NaN written as the json module's NaN
    monkeypatch.setenv("AWS_DATA_PATH", str(folder))


def test_models_on_aws_data_path_still_come_first(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """AWS_DATA_PATH (and ~/.aws/models) are searched before botocore's own models, as botocore's loader does."""
    model_on_data_path(monkeypatch, tmp_path, serviceFullName="DynamoDB, as AWS_DATA_PATH has it")

    client = dynamodb_client()

    assert client.meta.service_model.metadata["serviceFullName"] == "DynamoDB, as AWS_DATA_PATH has it"


@pytest.mark.parametrize(
    "name",
    [
        "service-2",
        "endpoints",
        "partitions",
        "sdk-default-configuration",
        "_retry",
        "dynamodb/2012-08-10/endpoint-rule-set-1",
    ],
)
def test_the_models_read_with_orjson_equal_botocores_own(name: str) -> None:
    """The data files botocore reads to make the client: the same content as botocore's own loader gives."""
    ours = _dynamodb_session().get_component("data_loader")
    theirs = botocore.session.get_session().get_component("data_loader")

    if name == "service-2":
        assert ours.load_service_model("dynamodb", name) == theirs.load_service_model("dynamodb", name)
    else:
        assert ours.load_data(name) == theirs.load_data(name)


def test_a_model_orjson_refuses_is_read_by_botocores_loader(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The json module takes NaN; orjson refuses it. Such a file still loads, whole, through botocore's loader."""
    model_on_data_path(monkeypatch, tmp_path, serviceFullName="DynamoDB with a NaN", weight=math.nan)

    client = dynamodb_client()

    assert client.meta.service_model.metadata["serviceFullName"] == "DynamoDB with a NaN"
    assert math.isnan(client.meta.service_model.metadata["weight"])
