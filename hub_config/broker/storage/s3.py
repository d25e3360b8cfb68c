"""A dataset stored under ``s3://bucket/prefix`` (AWS or an S3-compatible endpoint).

The client is built by :func:`assay.broker.storage.open_store` with credentials from the
environment only. Error messages for the client never name the bucket, the endpoint or
any credential; ``log_detail`` names the bucket and key for the admin.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from assay.errors import AssayError, NotFound, RangeNotSatisfiable, StorageError

from .base import CHUNK_SIZE, ByteStream, ObjectInfo, ObjectStore, check_range
from .paths import clean_path, is_clean, shown

MAX_PRESIGN_TTL = 7 * 24 * 3600  # the SigV4 limit
_NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound"})
_FAILED = "The storage backend failed; try again later or tell an admin."


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class S3Store(ObjectStore):
    """The objects under ``prefix`` in ``bucket``; keys are ``prefix + clean_path(path)``."""

    def __init__(self, client: Any, bucket: str, prefix: str = ""):
        self._client = client
        self._bucket = bucket
        prefix = prefix.strip("/")
        self._prefix = prefix + "/" if prefix else ""

    def _key(self, path: str) -> tuple[str, str]:
        rel = clean_path(path)
        return rel, self._prefix + rel

    def _error(self, exc: Exception, action: str, rel: str | None, key: str) -> AssayError:
        where = f"S3 {action} s3://{self._bucket}/{key}"
        if isinstance(exc, ClientError):
            code = _code(exc)
            if rel is not None and code in _NOT_FOUND_CODES:
                return NotFound(f"No file {shown(rel)} in this dataset.", f"{where}: {code}")
            return StorageError(_FAILED, f"{where}: {code or 'error'}: {exc}")
        return StorageError(_FAILED, f"{where}: {type(exc).__name__}: {exc}")

    def list(self) -> list[ObjectInfo]:
        found: list[ObjectInfo] = []
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self._bucket, Prefix=self._prefix)
            for page in pages:
                for obj in page.get("Contents", ()):
                    rel = obj["Key"][len(self._prefix):]
                    # Keys no path could name ('a//b', '../x', folder markers) are not files.
                    if is_clean(rel):
                        found.append(ObjectInfo(rel, int(obj["Size"])))
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, "list", None, self._prefix) from None
        found.sort(key=lambda obj: obj.path)
        return found

    def _head(self, rel: str, key: str) -> int:
        try:
            head = self._client.head_object(Bucket=self._bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, "head", rel, key) from None
        return int(head["ContentLength"])

    def stat(self, path: str) -> ObjectInfo:
        rel, key = self._key(path)
        return ObjectInfo(rel, self._head(rel, key))

    def read(self, path: str, start: int = 0, end: int | None = None) -> ByteStream:
        check_range(start, end)
        rel, key = self._key(path)
        if end is not None and end == start:  # empty range: S3 has no header for it
            size = self._head(rel, key)
            if start > 0 and start >= size:
                raise RangeNotSatisfiable(size)
            return ByteStream.empty()
        params = {"Bucket": self._bucket, "Key": key}
        if start > 0 or end is not None:
            params["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
        try:
            body = self._client.get_object(**params)["Body"]
        except ClientError as exc:
            if _code(exc) != "InvalidRange":
                raise self._error(exc, "get", rel, key) from None
            size = self._head(rel, key)  # S3 refuses ranges on empty objects too
            if start > 0 and start >= size:
                raise RangeNotSatisfiable(size) from None
            return ByteStream.empty()
        except BotoCoreError as exc:
            raise self._error(exc, "get", rel, key) from None
        return ByteStream(self._chunks(body, rel, key), body.close)

    def _chunks(self, body: Any, rel: str, key: str) -> Iterator[bytes]:
        try:
            yield from body.iter_chunks(CHUNK_SIZE)
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, "read", rel, key) from None

    def presign(self, path: str, ttl: int) -> str | None:
        if isinstance(ttl, bool) or not isinstance(ttl, int) or not 1 <= ttl <= MAX_PRESIGN_TTL:
            raise ValueError(f"ttl must be an int in 1..{MAX_PRESIGN_TTL}, got {ttl!r}")
        rel, key = self._key(path)
        try:
            return self._client.generate_presigned_url(
                "get_object", Params={"Bucket": self._bucket, "Key": key}, ExpiresIn=ttl)
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, "presign", rel, key) from None
