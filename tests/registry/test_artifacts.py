"""Artifact bytes in the object store: hashed while streamed into the store's writer,
published under ``models/{name}/{N}/{path}``, streamed back; on a local folder and on
S3 (moto). ``Pipeline``: the service's hand-off to a worker thread, bounded."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from assay.broker.storage import reset_s3_clients
from assay.errors import InvalidObjectKey, ObjectNotFound
from assay.objects import ObjectStore, open_objects
from assay.objects.s3 import PART, S3Objects
from assay.registry.artifacts import Pipeline, Upload, artifact_key, open_artifact
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


def left_behind(store: ObjectStore, tmp_path: Path) -> list[str]:
    """Everything the store holds: files (temporary ones too) or objects and unfinished
    multipart uploads."""
    if isinstance(store, S3Objects):
        client = store._client  # noqa: SLF001
        keys = [o["Key"].removeprefix(store.prefix) for o in client.list_objects_v2(
            Bucket=store.bucket).get("Contents", [])]
        uploads = client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", [])
        return keys + [f"multipart:{u['Key']}" for u in uploads]
    root = tmp_path / "objects"
    return sorted(str(Path(d, f).relative_to(root)) for d, _, files in os.walk(root)
                  for f in files)


def upload(store: ObjectStore, key: str, pieces: list[bytes], limit: int) -> Upload:
    up = Upload(store, key, limit)
    for piece in pieces:
        up.write(piece)
    return up


def test_upload_is_hashed_published_and_streamed_back(store, tmp_path):
    key = artifact_key("churn", 3, "weights/model.skops")
    assert key == "models/churn/3/weights/model.skops"
    up = upload(store, key, [DATA[:1000], DATA[1000:]], len(DATA))
    assert not up.overflow and up.sha256 == hashlib.sha256(DATA).hexdigest()
    assert not store.exists(key)  # nothing visible before publish
    up.publish()
    size, chunks = open_artifact(store, key)
    assert size == len(DATA) and b"".join(chunks) == DATA
    assert store.list("models/") == [key]
    assert left_behind(store, tmp_path) == [key]  # no temporary file beside it


def test_overflow_writes_nothing_more_and_abort_leaves_nothing(store, tmp_path):
    up = upload(store, artifact_key("churn", 1, "m"), [b"x" * 10, b"y" * 10], 15)
    assert up.overflow and up.size == 20
    up.abort()
    with pytest.raises(ObjectNotFound):
        open_artifact(store, artifact_key("churn", 1, "m"))
    assert left_behind(store, tmp_path) == []


def test_a_multipart_upload_aborted_midway_leaves_nothing(store, tmp_path):
    up = upload(store, artifact_key("churn", 2, "m"), [b"z" * (PART + 1000)] * 2,
                3 * PART)
    assert not store.exists(artifact_key("churn", 2, "m"))
    if isinstance(store, S3Objects):  # parts sent, the object not yet there
        assert left_behind(store, tmp_path) == [f"multipart:{store.prefix}models/churn/2/m"]
    up.abort()
    up.abort()  # idempotent
    assert left_behind(store, tmp_path) == []


def test_pipeline_hashes_in_order_with_bounded_queue_then_publishes(store, tmp_path):
    key = artifact_key("churn", 4, "model.skops")
    pieces = [DATA[i:i + 7000] for i in range(0, len(DATA), 7000)]
    waited = 0

    async def main() -> Pipeline:
        nonlocal waited
        pipe = Pipeline(Upload(store, key, len(DATA)), max_queued=20_000, batch=10_000)
        for piece in pieces:
            pending = pipe.feed(piece)
            if pending is not None:
                waited += 1
                await pending
            assert pipe._queued <= 20_000 + 10_000 + 7000  # noqa: SLF001
        await pipe.publish()
        return pipe

    pipe = asyncio.run(main())
    assert waited > 0  # the worker lagged at least once and feed() said so
    assert pipe.upload.sha256 == hashlib.sha256(DATA).hexdigest()
    assert b"".join(open_artifact(store, key)[1]) == DATA
    assert pipe.abort() is None  # already closed: nothing to drop
    assert left_behind(store, tmp_path) == [key]


def test_pipeline_abort_leaves_nothing(store, tmp_path):
    key = artifact_key("churn", 5, "model.skops")

    async def main() -> None:
        pipe = Pipeline(Upload(store, key, 4 * PART))
        for _ in range(3):
            pending = pipe.feed(b"q" * (PART // 2 + 1))
            if pending is not None:
                await pending
        done = pipe.abort()
        assert done is not None
        await asyncio.wrap_future(done)
        assert pipe.feed(b"late") is None  # ignored after the abort

    asyncio.run(main())
    assert not store.exists(key)
    assert left_behind(store, tmp_path) == []


def test_keys_are_checked():
    with pytest.raises(InvalidObjectKey):
        artifact_key("churn", 1, "../../etc/passwd")
