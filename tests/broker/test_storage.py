"""The storage layer: the same behaviour from a local folder and from S3 (moto server)."""

from __future__ import annotations

import hashlib
import hmac
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import boto3
import httpx
import pytest
from botocore.config import Config

from assay.broker.storage import (
    CHUNK_SIZE,
    LocalStore,
    ObjectInfo,
    ObjectStore,
    open_store,
    s3_client,
)
from assay.broker.storage.paths import MAX_PATH_LENGTH, clean_path
from assay.broker.storage.s3 import S3Store
from assay.config.catalog import DataCatalog, Dataset, S3Settings
from assay.errors import InvalidPath, NotFound, RangeNotSatisfiable, StorageError

FILES = {
    "a.csv": b"id,value\n1,2\n",
    "sub/b.txt": b"0123456789",
    "sub/deeper/c.bin": bytes(range(256)),
    "empty.dat": b"",
    "données/é.csv": "naïve\n".encode(),
}
SIBLING = {"secret.csv": b"do not leak"}  # in the sibling location 'ds-evil'
PREFIX = "datasets/ds"

MakeStore = Callable[[dict[str, bytes]], ObjectStore]


def _dataset(location: str) -> Dataset:
    return Dataset(name="ds", classification="internal", location=location, approver="admins")


@pytest.fixture(params=["local", "s3"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def s3(s3_endpoint: str):
    """A boto3 client on moto and a fresh bucket name."""
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1",
                          config=Config(s3={"addressing_style": "path"}))
    bucket = f"assay-test-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    return client, bucket


@pytest.fixture
def make_store(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> MakeStore:
    """``make_store(files)``: the dataset 'ds' holding ``files``, through ``open_store``;
    a sibling location 'ds-evil' holds a secret."""

    def make(files: dict[str, bytes]) -> ObjectStore:
        if backend == "local":
            data_root = tmp_path / "data"
            for folder, content in ((data_root / "ds", files), (data_root / "ds-evil", SIBLING)):
                folder.mkdir(parents=True, exist_ok=True)
                for rel, data in content.items():
                    (folder / rel).parent.mkdir(parents=True, exist_ok=True)
                    (folder / rel).write_bytes(data)
            return open_store(_dataset("ds"), DataCatalog(), data_root=data_root)
        client, bucket = request.getfixturevalue("s3")
        endpoint = request.getfixturevalue("s3_endpoint")
        for prefix, content in ((PREFIX, files), (PREFIX + "-evil", SIBLING)):
            for rel, data in content.items():
                client.put_object(Bucket=bucket, Key=f"{prefix}/{rel}", Body=data)
        catalog = DataCatalog(s3=S3Settings(endpoint_url=endpoint))
        return open_store(_dataset(f"s3://{bucket}/{PREFIX}"), catalog,
                          data_root=tmp_path / "unused")

    return make


@pytest.fixture
def store(make_store: MakeStore) -> ObjectStore:
    return make_store(FILES)


def test_open_store_picks_backend(store: ObjectStore, backend: str) -> None:
    assert isinstance(store, LocalStore if backend == "local" else S3Store)


def test_list(store: ObjectStore) -> None:
    expected = sorted((ObjectInfo(p, len(d)) for p, d in FILES.items()), key=lambda o: o.path)
    assert store.list() == expected


def test_stat(store: ObjectStore) -> None:
    assert store.stat("sub/b.txt") == ObjectInfo("sub/b.txt", 10)
    assert store.stat("données/é.csv").size == len(FILES["données/é.csv"])
    assert store.stat("empty.dat").size == 0


@pytest.mark.parametrize("path", ["missing.csv", "sub/missing", "sub", "sub/deeper",
                                  "a.csv/x", "secret.csv"])
def test_not_found(store: ObjectStore, path: str) -> None:
    with pytest.raises(NotFound):
        store.stat(path)
    with pytest.raises(NotFound):  # raised by the call, before any chunk
        store.read(path)


def test_full_read(store: ObjectStore) -> None:
    for path, data in FILES.items():
        assert b"".join(store.read(path)) == data


@pytest.mark.parametrize(("start", "end", "expected"), [
    (0, 1, b"0"),             # first byte
    (3, 7, b"3456"),          # middle
    (9, 10, b"9"),            # last byte
    (9, None, b"9"),          # last byte, open-ended
    (4, None, b"456789"),
    (5, 100, b"56789"),       # end beyond the size is clipped
    (0, 10, b"0123456789"),
    (3, 3, b""),              # empty range
])
def test_ranged_read(store: ObjectStore, start: int, end: int | None, expected: bytes) -> None:
    assert b"".join(store.read("sub/b.txt", start, end)) == expected


@pytest.mark.parametrize(("start", "end"), [(10, None), (10, 20), (11, None), (50, 50)])
def test_range_past_the_end(store: ObjectStore, start: int, end: int | None) -> None:
    with pytest.raises(RangeNotSatisfiable) as caught:
        store.read("sub/b.txt", start, end)
    assert caught.value.size == 10


def test_empty_file_reads_empty(store: ObjectStore) -> None:
    assert b"".join(store.read("empty.dat")) == b""
    assert b"".join(store.read("empty.dat", 0, 5)) == b""


@pytest.mark.parametrize(("start", "end"), [(-1, None), (5, 4)])
def test_bad_range_is_a_programming_error(store: ObjectStore, start: int, end: int) -> None:
    with pytest.raises(ValueError):
        store.read("sub/b.txt", start, end)


def test_large_file_streams_in_chunks(make_store: MakeStore) -> None:
    data = os.urandom(5 * 1024 * 1024 + 123)
    store = make_store({"big.bin": data})
    chunks = list(store.read("big.bin"))
    assert len(chunks) >= 5
    assert max(len(c) for c in chunks) <= CHUNK_SIZE
    assert hashlib.sha256(b"".join(chunks)).digest() == hashlib.sha256(data).digest()
    start, end = CHUNK_SIZE - 7, 3 * CHUNK_SIZE + 11
    assert b"".join(store.read("big.bin", start, end)) == data[start:end]


def test_stream_can_be_closed_early(make_store: MakeStore) -> None:
    store = make_store({"big.bin": bytes(3 * CHUNK_SIZE)})
    with store.read("big.bin") as stream:
        assert len(next(stream)) > 0
    assert list(stream) == []
    store.read("big.bin").close()  # never iterated: still released


TRAVERSALS = [
    "../x", "a/../../x", "../ds-evil/secret.csv", "sub/../../ds-evil/secret.csv",
    "%2e%2e/x", "..%2fx", "%2E%2E%2Fetc", "sub%2fb.txt", "/etc/passwd", "/a.csv",
    "a\\b", "..\\x", "a\x00b", "a\r\nb", "a\nb", "a\tb", ".", "..", "./a.csv", "sub/./b.txt",
    "a//b", "sub/", "", "x" * (MAX_PATH_LENGTH + 1), "a\u202eb", "a\u200bb",
    "e\u0301.csv",  # not NFC
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_traversal_refused(store: ObjectStore, path: str) -> None:
    for call in (store.stat, store.read, lambda p: store.presign(p, 30)):
        with pytest.raises(InvalidPath) as caught:
            call(path)
        message = caught.value.user_message
        assert len(message) < 250
        assert "\x00" not in message and "\n" not in message and "\r" not in message
        assert "/work" not in message and "127.0.0.1" not in message


# -- clean_path ----------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["a.csv", "sub/deeper/c.bin", "données/é.csv", "a b/c-d_e.f",
                                  "100%.csv", "x" * MAX_PATH_LENGTH, "..a/b..", ".hidden"])
def test_clean_path_accepts(path: str) -> None:
    assert clean_path(path) == path


def test_clean_path_message_names_value_safely() -> None:
    with pytest.raises(InvalidPath) as caught:
        clean_path("../" + "y" * 5000)
    assert "'../yyy" in caught.value.user_message
    assert "5003 characters" in caught.value.user_message
    assert len(caught.value.user_message) < 250
    with pytest.raises(InvalidPath) as caught:
        clean_path("a\r\nb")
    assert "'a\\r\\nb'" in caught.value.user_message
    assert caught.value.status_code == 400 and caught.value.error == "invalid_path"


# -- local only: symlinks, siblings, hidden files -----------------------------------------

@pytest.fixture
def local_root(tmp_path: Path) -> Path:
    root = tmp_path / "data" / "ds"
    (root / "sub").mkdir(parents=True)
    (root / "a.csv").write_bytes(b"a")
    (root / ".env").write_bytes(b"SECRET=1")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_bytes(b"x")
    (tmp_path / "data" / "ds-evil").mkdir()
    (tmp_path / "data" / "ds-evil" / "secret.csv").write_bytes(b"do not leak")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "passwd").write_bytes(b"root:x:0:0")
    return root


