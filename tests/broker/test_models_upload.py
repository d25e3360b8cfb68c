"""Artifact uploads through a real hub, on a local-folder store and on S3 (moto): large
streamed bodies hashed right, and nothing under the artifact key (no temporary file, no
unfinished multipart upload) after an overflow (413) or a client that disconnects
mid-upload. The API's other rules: ``test_models_api.py``."""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import httpx
import pytest
import yaml

from assay.objects.s3 import PART
from hubfixtures import DEMO_YAML
from hubprocess import HubProcess
from modelsapi import Client, hub_token, unique

BUCKET = "models-upload"
AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_EC2_METADATA_DISABLED": "true", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="module")
def s3_hub(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory,
           ) -> Iterator[tuple[HubProcess, object]]:
    """The demo hub with its object store on S3 (moto), and a raw client of that bucket."""
    raw = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    raw.create_bucket(Bucket=BUCKET)
    config = yaml.safe_load(DEMO_YAML.read_text())
    config["storage"] = {"url": f"s3://{BUCKET}/objects"}
    config["data"]["s3"] = {"endpoint_url": moto_endpoint, "region": "us-east-1"}
    hub = HubProcess(tmp_path_factory.mktemp("s3-hub"), yaml.safe_dump(config), env=AWS_ENV)
    hub.start()
    yield hub, raw
    hub.stop()


def local_left(hub: HubProcess, name: str) -> Callable[[], list[str]]:
    """Every file (temporary ones included) under the version's folder of a local store."""
    folder = hub.workdir / "var" / "objects" / "models" / name

    def found() -> list[str]:
        return sorted(str(Path(d, f).relative_to(folder)) for d, _, files in os.walk(folder)
                      for f in files)
    return found


def s3_left(raw: object, name: str) -> Callable[[], list[str]]:
    """Objects and unfinished multipart uploads under the model's prefix (keys relative
    to it, as ``local_left``)."""
    prefix = f"objects/models/{name}/"

    def found() -> list[str]:
        keys = [o["Key"].removeprefix(prefix) for o in raw.list_objects_v2(  # type: ignore[attr-defined]
            Bucket=BUCKET, Prefix=prefix).get("Contents", [])]
        uploads = raw.list_multipart_uploads(  # type: ignore[attr-defined]
            Bucket=BUCKET, Prefix=prefix).get("Uploads", [])
        return sorted(keys + [f"multipart:{u['Key'].removeprefix(prefix)}" for u in uploads])
    return found


