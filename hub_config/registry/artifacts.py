"""Artifact bytes in the object store (``storage.url``: a local folder or S3).

An upload is hashed (sha256) while it is written to a temporary file; once complete it
is published under ``models/{name}/{N}/{path}``: renamed into place in a local store (no
second copy), ``ObjectStore.put`` otherwise. Downloads are streamed in chunks.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from ..errors import ObjectNotFound, StorageError
from ..objects import LocalObjects, ObjectStore, check_key

CHUNK = 256 * 1024
SPOOL = ".uploads"  # inside a local store: same file system, hidden from listings


def artifact_key(name: str, version: int, path: str) -> str:
    return check_key(f"models/{name}/{version}/{path}")


def spool_dir(objects: ObjectStore) -> Path | None:
    """Where uploads are spooled: beside a local store's files, else the temp folder."""
    if isinstance(objects, LocalObjects):
        folder = Path(objects.root) / SPOOL
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    return None


class Upload:
    """One artifact arriving in pieces: ``write`` each, then ``publish`` or ``abort``.
    Bytes past ``limit`` are not written; ``overflow`` says it happened."""

    def __init__(self, objects: ObjectStore, key: str, limit: int):
        self.objects, self.key, self.limit = objects, key, limit
        fd, name = tempfile.mkstemp(prefix="upload-", dir=spool_dir(objects))
        self.tmp = Path(name)
        self._file = os.fdopen(fd, "wb")
        self._digest = hashlib.sha256()
        self.size = 0
        self.overflow = False

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            self.overflow = True
        if self.overflow:
            return
        self._digest.update(chunk)
        try:
            self._file.write(chunk)
        except OSError as exc:
            self.abort()
            raise StorageError("The artifact could not be stored; tell an admin.",
                               f"spooling {self.tmp}: {exc}") from None

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()

    def publish(self) -> None:
        """Move the complete file to its key (blocking: call off the event loop)."""
        self._file.close()
        try:
            if isinstance(self.objects, LocalObjects):
                target = Path(self.objects.root) / check_key(self.key)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(self.tmp, target)
            else:
                self.objects.put(self.key, self.tmp)
        except OSError as exc:
            raise StorageError("The artifact could not be stored; tell an admin.",
                               f"publishing {self.key}: {exc}") from None
        finally:
            self.tmp.unlink(missing_ok=True)

    def abort(self) -> None:
        if not self._file.closed:
            self._file.close()
        self.tmp.unlink(missing_ok=True)


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
