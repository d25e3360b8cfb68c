"""The optional ``models:`` section of ``assay.yaml``: the model registry's limits and
which aliases need a second person's approval. Every key has a default, so a file
without the section stays valid."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .catalog import Classification

ALIAS = r"^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$"
SIZE = re.compile(r"^(\d+)([KMGT])$")
_UNITS = {"K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
Zone = Literal["standard", "secure"]


def size_bytes(value: str) -> int:
    """``"2G"`` → 2 GiB in bytes."""
    match = SIZE.match(value)
    if not match:
        raise ValueError(f"not a size: {value!r}")
    return int(match.group(1)) * _UNITS[match.group(2)]


class ModelsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    protected_aliases: list[Annotated[str, Field(pattern=ALIAS)]] = Field(
        default_factory=lambda: ["production"],
        description="aliases that move only when another person approves")
    max_file_size: str = Field("2G", description="largest artifact file, e.g. 512M or 2G")
    max_version_size: str = Field("8G", description="all files of one version together")
    pending_hours: float = Field(
        24, gt=0, le=24 * 365,
        description="a version not committed within this many hours is removed with its "
                    "file records (its number is not reused)")
    class_zones: dict[Classification, Zone] = Field(
        default_factory=lambda: {"restricted": "secure"},
        description="class -> the zone a server must be in to download versions of it")

    @field_validator("max_file_size", "max_version_size")
    @classmethod
    def _size(cls, value: str) -> str:
        if not SIZE.match(value) or size_bytes(value) == 0:
            raise ValueError(f"must be a size like 512M or 2G (units K, M, G, T), got "
                             f"{value!r}")
        return value

    @property
    def max_file_bytes(self) -> int:
        return size_bytes(self.max_file_size)

    @property
    def max_version_bytes(self) -> int:
        return size_bytes(self.max_version_size)
