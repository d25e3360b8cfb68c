"""The model registry's tables: models, their numbered versions, each version's files
(with the sha256 the service computed) and inputs (lineage), aliases and approvals.

Created by migration ``0004_models``; ``tests/db/test_migrations.py`` compares the two.
``assay_models`` carries a few denormalised fields of its latest ready version (number,
class, description, count of ready versions) so that listing and searching never scan
versions.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from .models import HASH, NAME, Base

MODEL_NAME = 64  # the NAME rule of the admin config: 1-64 characters
CLASS = 16
ARTIFACT_PATH = 512
VERSION_STATUSES = ("pending", "ready")
APPROVAL_STATUSES = ("pending", "approved", "superseded")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


class RegisteredModel(Base):
    __tablename__ = "assay_models"
    __table_args__ = (
        UniqueConstraint("name", name="uq_assay_models_name"),
        Index("ix_assay_models_updated", "updated_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(MODEL_NAME))
    created_by: Mapped[str] = mapped_column(String(NAME))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    next_version: Mapped[int] = mapped_column(Integer)  # the last number handed out
    ready_versions: Mapped[int] = mapped_column(Integer)
    latest_version: Mapped[int | None] = mapped_column(Integer)  # highest ready number
    classification: Mapped[str | None] = mapped_column(String(CLASS))  # of the latest
    description: Mapped[str] = mapped_column(Text)  # of the latest


class ModelVersion(Base):
    __tablename__ = "assay_model_versions"
    __table_args__ = (
        UniqueConstraint("model_id", "version", name="uq_assay_model_versions_number"),
        CheckConstraint(_in("status", VERSION_STATUSES), name="ck_assay_model_versions_status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("assay_models.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(8))
    registrant: Mapped[str] = mapped_column(String(NAME))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    committed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    description: Mapped[str] = mapped_column(Text)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    signature: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    environment: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    notebook: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    git_commit: Mapped[str | None] = mapped_column(String(HASH))
    flavor: Mapped[str] = mapped_column(String(32))
    classification: Mapped[str] = mapped_column(String(CLASS))
    session_id: Mapped[str | None] = mapped_column(String(32))
    kernel_id: Mapped[str | None] = mapped_column(String(NAME))
    run_id: Mapped[int | None] = mapped_column(Integer)


class ModelFile(Base):
    """A declared artifact; ``sha256`` and ``stored_size`` once the service has it."""

    __tablename__ = "assay_model_files"

    version_id: Mapped[int] = mapped_column(
        ForeignKey("assay_model_versions.id", ondelete="CASCADE"), primary_key=True)
    path: Mapped[str] = mapped_column(String(ARTIFACT_PATH), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    stored_size: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(HASH))


class ModelInput(Base):
    """Lineage: a dataset the registering kernel (or job run) read, with its class then."""

    __tablename__ = "assay_model_inputs"
    __table_args__ = (Index("ix_assay_model_inputs_dataset", "dataset"),)

    version_id: Mapped[int] = mapped_column(
        ForeignKey("assay_model_versions.id", ondelete="CASCADE"), primary_key=True)
    dataset: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    classification: Mapped[str] = mapped_column(String(CLASS))


class ModelAlias(Base):
    __tablename__ = "assay_model_aliases"

    model_id: Mapped[int] = mapped_column(ForeignKey("assay_models.id", ondelete="CASCADE"),
                                          primary_key=True)
    alias: Mapped[str] = mapped_column(String(MODEL_NAME), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    updated_by: Mapped[str] = mapped_column(String(NAME))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ModelApproval(Base):
    """A request to move (``version``) or remove (``version`` null) a protected alias."""

    __tablename__ = "assay_model_approvals"
    __table_args__ = (
        CheckConstraint(_in("status", APPROVAL_STATUSES), name="ck_assay_model_approvals_status"),
        Index("ix_assay_model_approvals_alias", "model_id", "alias", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("assay_models.id", ondelete="CASCADE"))
    alias: Mapped[str] = mapped_column(String(MODEL_NAME))
    version: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12))
    requested_by: Mapped[str] = mapped_column(String(NAME))
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[str | None] = mapped_column(String(NAME))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
