"""Where job outputs are kept: ``storage.url`` of the admin YAML (see ``base``).

``open_objects("file://var/objects", base=state_parent)`` or
``open_objects("s3://bucket/prefix", base=...)``; S3 credentials come from the
environment only (boto3's default chain), as for the broker's datasets.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError
from .base import ObjectRemover, ObjectStore, check_key, check_prefix
from .local import LocalObjects

__all__ = ["LocalObjects", "ObjectRemover", "ObjectStore", "check_key", "check_prefix",
           "open_objects"]


def open_objects(url: str, *, base: Path, endpoint_url: str | None = None,
                 region: str = "us-east-1") -> ObjectStore:
    """The store at ``url``: ``file://rel/path`` (relative to ``base``), ``file:///abs``,
    or ``s3://bucket/prefix`` (``endpoint_url`` for S3-compatible stores)."""
    if url.startswith("file://"):
        location = url.removeprefix("file://")
        if not location:
            raise ConfigError("storage.url", [f"{url!r}: no folder after file://"])
        return LocalObjects(Path(base) / location)  # an absolute location ignores base
    if url.startswith("s3://"):
        from ..broker.storage import s3_client  # boto3 only when S3 is used
        from .s3 import S3Objects

        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        if not bucket:
            raise ConfigError("storage.url", [f"{url!r}: no bucket after s3://"])
        return S3Objects(s3_client(endpoint_url, region), bucket, prefix)
    raise ConfigError("storage.url", [f"{url!r}: use file://folder or s3://bucket/prefix"])
