"""Objects as files under a folder (``file://var/objects``).

Every write goes to a temporary file beside its target (hidden: its name starts with '.'),
is flushed to disk (``fsync``), then renamed into place and the folder synced: an object
is either whole or absent, and a stored one survives a crash of the machine.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from ..errors import ObjectNotFound, StorageError
from .base import ObjectRemover, ObjectStore, ObjectWriter, check_key, check_prefix, is_key

COPY_CHUNK = 1024 * 1024
_WRITE_FAILED = "The output could not be stored; tell an admin."


def _sync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class LocalWriter(ObjectWriter):
    """A temporary file in the target's folder, renamed over the target by ``commit``."""

    def __init__(self, target: Path):
        self.target = target
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix="." + target.name + ".", dir=target.parent)
        except OSError as exc:
            raise StorageError(_WRITE_FAILED, f"writing {target}: {exc}") from None
        self.tmp = Path(tmp)
        self._file = os.fdopen(fd, "wb")
        self._done = False

    def _failed(self, exc: OSError) -> StorageError:
        self.abort()
        return StorageError(_WRITE_FAILED, f"writing {self.target}: {exc}")

    def _refuse_if_done(self, action: str) -> None:
        if self._done:
            raise StorageError(_WRITE_FAILED, f"{action} {self.target}: writer already "
                               "committed or aborted")

    def write(self, chunk: bytes) -> None:
        self._refuse_if_done("writing")
        try:
            self._file.write(chunk)
        except OSError as exc:
            raise self._failed(exc) from None

    def commit(self) -> None:
        self._refuse_if_done("committing")
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            os.replace(self.tmp, self.target)
        except OSError as exc:
            raise self._failed(exc) from None
        self._done = True
        _sync_dir(self.target.parent)

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        with contextlib.suppress(OSError):
            self._file.close()
        with contextlib.suppress(OSError):
            self.tmp.unlink(missing_ok=True)


class LocalObjects(ObjectStore, ObjectRemover):
    """Key ``a/b.ipynb`` is the file ``root/a/b.ipynb``; writes are atomic (rename) and
    durable (fsync)."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, data: bytes | Path) -> None:
        writer = LocalWriter(self._path(key))
        try:
            if isinstance(data, bytes | bytearray | memoryview):
                writer.write(data)
            else:
                with open(data, "rb") as source:
                    while block := source.read(COPY_CHUNK):
                        writer.write(block)
            writer.commit()
        except OSError as exc:
            raise StorageError(_WRITE_FAILED, f"reading {data}: {exc}") from None
        finally:
            writer.abort()  # a no-op after commit

    def open_writer(self, key: str) -> ObjectWriter:
        return LocalWriter(self._path(key))

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ObjectNotFound(f"No object {key!r}.") from None
        except OSError as exc:
            raise StorageError("The output could not be read; tell an admin.",
                               f"reading {path}: {exc}") from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> bool:
        """Unlinks the file (durably) and the folders it leaves empty, up to the root."""
        path = self._path(key)
        try:
            path.unlink()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return False
        except OSError as exc:
            raise StorageError(_WRITE_FAILED, f"deleting {path}: {exc}") from None
        _sync_dir(path.parent)
        for folder in path.parents:
            if folder == self.root or self.root not in folder.parents:
                break
            try:
                folder.rmdir()
            except OSError:  # not empty, or gone
                break
        return True

    def list(self, prefix: str = "") -> list[str]:
        check_prefix(prefix)
        folder, _, _ = prefix.rpartition("/")
        start = self.root / folder if folder else self.root
        found: list[str] = []
        for dirpath, dirnames, filenames in os.walk(start):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            rel = Path(dirpath).relative_to(self.root).as_posix()
            for name in filenames:
                key = name if rel == "." else f"{rel}/{name}"
                if key.startswith(prefix) and is_key(key):
                    found.append(key)
        return sorted(found)
