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

from dataclasses import dataclass, field

from sqlalchemy import Engine

from ..locks import KeyedLocks
from .aliases import AliasStore
from .store import ModelStore


@dataclass
class Registry:
    """The registry's stores on one database."""

    models: ModelStore
    aliases: AliasStore
    # version_lock(version_id): held while a file of the version is published and
    # recorded, while it is committed and while it is expired, so a commit never lands
    # between an upload's status check and its write (the service is one process)
    version_lock: KeyedLocks = field(default_factory=KeyedLocks, repr=False)

    @classmethod
    def on(cls, engine: Engine) -> Registry:
        return cls(ModelStore(engine), AliasStore(engine))


__all__ = ["AliasStore", "ModelStore", "Registry"]
