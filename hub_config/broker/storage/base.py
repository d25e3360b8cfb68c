"""The object-store interface every storage backend implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass

CHUNK_SIZE = 1024 * 1024  # bytes per chunk yielded by ``read``


@dataclass(frozen=True)
class ObjectInfo:
    """One file of a dataset: its path relative to the dataset ('/'-separated) and size."""

    path: str
    size: int


class ObjectStore(ABC):
    """The files of one dataset. Every ``path`` argument goes through ``clean_path``.

    Errors: ``InvalidPath`` (refused path), ``NotFound`` (no such file; directories are
    not files), ``RangeNotSatisfiable`` (``read`` starting at or past the end of a
    non-empty range), ``StorageError`` (the backend failed; no details for the client).
    """

    @abstractmethod
    def list(self) -> list[ObjectInfo]:
        """Every file of the dataset, sorted by path."""

    @abstractmethod
    def stat(self, path: str) -> ObjectInfo:
        """The file at ``path``; raises ``NotFound``."""

    @abstractmethod
    def read(self, path: str, start: int = 0, end: int | None = None) -> ByteStream:
        """Bytes ``[start, end)`` of ``path`` in chunks of about ``CHUNK_SIZE``.

        ``end`` is exclusive and clipped to the size; ``None`` means to the end. The
        file is opened (and ``NotFound``/``RangeNotSatisfiable`` raised) by this call,
        before any chunk is produced. ``start > 0`` at or past the size raises
        ``RangeNotSatisfiable``. Close the stream if you stop early.
        """

    @abstractmethod
    def presign(self, path: str, ttl: int) -> str | None:
        """A URL that downloads ``path`` for ``ttl`` seconds, or ``None`` if the broker
        must sign one itself. Does not check that the file exists: ``stat`` first."""


def check_range(start: int, end: int | None) -> None:
    """Refuse ranges no caller should build (a programming error, not a client's)."""
    if isinstance(start, bool) or not isinstance(start, int) or start < 0:
        raise ValueError(f"start must be an int >= 0, got {start!r}")
    if end is not None and (isinstance(end, bool) or not isinstance(end, int) or end < start):
        raise ValueError(f"end must be None or an int >= start, got {end!r}")


class ByteStream(Iterator[bytes]):
    """An iterator of chunks that releases its file or connection when exhausted,
    closed, used as a context manager, or garbage-collected."""

    def __init__(self, chunks: Iterator[bytes], release: Callable[[], None] = lambda: None):
        self._chunks = chunks
        self._release = release
        self._closed = False

    def __iter__(self) -> ByteStream:
        return self

    def __next__(self) -> bytes:
        if self._closed:
            raise StopIteration
        try:
            return next(self._chunks)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            try:
                close = getattr(self._chunks, "close", None)
                if close is not None:
                    close()
            finally:
                self._release()

    def __enter__(self) -> ByteStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            self.close()

    @classmethod
    def empty(cls) -> ByteStream:
        return cls(iter(()))
