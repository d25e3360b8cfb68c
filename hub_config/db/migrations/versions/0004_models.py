"""Model registry: models, numbered versions, their files and inputs, aliases, approvals.

Revision ID: 0004_models
Revises: 0003_gpu
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_models"
down_revision = "0003_gpu"
branch_labels = None
depends_on = None

NAME, HASH, MODEL_NAME, CLASS, ARTIFACT_PATH = 255, 64, 64, 16, 512


def _moment(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _models() -> None:
    op.create_table(
        "assay_models",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(MODEL_NAME), nullable=False),
        sa.Column("created_by", sa.String(NAME), nullable=False),
        _moment("created_at"),
        _moment("updated_at"),
        sa.Column("next_version", sa.Integer, nullable=False),
        sa.Column("ready_versions", sa.Integer, nullable=False),
        sa.Column("latest_version", sa.Integer, nullable=True),
        sa.Column("classification", sa.String(CLASS), nullable=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.UniqueConstraint("name", name="uq_assay_models_name"),
    )
    op.create_index("ix_assay_models_updated", "assay_models", ["updated_at"])


def _versions() -> None:
    op.create_table(
        "assay_model_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model_id", sa.Integer,
                  sa.ForeignKey("assay_models.id", ondelete="CASCADE"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("registrant", sa.String(NAME), nullable=False),
        _moment("created_at"),
        _moment("committed_at", nullable=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("metrics", sa.JSON, nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("signature", sa.JSON, nullable=True),
        sa.Column("environment", sa.JSON, nullable=True),
        sa.Column("notebook", sa.JSON, nullable=True),
        sa.Column("git_commit", sa.String(HASH), nullable=True),
        sa.Column("flavor", sa.String(32), nullable=False),
        sa.Column("classification", sa.String(CLASS), nullable=False),
        sa.Column("session_id", sa.String(32), nullable=True),
        sa.Column("kernel_id", sa.String(NAME), nullable=True),
        sa.Column("run_id", sa.Integer, nullable=True),
        sa.UniqueConstraint("model_id", "version", name="uq_assay_model_versions_number"),
        sa.CheckConstraint("status IN ('pending', 'ready')",
                           name="ck_assay_model_versions_status"),
    )


def _files_and_inputs() -> None:
    op.create_table(
        "assay_model_files",
        sa.Column("version_id", sa.Integer,
                  sa.ForeignKey("assay_model_versions.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("path", sa.String(ARTIFACT_PATH), primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("stored_size", sa.BigInteger, nullable=True),
        sa.Column("sha256", sa.String(HASH), nullable=True),
    )
    op.create_table(
        "assay_model_inputs",
        sa.Column("version_id", sa.Integer,
                  sa.ForeignKey("assay_model_versions.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("dataset", sa.String(NAME), primary_key=True),
        sa.Column("classification", sa.String(CLASS), nullable=False),
    )
    op.create_index("ix_assay_model_inputs_dataset", "assay_model_inputs", ["dataset"])


def _aliases_and_approvals() -> None:
    op.create_table(
        "assay_model_aliases",
        sa.Column("model_id", sa.Integer, sa.ForeignKey("assay_models.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("alias", sa.String(MODEL_NAME), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_by", sa.String(NAME), nullable=False),
        _moment("updated_at"),
    )
    op.create_table(
        "assay_model_approvals",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model_id", sa.Integer, sa.ForeignKey("assay_models.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("alias", sa.String(MODEL_NAME), nullable=False),
        sa.Column("version", sa.Integer, nullable=True),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("requested_by", sa.String(NAME), nullable=False),
        _moment("requested_at"),
        sa.Column("decided_by", sa.String(NAME), nullable=True),
        _moment("decided_at", nullable=True),
        sa.CheckConstraint("status IN ('pending', 'approved', 'superseded')",
                           name="ck_assay_model_approvals_status"),
    )
    op.create_index("ix_assay_model_approvals_alias", "assay_model_approvals",
                    ["model_id", "alias", "status"])


def upgrade() -> None:
    _models()
    _versions()
    _files_and_inputs()
    _aliases_and_approvals()


def downgrade() -> None:
    op.drop_index("ix_assay_model_approvals_alias", table_name="assay_model_approvals")
    op.drop_table("assay_model_approvals")
    op.drop_table("assay_model_aliases")
    op.drop_index("ix_assay_model_inputs_dataset", table_name="assay_model_inputs")
    op.drop_table("assay_model_inputs")
    op.drop_table("assay_model_files")
    op.drop_table("assay_model_versions")
    op.drop_index("ix_assay_models_updated", table_name="assay_models")
    op.drop_table("assay_models")
