"""The data catalog section of ``assay.yaml``: datasets, classifications, clearances.

Dataset locations come only from this admin file, never from a request: a folder
under ``data.root`` or ``s3://bucket/prefix``. Anything else (``file://``, ``http://``,
metadata endpoints, ``..``) is refused when the file is validated.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Classification = Literal["public", "internal", "confidential", "restricted"]
CLASSES: tuple[str, ...] = ("public", "internal", "confidential", "restricted")

DATASET_NAME = r"^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$"
LOCAL_LOCATION = r"^[A-Za-z0-9_][A-Za-z0-9._-]*(/[A-Za-z0-9_][A-Za-z0-9._-]*)*$"
S3_LOCATION = r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[A-Za-z0-9_][A-Za-z0-9._-]*)*/?$"
LOCATION_HELP = ("a folder under data.root (e.g. trial-042) or s3://bucket/prefix; "
                 "no '..', no other URL schemes")
GroupName = Annotated[str, Field(pattern=r"^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$")]


def rank(classification: str) -> int:
    """``public`` 0 < ``internal`` 1 < ``confidential`` 2 < ``restricted`` 3."""
    return CLASSES.index(classification)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Dataset(_Strict):
    name: str = Field(pattern=DATASET_NAME)
    description: str = Field("", max_length=2000)
    classification: Classification
    location: str = Field(min_length=1, max_length=512)
    owners: list[GroupName] = Field(default_factory=list)
    groups: list[GroupName] = Field(default_factory=list, description="empty: every group")
    zone: Literal["standard", "secure"] | None = Field(
        None, description="zone a server must be in to read; none: any")
    approver: str = Field(min_length=1, max_length=200, description="whom to ask for access")

    @field_validator("location")
    @classmethod
    def _location(cls, value: str) -> str:
        if ".." in value.split("/") or not (
            re.match(LOCAL_LOCATION, value) or re.match(S3_LOCATION, value)
        ):
            raise ValueError(f"must be {LOCATION_HELP}, got {value!r}")
        return value

    @property
    def is_s3(self) -> bool:
        return self.location.startswith("s3://")


class S3Settings(_Strict):
    endpoint_url: str | None = Field(None, pattern=r"^https?://\S+$",
                                     description="for S3-compatible stores; none: AWS")
    region: str = "us-east-1"


class DataCatalog(_Strict):
    root: str = Field("var/data", min_length=1, description="root of local dataset folders")
    default_clearance: Classification = Field(
        "public", description="clearance of every user, whatever their groups")
    clearances: dict[GroupName, Classification] = Field(default_factory=dict)
    datasets: list[Dataset] = Field(default_factory=list)
    signed_url_ttl: int = Field(30, ge=1, le=60, strict=True)
    s3: S3Settings = S3Settings()

    def dataset(self, name: str) -> Dataset | None:
        return next((d for d in self.datasets if d.name == name), None)
