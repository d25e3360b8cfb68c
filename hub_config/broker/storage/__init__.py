"""Where a dataset's files live: a folder under ``data.root`` or ``s3://bucket/prefix``.

:func:`open_store` is the only way the broker reaches storage. Locations come only from
the admin catalog; S3 credentials come only from the environment (boto3's default chain:
``AWS_*`` variables, shared config files, container or instance roles), never from the
YAML and never from a request.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from assay.config.catalog import DataCatalog, Dataset

from .base import CHUNK_SIZE, ByteStream, ObjectInfo, ObjectStore
from .local import LocalStore
from .paths import clean_path

__all__ = ["CHUNK_SIZE", "ByteStream", "LocalStore", "ObjectInfo", "ObjectStore",
           "clean_path", "open_store", "reset_s3_clients", "s3_client"]


def open_store(dataset: Dataset, catalog: DataCatalog, *, data_root: Path) -> ObjectStore:
    """The store of ``dataset``: ``data_root / location`` or ``s3://bucket/prefix``."""
    if dataset.is_s3:
        from .s3 import S3Store  # botocore is imported only when S3 is used

        bucket, _, prefix = dataset.location.removeprefix("s3://").partition("/")
        return S3Store(s3_client(catalog.s3.endpoint_url, catalog.s3.region), bucket, prefix)
    return LocalStore(Path(data_root) / dataset.location)


@functools.lru_cache(maxsize=8)
def s3_client(endpoint_url: str | None, region: str) -> Any:
    """One shared (thread-safe) boto3 S3 client per endpoint and region.

    Path-style addressing (S3-compatible stores, dotted bucket names) and SigV4, which
    presigned URLs need outside us-east-1.
    """
    import boto3
    from botocore.config import Config

    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": "path"},
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=5,
        read_timeout=60,
    )
    session = boto3.session.Session()
    return session.client("s3", endpoint_url=endpoint_url, region_name=region, config=config)


def reset_s3_clients() -> None:
    """Forget cached clients (tests; after rotating static credentials in the environment)."""
    s3_client.cache_clear()