def settles_empty(found: Callable[[], list[str]], timeout: float = 20) -> list[str]:
    """What is left once the service had ``timeout`` seconds to clean up."""
    deadline = time.monotonic() + timeout
    while (left := found()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def disconnect_midway(client: Client, rel: str, declared: int, sent: bytes) -> None:
    """A PUT announcing ``declared`` bytes that sends ``sent`` and hangs up."""
    url = urlsplit(client.hub.broker_url + "api/v1/" + rel)
    with socket.create_connection((url.hostname, url.port), timeout=30) as sock:
        head = (f"PUT {url.path} HTTP/1.1\r\nHost: {url.netloc}\r\n"
                f"Authorization: token {client.token}\r\nContent-Length: {declared}\r\n"
                "Content-Type: application/octet-stream\r\n\r\n")
        sock.sendall(head.encode() + sent)
        time.sleep(0.5)  # let the service take (and write) what was sent


def blob(size: int) -> bytes:
    return os.urandom(1 << 20) * (size >> 20) + os.urandom(size % (1 << 20))


@pytest.fixture(params=["local", "s3"])
def where(request: pytest.FixtureRequest, demo_hub: HubProcess,
          ) -> tuple[Client, Callable[[str], Callable[[], list[str]]]]:
    """alice (a plain hub token may register) and what is stored for a model name."""
    if request.param == "local":
        return hub_token(demo_hub, "alice"), lambda name: local_left(demo_hub, name)
    hub, raw = request.getfixturevalue("s3_hub")
    return hub_token(hub, "alice"), lambda name: s3_left(raw, name)


def test_a_large_streamed_upload_is_hashed_and_stored_whole(where):
    alice, left = where
    data = blob(2 * PART + 12345)  # three parts on S3, many batches on either store
    name = unique("large")
    assert alice.start(name, {"model.skops": data}).status_code == 201
    chunks = iter([data[i:i + 300_000] for i in range(0, len(data), 300_000)])
    put = alice("PUT", f"models/{name}/versions/1/files/model.skops", content=chunks)
    assert put.status_code == 200, put.text
    digest = hashlib.sha256(data).hexdigest()
    assert put.json() == {"path": "model.skops", "size": len(data), "sha256": digest}
    assert left(name)() == ["1/model.skops"]  # no temporary file, no open upload
    done = alice("POST", f"models/{name}/versions/1/commit",
                 json={"files": {"model.skops": digest}})
    assert done.status_code == 200, done.text


def test_overflow_is_413_and_stores_nothing(where):
    alice, left = where
    name = unique("over")
    declared = PART + 100
    assert alice.start(name, {"model.skops": b"x" * declared}).status_code == 201
    within_slack = iter([b"x" * PART, b"y" * 200])  # chunked: no Content-Length up front
    over = alice("PUT", f"models/{name}/versions/1/files/model.skops", content=within_slack)
    assert over.status_code == 413 and "declared" in over.json()["message"]
    assert settles_empty(left(name)) == []
    try:  # far past the slack: tornado refuses the body (400) and hangs up, maybe first
        status = alice("PUT", f"models/{name}/versions/1/files/model.skops",
                       content=iter([b"z" * (1 << 20)] * 12)).status_code
    except httpx.TransportError:
        status = None
    assert status in (None, 400, 413)
    assert settles_empty(left(name)) == []
    assert alice("GET", f"models/{name}/versions/1").json()["status"] == "pending"


def test_a_client_that_disconnects_midway_leaves_nothing(where):
    alice, left = where
    name = unique("gone")
    data = blob(3 * PART)
    assert alice.start(name, {"model.skops": data}).status_code == 201
    rel = f"models/{name}/versions/1/files/model.skops"
    disconnect_midway(alice, rel, len(data), data[:PART + PART // 2])  # past one part
    assert settles_empty(left(name)) == []
    again = alice("PUT", rel, content=data)  # the version is still pending: upload again
    assert again.status_code == 200, again.text
    assert again.json()["sha256"] == hashlib.sha256(data).hexdigest()


def test_an_upload_that_outlives_the_commit_cannot_replace_the_artifact(where):
    """A second PUT of a file still streaming when the version is committed is refused at
    its end (409), and the committed bytes stay as their recorded hash says."""
    alice, left = where
    name = unique("late")
    data, other = blob(PART + 1000), blob(PART + 1000)
    rel = f"models/{name}/versions/1/files/model.skops"
    assert alice.start(name, {"model.skops": data}).status_code == 201
    assert alice("PUT", rel, content=data).status_code == 200
    digest = hashlib.sha256(data).hexdigest()
    half_sent, go_on = threading.Event(), threading.Event()

    def slow() -> Iterator[bytes]:
        yield other[:PART]
        half_sent.set()
        go_on.wait(30)
        yield other[PART:]

    with ThreadPoolExecutor(1) as pool:
        late = pool.submit(alice, "PUT", rel, content=slow())
        assert half_sent.wait(30)
        time.sleep(0.3)  # the service has taken the first part
        done = alice("POST", f"models/{name}/versions/1/commit",
                     json={"files": {"model.skops": digest}})
        assert done.status_code == 200, done.text
        go_on.set()
        refused = late.result(60)

    assert refused.status_code == 409, refused.text
    assert "committed meanwhile" in refused.json()["message"]
    got = alice("GET", rel)
    assert got.status_code == 200 and got.headers["X-Assay-Sha256"] == digest
    assert hashlib.sha256(got.content).hexdigest() == digest
    assert settles_empty(lambda: [k for k in left(name)() if k != "1/model.skops"]) == []
