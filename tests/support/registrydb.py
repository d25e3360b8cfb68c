"""Registry versions straight into the database, for tests of the store and of expiry."""

from __future__ import annotations

from assay.registry import Registry
from assay.registry.rules import Input, check_registration

GIB = 1024**3


def reg(description: str = "", files: tuple[str, ...] = ("model.skops",)):
    return check_registration({"flavor": "skops", "description": description,
                               "files": [{"path": p, "size": 3} for p in files]}, GIB, GIB)


def register(registry: Registry, name: str, who: str = "alice", description: str = "",
             inputs: tuple[Input, ...] = ()):
    return registry.models.create_version(
        name, reg(description), registrant=who, inputs=list(inputs),
        classification="internal", run_id=None, session_id=None, kernel_id=None)


def ready(registry: Registry, name: str, **kw):
    version = register(registry, name, **kw)
    registry.models.record_upload(version.id, "model.skops", 3, "a" * 64)
    return registry.models.commit(version.id, {"model.skops": "a" * 64})
