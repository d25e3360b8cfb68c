"""The notebook API for Assay data (also importable as ``assay.data``).

>>> import assay.data
>>> assay.data.datasets()                 # every dataset, with can_read and why not
>>> df = assay.data.read_csv("trial-042-adverse-events", "adverse_events.csv")
>>> with assay.data.open("omics-expression-atlas", "README.txt") as f:
...     print(f.read().decode())

Every read goes through the Assay data broker with this server's session credential;
the broker decides, audits and streams. A refusal raises ``DataAccessDenied`` saying
what is missing and whom to ask. ``lineage()`` lists what this kernel has read.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from . import broker
from .broker import AssayDataError, DataAccessDenied, DataNotFound
from .remote_file import CHUNK, DataFile, RemoteFile

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "AssayDataError", "DataAccessDenied", "DataFile", "DataNotFound", "datasets", "files",
    "lineage", "open", "read_csv", "read_parquet",
]

SPOOL_IN_MEMORY = 64 * 1024 * 1024  # read_parquet keeps up to this much in memory
COMPRESSION = {".gz": "gzip", ".bz2": "bz2", ".zip": "zip", ".xz": "xz", ".zst": "zstd",
               ".tar": "tar"}

_lock = threading.Lock()
_lineage: list[dict[str, str | None]] = []
_classes: dict[str, str | None] = {}


def datasets() -> list[dict[str, Any]]:
    """Every dataset of the catalog: name, description, classification, ``can_read``,
    and for those you cannot read ``missing``, ``message`` and ``ask``."""
    return list(broker.get_json("datasets")["datasets"])


def files(name: str) -> list[dict[str, Any]]:
    """The files of dataset ``name``: ``[{"path": ..., "size": ...}, ...]``."""
    return list(broker.get_json("datasets", name, "files")["files"])


def open(name: str, path: str, *, progress: bool | None = None) -> DataFile:
    """Open file ``path`` of dataset ``name`` for reading (binary, streamed).

    Use it like a local file opened with ``"rb"``: ``read``, iterate over lines,
    ``seek``/``tell`` (backward or far seeks reopen the stream at that offset).
    ``progress``: show a progress bar (default: for files over 8 MiB).
    Raises ``DataAccessDenied`` if you may not read it.
    """
    raw = RemoteFile(name, path, progress=progress, on_open=lambda: _record(name, path))
    return DataFile(raw)


def read_csv(name: str, path: str, *, progress: bool | None = None,
             **kwargs: Any) -> pd.DataFrame:
    """``pandas.read_csv`` of a dataset file, streamed; keyword arguments go to pandas.

    Compression is inferred from the file name (``.gz``, ``.zip``, ...). With
    ``chunksize`` or ``iterator`` the returned reader keeps the stream open.
    """
    import pandas as pd

    kwargs.setdefault("compression", COMPRESSION.get(PurePosixPath(path).suffix.lower()))
    handle = open(name, path, progress=progress)
    if kwargs.get("chunksize") or kwargs.get("iterator"):
        return pd.read_csv(handle, **kwargs)
    with handle:
        return pd.read_csv(handle, **kwargs)


def read_parquet(name: str, path: str, *, progress: bool | None = None,
                 **kwargs: Any) -> pd.DataFrame:
    """``pandas.read_parquet`` of a dataset file; keyword arguments go to pandas.

    Parquet needs random access, so the file is first copied to a temporary buffer
    (in memory up to 64 MiB, beyond that a temporary file deleted right after).
    """
    import pandas as pd

    with open(name, path, progress=progress) as remote, \
            tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as buffer:
        shutil.copyfileobj(remote, buffer, CHUNK)
        buffer.seek(0)
        return pd.read_parquet(buffer, **kwargs)


def lineage() -> list[dict[str, str | None]]:
    """What this kernel has read: ``[{"dataset", "path", "classification", "time"}]``,
    one entry per file, in the order first read (``time`` is that first read, UTC)."""
    with _lock:
        return [dict(entry) for entry in _lineage]


def _classification(name: str) -> str | None:
    with _lock:
        if name in _classes:
            return _classes[name]
    try:
        found = broker.get_json("datasets", name).get("classification")
    except AssayDataError:
        return None  # the read itself succeeded; lineage keeps the entry without class
    with _lock:
        _classes[name] = found
    return found


def _record(name: str, path: str) -> None:
    """Remember a read the broker allowed (it has audited it already)."""
    with _lock:
        if any(e["dataset"] == name and e["path"] == path for e in _lineage):
            return
    classification = _classification(name)
    when = datetime.now(UTC).isoformat(timespec="seconds")
    with _lock:
        if not any(e["dataset"] == name and e["path"] == path for e in _lineage):
            _lineage.append({"dataset": name, "path": path, "classification": classification,
                             "time": when})
