"""A dataset stored as a folder on the broker's file system."""

from __future__ import annotations

import logging
import os
import stat as st
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from assay.errors import InvalidPath, NotFound, RangeNotSatisfiable, StorageError

from .base import CHUNK_SIZE, ByteStream, ObjectInfo, ObjectStore, check_range
from .paths import clean_path, is_clean, shown

log = logging.getLogger(__name__)

_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)


def _hidden(rel: str) -> bool:
    return any(part.startswith(".") for part in rel.split("/"))


class LocalStore(ObjectStore):
    """The regular files under ``root``. Hidden files (any segment starting with '.')
    are not part of the dataset; symlinks are followed only while they stay inside it."""

    def __init__(self, root: Path):
        self._root = Path(root)

    def _real_root(self) -> Path:
        return self._root.resolve()

    def _locate(self, path: str) -> tuple[str, Path]:
        """Clean ``path`` and resolve it (symlinks followed) strictly inside the root."""
        rel = clean_path(path)
        if _hidden(rel):
            raise NotFound(f"No file {shown(rel)} in this dataset.")
        root = self._real_root()
        try:
            real = (root / rel).resolve()
        except (OSError, RuntimeError) as exc:  # symlink loop, name too long
            raise NotFound(f"No file {shown(rel)} in this dataset.",
                           f"resolving {root / rel}: {exc}") from None
        if real == root:
            raise NotFound(f"No file {shown(rel)} in this dataset.")
        if not real.is_relative_to(root):
            raise InvalidPath(f"Invalid file path {shown(rel)}: it leads outside the dataset.",
                              f"{root / rel} resolves to {real}, outside {root}")
        if _hidden(real.relative_to(root).as_posix()):
            raise NotFound(f"No file {shown(rel)} in this dataset.")
        return rel, real

    def _open(self, path: str) -> tuple[str, BinaryIO, int]:
        rel, real = self._locate(path)
        missing = NotFound(f"No file {shown(rel)} in this dataset.")
        try:
            fd = os.open(real, _OPEN_FLAGS)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise missing from None
        except OSError as exc:  # ELOOP: replaced by a symlink after resolving; EACCES
            raise StorageError("The file could not be read.", f"open {real}: {exc}") from None
        try:
            info = os.fstat(fd)
            if not st.S_ISREG(info.st_mode):
                raise missing
            return rel, os.fdopen(fd, "rb", buffering=0), info.st_size
        except BaseException:
            os.close(fd)
            raise

    def stat(self, path: str) -> ObjectInfo:
        rel, handle, size = self._open(path)
        handle.close()
        return ObjectInfo(rel, size)

    def read(self, path: str, start: int = 0, end: int | None = None) -> ByteStream:
        check_range(start, end)
        rel, handle, size = self._open(path)
        try:
            if start > 0 and start >= size:
                raise RangeNotSatisfiable(size)
            stop = size if end is None else min(end, size)
            handle.seek(start)
        except BaseException:
            handle.close()
            raise
        return ByteStream(_chunks(handle, stop - start, rel), handle.close)

    def presign(self, path: str, ttl: int) -> str | None:
        clean_path(path)
        return None

    def list(self) -> list[ObjectInfo]:
        root = self._real_root()
        if not root.is_dir():
            raise StorageError("The dataset's files are not available; tell an admin.",
                               f"dataset folder {self._root} ({root}) is not a directory")
        found: list[ObjectInfo] = []
        pending: list[tuple[Path, str, frozenset[Path]]] = [(root, "", frozenset({root}))]
        while pending:
            folder, prefix, ancestors = pending.pop()
            try:
                entries = list(os.scandir(folder))
            except OSError as exc:
                log.warning("skipping unreadable folder %s: %s", folder, exc)
                continue
            for entry in entries:
                rel = prefix + entry.name
                if entry.name.startswith(".") or not is_clean(rel):
                    continue
                try:
                    real = Path(entry.path).resolve() if entry.is_symlink() else Path(entry.path)
                    if not real.is_relative_to(root) or _hidden(real.relative_to(root).as_posix()):
                        continue
                    info = real.stat()
                except (OSError, RuntimeError):
                    continue  # dangling symlink, loop, vanished
                if st.S_ISDIR(info.st_mode):
                    if real not in ancestors:  # a symlink back up would loop
                        pending.append((real, rel + "/", ancestors | {real}))
                elif st.S_ISREG(info.st_mode):
                    found.append(ObjectInfo(rel, info.st_size))
        found.sort(key=lambda obj: obj.path)
        return found


def _chunks(handle: BinaryIO, remaining: int, rel: str) -> Iterator[bytes]:
    while remaining > 0:
        data = handle.read(min(CHUNK_SIZE, remaining))
        if not data:
            raise StorageError("The file changed while it was read; try again.",
                               f"{rel}: {remaining} bytes short")
        remaining -= len(data)
        yield data
