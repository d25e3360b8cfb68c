"""The output store (``assay.objects``): the same behaviour on a folder and on S3 (moto)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from assay.broker.storage import reset_s3_clients
from assay.errors import ConfigError, InvalidObjectKey, ObjectNotFound, StorageError
from assay.objects import LocalObjects, ObjectRemover, ObjectStore, open_objects
from assay.objects.s3 import PART, S3Objects
from motoserver import moto_server

AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_EC2_METADATA_DISABLED": "true"}


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    saved = {k: os.environ.get(k) for k in AWS_ENV}
    os.environ.update(AWS_ENV)
    reset_s3_clients()
    try:
        with moto_server(log_path=tmp_path_factory.mktemp("moto") / "moto.log") as url:
            boto3.client("s3", endpoint_url=url, region_name="us-east-1").create_bucket(
                Bucket="outputs")
            yield url
    finally:
        reset_s3_clients()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "local":
        return open_objects("file://var/objects", base=tmp_path)
    endpoint = request.getfixturevalue("moto")
    return open_objects(f"s3://outputs/{tmp_path.name}/jobs", base=tmp_path,
                        endpoint_url=endpoint)


def test_put_get_exists(store: ObjectStore, tmp_path: Path) -> None:
    store.put("runs/1/output.ipynb", b'{"cells": []}')
    source = tmp_path / "log.txt"
    source.write_bytes(b"line\n" * 1000)
    store.put("runs/1/run.log", source)
    assert store.get("runs/1/output.ipynb") == b'{"cells": []}'
    assert store.get("runs/1/run.log") == source.read_bytes()
    assert store.exists("runs/1/run.log")
    assert not store.exists("runs/1/output.html")
    store.put("runs/1/output.ipynb", b"replaced")
    assert store.get("runs/1/output.ipynb") == b"replaced"
    with pytest.raises(ObjectNotFound, match="runs/2/x"):
        store.get("runs/2/x")


def test_list_by_prefix(store: ObjectStore) -> None:
    for key in ("runs/1/a.ipynb", "runs/1/b.log", "runs/10/a.ipynb", "jobs/x.ipynb"):
        store.put(key, b"x")
    assert store.list() == ["jobs/x.ipynb", "runs/1/a.ipynb", "runs/1/b.log",
                            "runs/10/a.ipynb"]
    assert store.list("runs/1/") == ["runs/1/a.ipynb", "runs/1/b.log"]
    assert store.list("runs/1") == ["runs/1/a.ipynb", "runs/1/b.log", "runs/10/a.ipynb"]
    assert store.list("nothing/") == []


def test_delete_removes_one_object_and_says_whether_it_was_there(store, tmp_path) -> None:
    for key in ("models/m/2/model.skops", "models/m/20/model.skops"):
        store.put(key, b"x")
    assert isinstance(store, ObjectRemover)
    assert store.delete("models/m/2/model.skops") is True
    assert store.delete("models/m/2/model.skops") is False
    assert store.list("models/") == ["models/m/20/model.skops"]
    if not isinstance(store, S3Objects):  # emptied folders go too, the root stays
        root = tmp_path / "var/objects"
        assert not (root / "models/m/2").exists() and (root / "models/m/20").is_dir()
        assert store.delete("models/m/20/model.skops") and root.is_dir()
        assert not (root / "models").exists()
    for bad in ("../outside", "/etc/passwd", "a/../b"):
        with pytest.raises(InvalidObjectKey):
            store.delete(bad)


@pytest.mark.parametrize("key", ["", "/etc/passwd", "../x", "a/../b", "a//b", "a/./b", "a/",
                                 ".hidden", "a/.b", "sp ace", "ünï", "a\\b", "a\x00b",
                                 "x" * 1025, None])
def test_bad_keys_are_refused_clearly(store: ObjectStore, key: object) -> None:
    with pytest.raises(InvalidObjectKey, match="Invalid object key"):
        store.put(key, b"x")  # type: ignore[arg-type]
    with pytest.raises(InvalidObjectKey):
        store.get(key)  # type: ignore[arg-type]


@pytest.mark.parametrize("prefix", ["../", "/abs", "a//", "a b"])
def test_bad_prefixes_are_refused(store: ObjectStore, prefix: str) -> None:
    with pytest.raises(InvalidObjectKey):
        store.list(prefix)


def test_local_files_are_where_the_url_says(tmp_path: Path) -> None:
    store = open_objects("file://var/objects", base=tmp_path)
    assert isinstance(store, LocalObjects)
    store.put("runs/1/x", b"1")
    assert (tmp_path / "var/objects/runs/1/x").read_bytes() == b"1"
    absolute = open_objects(f"file://{tmp_path}/abs", base=Path("/nowhere"))
    absolute.put("k", b"2")
    assert (tmp_path / "abs/k").read_bytes() == b"2"
    assert [p.name for p in (tmp_path / "var/objects/runs/1").iterdir()] == ["x"]  # no temp


def test_s3_keys_are_under_the_prefix(moto: str, tmp_path: Path) -> None:
    store = open_objects("s3://outputs/pre/fix/", base=tmp_path, endpoint_url=moto)
    assert isinstance(store, S3Objects)
    store.put("runs/1/x", b"1")
    raw = boto3.client("s3", endpoint_url=moto, region_name="us-east-1")
    assert raw.get_object(Bucket="outputs", Key="pre/fix/runs/1/x")["Body"].read() == b"1"
    raw.put_object(Bucket="outputs", Key="pre/fix/odd//key", Body=b"")
    assert "odd//key" not in store.list()


def test_s3_failures_name_no_location(moto: str, tmp_path: Path) -> None:
    store = open_objects("s3://no-such-bucket/p", base=tmp_path, endpoint_url=moto)
    with pytest.raises(StorageError) as caught:
        store.put("k", b"1")
    assert "no-such-bucket" not in caught.value.user_message
    assert "no-such-bucket" in caught.value.log_detail


def held(store: ObjectStore, tmp_path: Path) -> list[str]:
    """Everything the store holds, hidden temporary files and unfinished multipart
    uploads included (keys relative to the store)."""
    if isinstance(store, S3Objects):
        raw = store._client  # noqa: SLF001
        keys = [o["Key"].removeprefix(store.prefix) for o in raw.list_objects_v2(
            Bucket=store.bucket, Prefix=store.prefix).get("Contents", [])]
        open_uploads = raw.list_multipart_uploads(Bucket=store.bucket,
                                                  Prefix=store.prefix).get("Uploads", [])
        return sorted(keys + [f"multipart:{u['Key'].removeprefix(store.prefix)}"
                              for u in open_uploads])
    root = tmp_path / "var/objects"
    return sorted(str(Path(d, f).relative_to(root)) for d, _, files in os.walk(root)
                  for f in files)


def test_a_writer_shows_nothing_until_commit_then_the_whole_object(store, tmp_path):
    store.put("runs/1/out.bin", b"old")
    writer = store.open_writer("runs/1/out.bin")
    for piece in (b"a" * 1000, b"", b"b" * 5000):
        writer.write(piece)
    assert store.get("runs/1/out.bin") == b"old"  # the old object until commit
    writer.commit()
    writer.abort()  # a no-op after commit
    assert store.get("runs/1/out.bin") == b"a" * 1000 + b"b" * 5000
    assert held(store, tmp_path) == ["runs/1/out.bin"]  # no temporary file left


def test_an_aborted_writer_leaves_nothing(store, tmp_path):
    writer = store.open_writer("runs/2/out.bin")
    writer.write(b"x" * (PART + 1))  # past one part: S3 has started a multipart upload
    if isinstance(store, S3Objects):
        assert held(store, tmp_path) == ["multipart:runs/2/out.bin"]
    writer.abort()
    writer.abort()  # idempotent
    assert not store.exists("runs/2/out.bin")
    assert held(store, tmp_path) == []
    with pytest.raises(StorageError):
        writer.commit()  # a local writer's file is gone; S3 refuses a finished writer


def test_a_writer_sends_more_than_one_part_as_a_multipart_upload(store, tmp_path):
    data = os.urandom(1 << 20) * 2 * (PART >> 20) + b"tail"  # two full parts and a bit
    writer = store.open_writer("models/m/1/model.skops")
    for i in range(0, len(data), 300_000):
        writer.write(data[i:i + 300_000])
    writer.commit()
    assert store.get("models/m/1/model.skops") == data
    assert held(store, tmp_path) == ["models/m/1/model.skops"]
    if isinstance(store, S3Objects):  # an S3 multipart ETag ends in -<parts>
        head = store._client.head_object(  # noqa: SLF001
            Bucket=store.bucket, Key=store.prefix + "models/m/1/model.skops")
        assert head["ETag"].strip('"').endswith("-3")
        small = store.open_writer("small")
        small.write(b"one part")
        small.commit()
        assert "-" not in store._client.head_object(  # noqa: SLF001
            Bucket=store.bucket, Key=store.prefix + "small")["ETag"]  # one PutObject


def test_a_failing_s3_writer_aborts_its_upload(moto: str, tmp_path: Path) -> None:
    store = open_objects("s3://no-such-bucket/p", base=tmp_path, endpoint_url=moto)
    writer = store.open_writer("k")
    with pytest.raises(StorageError) as caught:
        writer.write(b"x" * PART)
    assert "no-such-bucket" not in caught.value.user_message
    assert "no-such-bucket" in caught.value.log_detail
    writer.abort()  # already aborted: nothing to do, no error


@pytest.mark.parametrize("url", ["ftp://x", "file://", "s3://", "var/objects"])
def test_bad_urls_are_config_errors(url: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="storage.url"):
        open_objects(url, base=tmp_path)
