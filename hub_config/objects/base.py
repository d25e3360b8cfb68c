"""The store of job outputs (notebooks, HTML, logs): one interface, two backends.

Unlike the read-only dataset stores of the broker (``assay.broker.storage``), this
store is written by Assay itself. Keys are plain relative ASCII paths
(:func:`check_key`); a refused key raises ``InvalidObjectKey``, a missing object
``ObjectNotFound``, a failing backend ``StorageError`` (no location in the message).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from pathlib import Path

from ..errors import InvalidObjectKey

MAX_KEY_LENGTH = 1024
_SEGMENT = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")
_PREFIX = re.compile(r"^[A-Za-z0-9._/-]*$")
_SHOWN = 80


def _refuse(raw: object, why: str) -> InvalidObjectKey:
    shown = repr(raw[:_SHOWN]) + "…" if isinstance(raw, str) and len(raw) > _SHOWN \
        else repr(raw)
    return InvalidObjectKey(f"Invalid object key {shown}: {why}.")


def check_key(key: object) -> str:
    """``key`` if it is a relative path of segments of ``[A-Za-z0-9._-]`` (not starting
    with '.'), '/'-separated; else ``InvalidObjectKey`` saying why."""
    if not isinstance(key, str):
        raise _refuse(key, "not a string")
    if not key:
        raise _refuse(key, "empty")
    if len(key) > MAX_KEY_LENGTH:
        raise _refuse(key, f"longer than {MAX_KEY_LENGTH} characters")
    if key.startswith("/"):
        raise _refuse(key, "absolute keys are not allowed")
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            raise _refuse(key, "'.', '..' and empty segments are not allowed")
        if not _SEGMENT.match(segment):
            raise _refuse(key, "use ASCII letters, digits, '.', '_', '-' and '/' only, "
                          "with no segment starting with '.'")
    return key


def check_prefix(prefix: object) -> str:
    """A listing prefix: empty, or the start of a key (a trailing '/' is fine)."""
    if not isinstance(prefix, str):
        raise _refuse(prefix, "not a string")
    if not prefix:
        return prefix
    if not _PREFIX.match(prefix) or len(prefix) > MAX_KEY_LENGTH:
        raise _refuse(prefix, "use ASCII letters, digits, '.', '_', '-' and '/' only")
    head, _, _last = prefix.rpartition("/")
    if head:
        check_key(head)
    if prefix.startswith("/") or _last in (".", ".."):
        raise _refuse(prefix, "absolute keys, '.' and '..' are not allowed")
    return prefix


def is_key(raw: str) -> bool:
    try:
        check_key(raw)
    except InvalidObjectKey:
        return False
    return True


class ObjectStore(ABC):
    """Objects by key: ``put``, ``get``, ``exists``, ``list``, ``open_writer``."""

    @abstractmethod
    def put(self, key: str, data: bytes | Path) -> None:
        """Store ``data`` (bytes, or the file at a path) under ``key``, replacing it."""

    @abstractmethod
    def get(self, key: str) -> bytes:
        """The object's bytes; raises ``ObjectNotFound``."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""

    @abstractmethod
    def list(self, prefix: str = "") -> list[str]:
        """Keys starting with ``prefix`` (plain string prefix, as S3), sorted."""

    @abstractmethod
    def open_writer(self, key: str) -> ObjectWriter:
        """A writer for ``key`` (streamed writes, visible only after ``commit``)."""


class ObjectRemover(ABC):
    """Housekeeping on a store (both backends implement it beside ``ObjectStore``)."""

    @abstractmethod
    def delete(self, key: str) -> bool:
        """Remove the object under ``key``; False when there was none."""


class ObjectWriter(ABC):
    """One object written in pieces: ``write`` each, then ``commit`` (the object appears
    under its key, whole, replacing any older one) or ``abort`` (nothing appears). Not
    thread-safe: use it from one thread at a time; calls block (keep them off an event
    loop). Nothing is visible under the key before ``commit`` returns."""

    @abstractmethod
    def write(self, chunk: bytes) -> None:
        """Append ``chunk``; raises ``StorageError`` (the writer is then aborted)."""

    @abstractmethod
    def commit(self) -> None:
        """Make the object visible under its key; raises ``StorageError`` (aborted)."""

    @abstractmethod
    def abort(self) -> None:
        """Drop everything written; idempotent, never raises, a no-op after ``commit``."""
