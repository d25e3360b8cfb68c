"""Artifact bytes in the object store (``storage.url``: a local folder or S3).

An upload is hashed (sha256) while it is streamed into the store's writer
(``ObjectStore.open_writer``): a temporary file renamed into place in a local store, a
multipart upload sent while the bytes arrive on S3. Nothing appears under
``models/{name}/{N}/{path}`` until ``publish``; ``abort`` leaves nothing. The service
feeds an upload through a ``Pipeline``: hashing and writing run in one worker thread, off
the event loop, while the next chunks are received. Downloads are streamed in chunks.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

from ..errors import ObjectNotFound, StorageError
from ..objects import LocalObjects, ObjectStore, check_key

CHUNK = 256 * 1024
MAX_QUEUED = 4 * 1024 * 1024  # received bytes waiting for the worker, per upload
BATCH = 1024 * 1024  # received chunks (tornado's are 64 KiB) go to the worker this many at once


def artifact_key(name: str, version: int, path: str) -> str:
    return check_key(f"models/{name}/{version}/{path}")


class Upload:
    """One artifact arriving in pieces: ``write`` each, then ``publish`` or ``abort``.
    Blocking (call off the event loop), one thread at a time. Bytes past ``limit`` are
    not written (the writer is aborted); ``overflow`` says it happened."""

    def __init__(self, objects: ObjectStore, key: str, limit: int):
        self.key, self.limit = key, limit
        self._writer = objects.open_writer(key)
        self._digest = hashlib.sha256()
        self.size = 0
        self.overflow = False

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limit and not self.overflow:
            self.overflow = True
            self._writer.abort()
        if self.overflow:
            return
        self._digest.update(chunk)
        self._writer.write(chunk)

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()

    def publish(self) -> None:
        """Make the complete artifact visible under its key."""
        if self.overflow:
            raise StorageError("The artifact was larger than declared; nothing was stored.",
                               f"publishing {self.key} after an overflow")
        self._writer.commit()

    def abort(self) -> None:
        self._writer.abort()


class Pipeline:
    """Feeds an ``Upload`` from the event loop: ``feed`` hands the chunks, ``batch`` bytes
    at a time, to one worker thread, in order (hashlib and file/socket writes release the
    GIL, so the loop keeps receiving). Past ``max_queued`` waiting bytes ``feed`` returns
    an awaitable (tornado's ``data_received`` flow control), so memory stays bounded.
    Then ``publish`` (raises the first error of any write) or ``abort`` (never blocks)."""

    def __init__(self, upload: Upload, max_queued: int = MAX_QUEUED, batch: int = BATCH):
        self.upload, self._max, self._batch_size = upload, max_queued, batch
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="assay-upload")
        self._batch: list[bytes] = []
        self._batched = 0
        self._pending: deque[tuple[Future[None], int]] = deque()
        self._queued = 0
        self._failed = False  # set by the worker: skip the rest
        self._error: BaseException | None = None
        self._closed = False

    def _write(self, chunks: list[bytes]) -> None:
        if self._failed:
            return
        try:
            self.upload.write(chunks[0] if len(chunks) == 1 else b"".join(chunks))
        except BaseException:
            self._failed = True
            raise

    def _prune(self) -> None:
        while self._pending and self._pending[0][0].done():
            future, nbytes = self._pending.popleft()
            self._queued -= nbytes
            if self._error is None and future.exception() is not None:
                self._error = future.exception()

    def feed(self, chunk: bytes) -> Awaitable[None] | None:
        if self._closed:
            return None
        self._batch.append(chunk)
        self._batched += len(chunk)
        if self._batched < self._batch_size:
            return None
        self._submit_batch()
        self._prune()
        return self._below_limit() if self._queued > self._max else None

    def _submit_batch(self) -> None:
        if self._batch:
            job = self._pool.submit(self._write, self._batch)
            self._pending.append((job, self._batched))
            self._queued += self._batched
            self._batch, self._batched = [], 0

    async def _below_limit(self) -> None:
        while self._queued > self._max and self._pending:
            waiter = asyncio.wrap_future(self._pending[0][0])
            await asyncio.wait([waiter])
            if not waiter.cancelled():
                waiter.exception()  # kept by _prune; retrieved so asyncio does not log it
            self._prune()

    async def _run(self, fn: Callable[[], object]) -> None:
        await asyncio.wrap_future(self._pool.submit(fn))

    async def drain(self) -> None:
        """Wait for every chunk fed so far; raise the first write's error."""
        if self._closed:
            raise StorageError("The upload was interrupted; nothing was stored. Try again.",
                               f"draining {self.upload.key} after it was closed")
        self._submit_batch()
        await self._run(lambda: None)  # one worker: runs after every earlier chunk
        self._prune()
        if self._error is not None:
            raise self._error

    async def publish(self) -> None:
        await self.drain()
        try:
            await self._run(self.upload.publish)
        finally:
            self._closed = True
            self._pool.shutdown(wait=False)

    def abort(self) -> Future[None] | None:
        """Drop the upload (in the worker, after the chunks already queued, which are
        skipped); the worker's future, or None when already closed."""
        if self._closed:
            return None
        self._closed = self._failed = True
        done = self._pool.submit(self.upload.abort)
        self._pool.shutdown(wait=False)
        return done


def _local_chunks(handle: BinaryIO) -> Iterator[bytes]:
    with handle:
        while block := handle.read(CHUNK):
            yield block


def open_artifact(objects: ObjectStore, key: str) -> tuple[int, Iterator[bytes]]:
    """(size, chunks) of the stored object; ``ObjectNotFound`` when it is gone."""
    check_key(key)
    if isinstance(objects, LocalObjects):
        path = Path(objects.root) / key
        try:
            handle = open(path, "rb")  # noqa: SIM115 -- closed by the generator
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ObjectNotFound(f"No object {key!r}.") from None
        return os.fstat(handle.fileno()).st_size, _local_chunks(handle)
    return _s3_artifact(objects, key)


def _s3_artifact(objects: ObjectStore, key: str) -> tuple[int, Iterator[bytes]]:
    from botocore.exceptions import BotoCoreError, ClientError

    from ..objects.s3 import S3Objects

    if not isinstance(objects, S3Objects):  # any other backend: whole, from get()
        data = objects.get(key)
        return len(data), iter([data])
    full = objects.prefix + key
    try:
        answer = objects._client.get_object(Bucket=objects.bucket, Key=full)  # noqa: SLF001
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code", "") in ("404", "NoSuchKey", "NotFound"):
            raise ObjectNotFound(f"No object {key!r}.") from None
        raise StorageError("The artifact could not be read; tell an admin.",
                           f"S3 get {full}: {exc}") from None
    except BotoCoreError as exc:
        raise StorageError("The artifact could not be read; tell an admin.",
                           f"S3 get {full}: {exc}") from None
    body = answer["Body"]
    return int(answer["ContentLength"]), body.iter_chunks(CHUNK)
