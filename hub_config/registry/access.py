"""Who may download a version, and who may approve moving an alias to it: pure.

Downloading needs what reading every input dataset needs now (groups, clearance, zone:
``assay.broker.policy``), clearance for the version's class (which may have been raised
above its inputs), and the zone ``models.class_zones`` names for that class. Approving
moves no bytes, so it needs the same minus the zone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..broker.policy import Identity, clearance, missing_entitlements
from ..config.catalog import DataCatalog, rank
from ..config.schema import Profile

ADMIN = "an Assay admin"


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str = "allowed"  # the first missing entitlement's code
    missing: list[str] = field(default_factory=list)
    ask: str = ""
    dataset: str = ""  # the first input that is refused, if any

    def message(self, who: str, doing: str) -> str:
        return (f"{who} may not {doing}. Missing: {'; '.join(self.missing)}. "
                f"Ask {self.ask} for access.")


def _zone_text(zone: str, profiles: Sequence[Profile]) -> str:
    slugs = [p.slug for p in profiles if p.zone == zone]
    hint = f" (start a server on profile {' or '.join(slugs)})" if slugs else ""
    return f"zone '{zone}'{hint}"


def verdict(who: Identity, classification: str, inputs: Sequence[str], catalog: DataCatalog,
            profiles: Sequence[Profile], class_zones: Mapping[str, str], *,
            zone: bool = True) -> Verdict:
    """May ``who`` read a version of ``classification`` derived from ``inputs``?
    ``zone=False``: the question for an approver (entitlements, not location)."""
    missing: list[tuple[str, str, str, str]] = []  # code, text, ask, dataset
    for name in inputs:
        dataset = catalog.dataset(name)
        if dataset is None:
            missing.append(("unknown-dataset", f"input dataset '{name}' is no longer in "
                            "the catalog", ADMIN, name))
            continue
        for code, text in missing_entitlements(who, dataset, catalog, list(profiles)):
            if zone or code != "zone":
                missing.append((code, text, dataset.approver, name))
    if rank(clearance(catalog, who.groups)) < rank(classification):
        missing.append(("clearance", f"clearance for {classification} data", ADMIN, ""))
    required = class_zones.get(classification)
    if zone and required and who.zone != required:
        missing.append(("zone", _zone_text(required, profiles), "", ""))
    if not missing:
        return Verdict(True)
    texts = list(dict.fromkeys(text for _, text, _, _ in missing))
    asks = list(dict.fromkeys(ask for _, _, ask, _ in missing if ask)) or [ADMIN]
    first = next((d for *_, d in missing if d), "")
    return Verdict(False, missing[0][0], texts, " or ".join(asks), first)
