"""A config file that is re-read when it changes, keeping the last good version."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ..errors import ConfigError
from .load import load
from .schema import AssayConfig

log = logging.getLogger("assay.config")


class ConfigSource:
    """Serves the current config; an edit applies on the next ``current()`` call.

    An invalid edit is logged (every error with its path) and the last good
    config stays in force. The first load must succeed: a hub never starts open.
    """

    _shared: dict[Path, ConfigSource] = {}

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path).resolve()
        self._stamp = self._read_stamp()
        self._config = load(self.path)
        self._bad_stamp: tuple[int, int] | None = None

    @classmethod
    def shared(cls, path: str | os.PathLike[str]) -> ConfigSource:
        """One source per file in a process, so every spawner sees the same edits."""
        key = Path(path).resolve()
        if key not in cls._shared:
            cls._shared[key] = cls(key)
        return cls._shared[key]

    def _read_stamp(self) -> tuple[int, int]:
        try:
            st = self.path.stat()
        except OSError:
            return (0, 0)
        return (st.st_mtime_ns, st.st_size)

    def current(self) -> AssayConfig:
        stamp = self._read_stamp()
        if stamp in (self._stamp, self._bad_stamp):
            return self._config
        try:
            self._config = load(self.path)
        except ConfigError as exc:
            self._bad_stamp = stamp
            log.error("Ignoring invalid edit of %s; keeping the last good config.\n%s",
                      self.path, "\n".join(exc.errors))
            return self._config
        self._stamp, self._bad_stamp = stamp, None
        log.info("Reloaded %s (%d profiles)", self.path, len(self._config.profiles))
        return self._config