@pytest.mark.parametrize(("link", "target"), [
    ("leak.txt", "../../outside/passwd"),
    ("sibling.csv", "../ds-evil/secret.csv"),  # string prefix of the root, not inside it
    ("sub/abs.txt", "/etc/passwd"),
])
def test_local_symlink_out_refused(local_root: Path, link: str, target: str) -> None:
    (local_root / link).symlink_to(target)
    store = LocalStore(local_root)
    with pytest.raises(InvalidPath):
        store.stat(link)
    with pytest.raises(InvalidPath):
        store.read(link)
    assert link not in [o.path for o in store.list()]


def test_local_symlinked_folder_out_refused(local_root: Path) -> None:
    (local_root / "evil").symlink_to(local_root.parent / "ds-evil", target_is_directory=True)
    store = LocalStore(local_root)
    with pytest.raises(InvalidPath):
        store.read("evil/secret.csv")
    assert [o.path for o in store.list()] == ["a.csv"]


def test_local_symlinks_inside_are_followed(local_root: Path) -> None:
    (local_root / "sub" / "alias.csv").symlink_to("../a.csv")
    (local_root / "loop").symlink_to(".", target_is_directory=True)
    (local_root / "dangling").symlink_to("nowhere")
    (local_root / "hidden-link").symlink_to(".env")
    store = LocalStore(local_root)
    assert b"".join(store.read("sub/alias.csv")) == b"a"
    assert [o.path for o in store.list()] == ["a.csv", "sub/alias.csv"]
    for path in ("dangling", "hidden-link", "loop"):
        with pytest.raises(NotFound):
            store.stat(path)


