"""Objects as files under a folder (``file://var/objects``)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from ..errors import ObjectNotFound, StorageError
from .base import ObjectStore, check_key, check_prefix, is_key


class LocalObjects(ObjectStore):
    """Key ``a/b.ipynb`` is the file ``root/a/b.ipynb``; writes are atomic (rename)."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, data: bytes | Path) -> None:
        target = self._path(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix="." + target.name + ".", dir=target.parent)
            try:
                with os.fdopen(fd, "wb") as out:
                    if isinstance(data, bytes | bytearray | memoryview):
                        out.write(data)
                    else:
                        with open(data, "rb") as source:
                            shutil.copyfileobj(source, out, 1024 * 1024)
                os.replace(tmp, target)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        except OSError as exc:
            raise StorageError("The output could not be stored; tell an admin.",
                               f"writing {target}: {exc}") from None

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
