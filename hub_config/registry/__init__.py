"""The model registry, service side (issue 5): ``assay.registry``.

- ``rules``: pure checks of names and request fields, classification inheritance;
- ``access``: pure download / approval verdicts from the data policy;
- ``lineage``: what the registering kernel (or job run) read, from the audit log;
- ``store`` and ``aliases``: models, versions, files, inputs, aliases, approvals in the
  database;
- ``artifacts``: artifact bytes in the object store (hashed while stored).

The REST API is ``assay.broker.api_models*``, the page ``assay.broker.models_page``; the
notebook side is ``assay.models``. Importing this package connects to nothing.
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass, field

from sqlalchemy import Engine

from .aliases import AliasStore
from .store import ModelStore


@dataclass
class Registry:
    """The registry's stores on one database."""

    models: ModelStore
    aliases: AliasStore
    _locks: weakref.WeakValueDictionary[int, asyncio.Lock] = field(
        default_factory=weakref.WeakValueDictionary, repr=False)

    @classmethod
    def on(cls, engine: Engine) -> Registry:
        return cls(ModelStore(engine), AliasStore(engine))

    def version_lock(self, version_id: int) -> asyncio.Lock:
        """Held while a file of the version is published and recorded, and while it is
        committed: a commit never lands between an upload's status check and its write,
        so a ready version's artifacts are never replaced (the service is one process)."""
        lock = self._locks.get(version_id)
        if lock is None:
            lock = self._locks[version_id] = asyncio.Lock()
        return lock


__all__ = ["AliasStore", "ModelStore", "Registry"]