def test_local_hidden_files_are_not_served(local_root: Path) -> None:
    store = LocalStore(local_root)
    assert [o.path for o in store.list()] == ["a.csv"]
    for path in (".env", ".git/config"):
        with pytest.raises(NotFound):
            store.read(path)


def test_local_special_files_are_not_files(local_root: Path) -> None:
    os.mkfifo(local_root / "pipe")
    store = LocalStore(local_root)
    with pytest.raises(NotFound):
        store.read("pipe")  # does not block
    assert [o.path for o in store.list()] == ["a.csv"]


def test_local_missing_root(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "nope")
    with pytest.raises(StorageError) as caught:
        store.list()
    assert str(tmp_path) not in caught.value.user_message
    assert str(tmp_path) in caught.value.log_detail
    with pytest.raises(NotFound):
        store.read("a.csv")


def test_local_presign_is_none(local_root: Path) -> None:
    assert LocalStore(local_root).presign("a.csv", 30) is None


# -- S3 only: presigning, odd keys, errors ---------------------------------------------------

def _sigv4_query_signature(url: str, method: str, secret: str) -> str:
    """Recompute the SigV4 query signature of ``url`` as if it were signed for ``method``."""
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    canonical_query = "&".join(
        f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}"
        for k, v in sorted(query.items()) if k != "X-Amz-Signature")
    canonical = "\n".join([method, parts.path, canonical_query, f"host:{parts.netloc}", "",
                           query["X-Amz-SignedHeaders"], "UNSIGNED-PAYLOAD"])
    scope = query["X-Amz-Credential"].split("/", 1)[1]
    to_sign = "\n".join(["AWS4-HMAC-SHA256", query["X-Amz-Date"], scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + secret).encode()
    for part in scope.split("/"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


@pytest.mark.parametrize("ttl", [1, 30, 60])
def test_s3_presign(s3, s3_endpoint: str, ttl: int) -> None:
    client, bucket = s3
    client.put_object(Bucket=bucket, Key=f"{PREFIX}/sub/b.txt", Body=b"0123456789")
    store = S3Store(s3_client(s3_endpoint, "us-east-1"), bucket, PREFIX)
    url = store.presign("sub/b.txt", ttl)
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert f"{parts.scheme}://{parts.netloc}" == s3_endpoint
    assert parts.path == f"/{bucket}/{PREFIX}/sub/b.txt"
    assert query["X-Amz-Expires"] == str(ttl)
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert query["X-Amz-SignedHeaders"] == "host"
    assert query["X-Amz-Credential"].startswith("testing/")
    assert query["X-Amz-Signature"] == _sigv4_query_signature(url, "GET", "testing")
    assert query["X-Amz-Signature"] != _sigv4_query_signature(url, "PUT", "testing")
    response = httpx.get(url, trust_env=False)
    assert response.status_code == 200 and response.content == b"0123456789"


@pytest.mark.parametrize("ttl", [0, -5, 7 * 24 * 3600 + 1, 30.0, True])
def test_s3_presign_bad_ttl(s3, s3_endpoint: str, ttl) -> None:
    store = S3Store(s3_client(s3_endpoint, "us-east-1"), s3[1], PREFIX)
    with pytest.raises(ValueError):
        store.presign("a.csv", ttl)


def test_s3_odd_keys_are_not_listed(s3, s3_endpoint: str) -> None:
    client, bucket = s3
    for key in ("a.csv", "folder/", "a//b", "../x", "sub/./y", "b\\c", "%2e%2e/z"):
        client.put_object(Bucket=bucket, Key=f"{PREFIX}/{key}", Body=b"1")
    client.put_object(Bucket=bucket, Key=f"{PREFIX}x.csv", Body=b"1")  # not under the prefix
    store = S3Store(s3_client(s3_endpoint, "us-east-1"), bucket, PREFIX + "/")
    assert store.list() == [ObjectInfo("a.csv", 1)]


def test_s3_paginates(s3, s3_endpoint: str) -> None:
    client, bucket = s3
    for i in range(1005):  # one page is 1000 keys
        client.put_object(Bucket=bucket, Key=f"{PREFIX}/f{i:04d}", Body=b"")
    store = S3Store(s3_client(s3_endpoint, "us-east-1"), bucket, PREFIX)
    listed = store.list()
    assert len(listed) == 1005 and listed[0].path == "f0000" and listed[-1].path == "f1004"


def test_s3_missing_bucket_is_a_storage_error(s3_endpoint: str) -> None:
    store = S3Store(s3_client(s3_endpoint, "us-east-1"), "assay-no-such-bucket", PREFIX)
    # (HEAD answers a bare 404 for a missing bucket too: stat says NotFound.)
    for call in (store.list, lambda: store.read("a.csv")):
        with pytest.raises(StorageError) as caught:
            call()
        assert "assay-no-such-bucket" not in caught.value.user_message
        assert "127.0.0.1" not in caught.value.user_message
        assert "assay-no-such-bucket" in caught.value.log_detail


def test_s3_unreachable_endpoint_is_a_storage_error(s3_endpoint: str) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    store = S3Store(s3_client(dead, "us-east-1"), "bucket", PREFIX)
    with pytest.raises(StorageError) as caught:
        store.stat("a.csv")
    assert "127.0.0.1" not in caught.value.user_message
    assert caught.value.status_code == 502


def test_s3_clients_are_cached_per_endpoint_and_region(s3_endpoint: str) -> None:
    assert s3_client(s3_endpoint, "us-east-1") is s3_client(s3_endpoint, "us-east-1")
    assert s3_client(s3_endpoint, "eu-west-1") is not s3_client(s3_endpoint, "us-east-1")
    config = s3_client(s3_endpoint, "eu-west-1").meta.config
    assert config.signature_version == "s3v4"
    assert config.s3["addressing_style"] == "path"


def test_s3_credentials_come_from_the_environment(s3_endpoint: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "from-env")
    client = s3_client(s3_endpoint + "/", "us-east-1")
    assert client._request_signer._credentials.access_key == "from-env"
