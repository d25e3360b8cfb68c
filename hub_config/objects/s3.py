"""Objects under ``s3://bucket/prefix`` (AWS or an S3-compatible endpoint).

A writer streams: up to one part it buffers and commits with a single ``PutObject``; past
that it starts a multipart upload and sends 8 MB parts from worker threads while more
bytes arrive (at most ``MAX_IN_FLIGHT`` parts, so memory stays bounded), completing it on
``commit`` and aborting it on any failure or ``abort``: S3 shows nothing under the key
until the upload is complete.
"""

from __future__ import annotations

import logging
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ..errors import ObjectNotFound, StorageError
from .base import ObjectRemover, ObjectStore, ObjectWriter, check_key, check_prefix, is_key

log = logging.getLogger(__name__)
_NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound"})
_FAILED = "The output store failed; try again later or tell an admin."
PART = 8 * 1024 * 1024  # S3: at least 5 MiB per part but the last, at most 10,000 parts
MAX_IN_FLIGHT = 8  # parts being sent at once per writer (8 x 8 MB buffered at most)


class S3Objects(ObjectStore, ObjectRemover):
    """Key ``k`` is the object ``prefix/k`` in ``bucket``. ``client``: a boto3 S3 client
    (``assay.broker.storage.s3_client``)."""

    def __init__(self, client: Any, bucket: str, prefix: str = ""):
        self._client = client
        self.bucket = bucket
        prefix = prefix.strip("/")
        self.prefix = prefix + "/" if prefix else ""

    def _failed(self, exc: Exception, action: str, key: str) -> StorageError:
        code = exc.response.get("Error", {}).get("Code", "") \
            if isinstance(exc, ClientError) else type(exc).__name__
        return StorageError(_FAILED, f"S3 {action} s3://{self.bucket}/{key}: {code}: {exc}")

    def put(self, key: str, data: bytes | Path) -> None:
        full = self.prefix + check_key(key)
        try:
            if isinstance(data, bytes | bytearray | memoryview):
                self._client.put_object(Bucket=self.bucket, Key=full, Body=bytes(data))
            else:
                self._client.upload_file(str(data), self.bucket, full)
        except (ClientError, BotoCoreError, OSError) as exc:
            raise self._failed(exc, "put", full) from None

    def open_writer(self, key: str) -> ObjectWriter:
        return S3Writer(self, self.prefix + check_key(key))

    def get(self, key: str) -> bytes:
        full = self.prefix + check_key(key)
        try:
            return self._client.get_object(Bucket=self.bucket, Key=full)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code", "") in _NOT_FOUND:
                raise ObjectNotFound(f"No object {key!r}.") from None
            raise self._failed(exc, "get", full) from None
        except BotoCoreError as exc:
            raise self._failed(exc, "get", full) from None

    def exists(self, key: str) -> bool:
        full = self.prefix + check_key(key)
        try:
            self._client.head_object(Bucket=self.bucket, Key=full)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code", "") in _NOT_FOUND:
                return False
            raise self._failed(exc, "head", full) from None
        except BotoCoreError as exc:
            raise self._failed(exc, "head", full) from None
        return True

    def delete(self, key: str) -> bool:
        full = self.prefix + check_key(key)
        if not self.exists(key):
            return False
        try:
            self._client.delete_object(Bucket=self.bucket, Key=full)
        except (ClientError, BotoCoreError) as exc:
            raise self._failed(exc, "delete", full) from None
        return True

    def list(self, prefix: str = "") -> list[str]:
        full = self.prefix + check_prefix(prefix)
        found: list[str] = []
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=full)
            for page in pages:
                for obj in page.get("Contents", ()):
                    key = obj["Key"][len(self.prefix):]
                    if is_key(key):
                        found.append(key)
        except (ClientError, BotoCoreError) as exc:
            raise self._failed(exc, "list", full) from None
        return sorted(found)


