"""Objects under ``s3://bucket/prefix`` (AWS or an S3-compatible endpoint)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ..errors import ObjectNotFound, StorageError
from .base import ObjectStore, check_key, check_prefix, is_key

_NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound"})
_FAILED = "The output store failed; try again later or tell an admin."


class S3Objects(ObjectStore):
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
