"""Lineage, computed by the service from its own audit log (the client is never asked).

A session credential: the datasets that session's kernel read (allowed ``read``,
``read-signed`` and ``sign`` records for that session and ``X-Assay-Kernel``); without a
kernel id, everything the session read. A job run's credential: everything the run
read, and the run's id. A plain hub token (no session): no recorded inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, select

from ..broker.policy import Identity
from ..config.catalog import DataCatalog
from ..db.models import AuditRecord
from .rules import Input

READ_ACTIONS = ("read", "read-signed", "sign")  # as assay.broker.app
UNKNOWN_CLASS = "restricted"  # a dataset no longer in the catalog: assume the worst


@dataclass(frozen=True)
class Lineage:
    inputs: list[Input]
    run_id: int | None


def datasets_read(engine: Engine, session_id: str, kernel_id: str | None) -> set[str]:
    """Datasets with an allowed read by ``session_id`` (and ``kernel_id`` when given)."""
    query = select(AuditRecord.dataset).where(
        AuditRecord.session_id == session_id, AuditRecord.decision == "allow",
        AuditRecord.action.in_(READ_ACTIONS))
    if kernel_id:
        query = query.where(AuditRecord.kernel_id == kernel_id)
    with engine.connect() as conn:
        return {name for name in conn.scalars(query.distinct()) if name}


def classify(names: set[str], catalog: DataCatalog) -> list[Input]:
    """Each dataset with its class in the current catalog, sorted by name."""
    out = []
    for name in sorted(names):
        dataset = catalog.dataset(name)
        out.append(Input(name, dataset.classification if dataset else UNKNOWN_CLASS))
    return out


def lineage_of(engine: Engine, who: Identity, catalog: DataCatalog) -> Lineage:
    """What the caller's kernel (or job run) read, as the audit log says."""
    if not who.session_id:
        return Lineage([], None)
    kernel = None if who.run_id is not None else who.kernel_id
    return Lineage(classify(datasets_read(engine, who.session_id, kernel), catalog),
                   who.run_id)
