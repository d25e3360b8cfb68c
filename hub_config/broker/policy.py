"""The access decision: pure, no I/O. Who (identity) × what (dataset) → allow or deny.

Allow only if the user's clearance reaches the dataset's class, the user is in one of
the dataset's groups (when it names any), and the caller's zone — from its session
credential, never from the request — is the one the dataset requires (when it does).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..config.catalog import CLASSES, DataCatalog, Dataset, rank
from ..config.schema import Profile


@dataclass(frozen=True)
class Identity:
    """Who is calling, as established by the hub and the session credential."""

    user: str
    groups: frozenset[str]
    zone: str | None = None  # None: a plain hub token, no server
    admin: bool = False
    server: str | None = None
    profile: str | None = None
    purpose: str | None = None
    session_id: str | None = None
    kernel_id: str | None = None
    run_id: int | None = None  # a job run's credential: the run it belongs to


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str  # "allowed" or the first missing entitlement, machine-readable
    missing: list[str] = field(default_factory=list)
    message: str = ""
    ask: str = ""


def clearance(catalog: DataCatalog, groups: frozenset[str] | set[str]) -> str:
    """The highest class the groups may read (at least ``default_clearance``)."""
    levels = [rank(catalog.default_clearance)]
    levels += [rank(c) for g, c in catalog.clearances.items() if g in groups]
    return CLASSES[max(levels)]


def _zone_hint(zone: str, profiles: list[Profile]) -> str:
    slugs = [p.slug for p in profiles if p.zone == zone]
    if not slugs:
        return f"zone '{zone}'"
    return f"zone '{zone}' (start a server on profile {' or '.join(slugs)})"


def missing_entitlements(identity: Identity, dataset: Dataset, catalog: DataCatalog,
                         profiles: list[Profile]) -> list[tuple[str, str]]:
    """Every (code, description) the identity lacks for ``dataset``; empty means allowed."""
    missing = []
    if dataset.groups and not identity.groups & set(dataset.groups):
        names = " or ".join(f"'{g}'" for g in dataset.groups)
        missing.append(("group", f"membership in group {names}"))
    if rank(clearance(catalog, identity.groups)) < rank(dataset.classification):
        missing.append(("clearance", f"clearance for {dataset.classification} data"))
    if dataset.zone and identity.zone != dataset.zone:
        missing.append(("zone", _zone_hint(dataset.zone, profiles)))
    return missing


def decide(identity: Identity, dataset: Dataset, catalog: DataCatalog,
           profiles: list[Profile] | None = None) -> Decision:
    """Allow or deny ``identity`` reading ``dataset``, saying what is missing and whom to ask."""
    missing = missing_entitlements(identity, dataset, catalog, profiles or [])
    if not missing:
        return Decision(True, "allowed")
    needs = "; ".join(text for _, text in missing)
    message = (f"{identity.user} may not read '{dataset.name}' ({dataset.classification}). "
               f"Missing: {needs}. Ask {dataset.approver} for access.")
    return Decision(False, missing[0][0], [text for _, text in missing], message,
                    dataset.approver)