class S3Writer(ObjectWriter):
    """``PutObject`` for an object of at most one part, else a multipart upload whose
    parts are sent while the next ones are written."""

    def __init__(self, store: S3Objects, full_key: str):
        self._store, self._client, self.key = store, store._client, full_key  # noqa: SLF001
        self._buffer: list[bytes] = []
        self._buffered = 0
        self._upload_id: str | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._sending: deque[Future[dict[str, Any]]] = deque()
        self._parts: list[dict[str, Any]] = []
        self._done = False

    def _call(self, action: str, fn: Any, **kw: Any) -> Any:
        try:
            return fn(Bucket=self._store.bucket, Key=self.key, **kw)
        except (ClientError, BotoCoreError) as exc:
            self.abort()
            raise self._store._failed(exc, action, self.key) from None  # noqa: SLF001

    def _take(self, size: int) -> bytes:
        """The first ``size`` buffered bytes (all of them if fewer)."""
        data = b"".join(self._buffer)
        self._buffer = [data[size:]] if len(data) > size else []
        self._buffered = max(0, len(data) - size)
        return data[:size]

    def _send_part(self, number: int, data: bytes) -> dict[str, Any]:
        answer = self._client.upload_part(Bucket=self._store.bucket, Key=self.key,
                                          UploadId=self._upload_id, PartNumber=number,
                                          Body=data, ChecksumAlgorithm="CRC32")
        part = {"PartNumber": number, "ETag": answer["ETag"]}
        if answer.get("ChecksumCRC32"):
            part["ChecksumCRC32"] = answer["ChecksumCRC32"]
        return part

    def _collect(self, keep: int) -> None:
        """Wait until at most ``keep`` parts are still being sent."""
        while len(self._sending) > keep:
            future = self._sending.popleft()
            try:
                self._parts.append(future.result())
            except (ClientError, BotoCoreError, OSError) as exc:
                self.abort()
                raise self._store._failed(exc, "upload part", self.key) from None  # noqa: SLF001

    def _start_part(self, data: bytes) -> None:
        if self._upload_id is None:
            answer = self._call("start multipart", self._client.create_multipart_upload,
                                ChecksumAlgorithm="CRC32")
            self._upload_id = answer["UploadId"]
            self._pool = ThreadPoolExecutor(MAX_IN_FLIGHT, thread_name_prefix="assay-s3-part")
        assert self._pool is not None
        self._collect(MAX_IN_FLIGHT - 1)
        number = len(self._parts) + len(self._sending) + 1
        self._sending.append(self._pool.submit(self._send_part, number, data))

    def write(self, chunk: bytes) -> None:
        if self._done:
            raise StorageError(_FAILED, f"S3 write s3://{self._store.bucket}/{self.key}: "
                               "writer already committed or aborted")
        if not chunk:
            return
        self._buffer.append(bytes(chunk))
        self._buffered += len(chunk)
        while self._buffered >= PART:
            self._start_part(self._take(PART))

    def commit(self) -> None:
        if self._done:
            raise StorageError(_FAILED, f"S3 commit s3://{self._store.bucket}/{self.key}: "
                               "writer already committed or aborted")
        if self._upload_id is None:
            self._call("put", self._client.put_object, Body=self._take(self._buffered))
        else:
            if self._buffered:
                self._start_part(self._take(self._buffered))
            self._collect(0)
            self._call("complete multipart", self._client.complete_multipart_upload,
                       UploadId=self._upload_id,
                       MultipartUpload={"Parts": sorted(self._parts,
                                                        key=lambda p: p["PartNumber"])})
        self._finish()

    def _finish(self) -> None:
        self._done = True
        self._buffer, self._buffered = [], 0
        if self._pool is not None:
            self._pool.shutdown(wait=False)

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        for future in self._sending:
            future.cancel()
        wait(self._sending)  # a part still arriving after the abort would be kept
        self._sending.clear()
        self._finish()
        if self._upload_id is None:
            return
        try:
            self._client.abort_multipart_upload(Bucket=self._store.bucket, Key=self.key,
                                                UploadId=self._upload_id)
        except (ClientError, BotoCoreError) as exc:
            log.warning("S3 abort multipart s3://%s/%s failed (a lifecycle rule on "
                        "incomplete uploads cleans it up): %s", self._store.bucket,
                        self.key, exc)
