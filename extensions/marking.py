"""A notebook's data marking: the highest class its kernel read, and which datasets.

Stored in the notebook as ``metadata.assay = {"classification", "datasets"}``; merging
only ever raises the class and adds datasets, so a marking is never lowered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# The catalog's order (``assay.config.catalog.CLASSES``, which a test keeps equal to this):
# not imported from there, as that loads the config schema into every server for nothing.
CLASSES: tuple[str, ...] = ("public", "internal", "confidential", "restricted")
METADATA_KEY = "assay"
EXPORT_LIMIT = "internal"  # notebooks marked above this may not be downloaded or exported


def rank(classification: str) -> int:
    return CLASSES.index(classification)


@dataclass(frozen=True)
class Marking:
    classification: str | None = None
    datasets: tuple[str, ...] = ()

    @classmethod
    def parse(cls, classification: Any, datasets: Any) -> Marking:
        """From untrusted values (notebook JSON, broker answer); junk is dropped."""
        known = classification if classification in CLASSES else None
        names = datasets if isinstance(datasets, list | tuple) else []
        return cls(known, tuple(sorted({n for n in names if isinstance(n, str) and n})))

    @classmethod
    def from_metadata(cls, metadata: Any) -> Marking:
        section = metadata.get(METADATA_KEY) if isinstance(metadata, dict) else None
        if not isinstance(section, dict):
            return cls()
        return cls.parse(section.get("classification"), section.get("datasets"))

    def merge(self, other: Marking) -> Marking:
        ranks = [rank(c) for c in (self.classification, other.classification) if c]
        top = CLASSES[max(ranks)] if ranks else None
        return Marking(top, tuple(sorted(set(self.datasets) | set(other.datasets))))

    def write(self, metadata: dict) -> None:
        """Put this marking into notebook metadata (other ``assay`` keys are kept)."""
        section = metadata.get(METADATA_KEY)
        if not isinstance(section, dict):
            section = metadata[METADATA_KEY] = {}
        section["classification"] = self.classification
        section["datasets"] = list(self.datasets)

    @property
    def blocks_export(self) -> bool:
        return bool(self.classification) and rank(self.classification) > rank(EXPORT_LIMIT)

    def __bool__(self) -> bool:
        return bool(self.classification or self.datasets)
