"""Artifact bytes in the object store: hashed while spooled, published under
``models/{name}/{N}/{path}``, streamed back; on a local folder and on S3 (moto)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from assay.broker.storage import reset_s3_clients
from assay.errors import InvalidObjectKey, ObjectNotFound
from assay.objects import ObjectStore, open_objects
from assay.registry.artifacts import SPOOL, Upload, artifact_key, open_artifact
from motoserver import moto_server

DATA = b"0123456789" * 50_000  # 500 kB: several chunks


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[ObjectStore]:
    if request.param == "local":
        yield open_objects("file://objects", base=tmp_path)
        return
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_EC2_METADATA_DISABLED": "true",
                       "AWS_CONFIG_FILE": str(tmp_path / "none"),
                       "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")}.items():
        monkeypatch.setenv(key, value)
    reset_s3_clients()
    with moto_server(log_path=tmp_path / "moto.log") as endpoint:
        objects = open_objects("s3://models-bucket/registry", base=tmp_path,
                               endpoint_url=endpoint)
        objects._client.create_bucket(Bucket="models-bucket")  # noqa: SLF001
        yield objects
    reset_s3_clients()


def upload(store: ObjectStore, key: str, pieces: list[bytes], limit: int) -> Upload:
    up = Upload(store, key, limit)
    for piece in pieces:
        up.write(piece)
    return up


def test_upload_is_hashed_published_and_streamed_back(store):
    key = artifact_key("churn", 3, "weights/model.skops")
    assert key == "models/churn/3/weights/model.skops"
    up = upload(store, key, [DATA[:1000], DATA[1000:]], len(DATA))
    assert not up.overflow and up.sha256 == hashlib.sha256(DATA).hexdigest()
    up.publish()
    assert not up.tmp.exists()
    size, chunks = open_artifact(store, key)
    assert size == len(DATA) and b"".join(chunks) == DATA
    assert store.list("models/") == [key]  # the spool folder stays hidden


def test_overflow_writes_nothing_more_and_abort_leaves_nothing(store, tmp_path):
    up = upload(store, artifact_key("churn", 1, "m"), [b"x" * 10, b"y" * 10], 15)
    assert up.overflow and up.size == 20
    up.abort()
    assert not up.tmp.exists()
    with pytest.raises(ObjectNotFound):
        open_artifact(store, artifact_key("churn", 1, "m"))
    if (tmp_path / "objects").exists():
        assert list((tmp_path / "objects" / SPOOL).iterdir()) == []


def test_keys_are_checked():
    with pytest.raises(InvalidObjectKey):
        artifact_key("churn", 1, "../../etc/passwd")
