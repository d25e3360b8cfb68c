"""A dataset file read from the broker as a stream: nothing is held beyond one chunk.

``DataFile`` is a read-only binary file object (``read``, ``readinto``, lines,
``with``); ``seek`` forward within a short distance skips bytes, anything else
reopens the stream at the new offset with an HTTP ``Range`` request.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from .broker import AssayDataError, open_stream

CHUNK = 256 * 1024
SKIP_LIMIT = 1024 * 1024  # seek forward by reading when closer than this
PROGRESS_MIN = 8 * 1024 * 1024  # show a progress bar for files larger than this


def _total_size(response: httpx.Response, start: int) -> int:
    content_range = response.headers.get("Content-Range", "")
    if response.status_code == 206 and "/" in content_range:
        total = content_range.rsplit("/", 1)[1]
        if total.isdigit():
            return int(total)
    length = response.headers.get("Content-Length", "")
    if length.isdigit():
        return int(length) + (start if response.status_code == 206 else 0)
    raise AssayDataError("The Assay data service sent a file without its size; try again.")


class RemoteFile(io.RawIOBase):
    """The raw stream under ``DataFile``; tracks its position and reopens on seek."""

    def __init__(self, dataset: str, path: str, *, progress: bool | None = None,
                 on_open: Callable[[], None] | None = None):
        super().__init__()
        self.dataset, self.path, self.name = dataset, path, f"{dataset}/{path}"
        self._response: httpx.Response | None = None
        self._chunks: Iterator[bytes] | None = None
        self._pending = memoryview(b"")
        self._pos = 0
        self._bar: Any = None
        self._shown = 0
        self.size = self._connect(0)
        if on_open:
            on_open()
        if progress or (progress is None and self.size > PROGRESS_MIN):
            from tqdm.auto import tqdm

            self._bar = tqdm(total=self.size, unit="B", unit_scale=True, unit_divisor=1024,
                             desc=self.name, leave=False)

    # -- the HTTP stream ------------------------------------------------------

    def _connect(self, start: int) -> int:
        """Open the stream at ``start``; returns the file's total size."""
        self._disconnect()
        response = open_stream(self.dataset, self.path, start)
        self._response = response
        self._chunks = response.iter_bytes(CHUNK)
        size = _total_size(response, start)
        if start and response.status_code == 200:  # Range ignored: skip to the offset
            self._pos = 0
            self._skip(start)
        return size

    def _disconnect(self) -> None:
        if self._response is not None:
            self._response.close()
        self._response, self._chunks, self._pending = None, None, memoryview(b"")

    def _next_chunk(self) -> bool:
        if self._chunks is None:
            self._connect(self._pos)
        try:
            self._pending = memoryview(next(self._chunks))
            return True
        except StopIteration:
            return False
        except httpx.HTTPError as exc:
            self._disconnect()
            raise AssayDataError(f"Reading {self.name} was interrupted at byte {self._pos} of "
                                 f"{self.size} ({type(exc).__name__}: {exc}); try again.") from None

    def _skip(self, count: int) -> None:
        while count > 0:
            if not self._pending and not self._next_chunk():
                break
            step = min(count, len(self._pending))
            self._pending = self._pending[step:]
            self._pos += step
            count -= step

    def _advance(self, count: int) -> None:
        self._pos += count
        if self._bar is not None and self._pos > self._shown:
            self._bar.update(min(self._pos, self.size) - self._shown)
            self._shown = min(self._pos, self.size)
            if self._shown >= self.size:
                self._bar.close()

    # -- io.RawIOBase -----------------------------------------------------------

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self._checkClosed()
        if self._pos >= self.size:
            return 0
        if not self._pending and not self._next_chunk():
            raise AssayDataError(f"The data service ended {self.name} at byte {self._pos} of "
                                 f"{self.size}; try again.")
        view = memoryview(buffer).cast("B")
        count = min(len(view), len(self._pending))
        view[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        self._advance(count)
        return count

    def readall(self) -> bytes:
        parts = []
        while True:
            part = self.read(CHUNK)
            if not part:
                return b"".join(parts)
            parts.append(part)

    def tell(self) -> int:
        self._checkClosed()
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._checkClosed()
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}.get(whence)
        if base is None:
            raise ValueError(f"invalid whence ({whence}, should be 0, 1 or 2)")
        target = base + offset
        if target < 0:
            raise ValueError(f"negative seek position {target}")
        if target == self._pos:
            return target
        if self._pos < target <= self._pos + SKIP_LIMIT and self._chunks is not None:
            self._skip(target - self._pos)
        else:
            self._disconnect()  # reconnects with a Range request at the next read
            self._pos = target
        return self._pos

    def close(self) -> None:
        if not self.closed:
            self._disconnect()
            if self._bar is not None:
                self._bar.close()
        super().close()


class DataFile(io.BufferedReader):
    """A dataset file opened with ``assay.data.open``: read-only, binary, streamed."""

    raw: RemoteFile

    def __init__(self, raw: RemoteFile):
        super().__init__(raw, buffer_size=CHUNK)

    @property
    def dataset(self) -> str:
        return self.raw.dataset

    @property
    def path(self) -> str:
        return self.raw.path

    @property
    def size(self) -> int:
        return self.raw.size

    def __repr__(self) -> str:
        return f"<assay.data file {self.raw.name!r} ({self.size} bytes)>"
