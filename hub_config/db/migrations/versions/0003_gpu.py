"""GPU ledger: one row per held GPU, shared by the hub and the Assay service.

Revision ID: 0003_gpu
Revises: 0002
Create Date: 2025-03-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_gpu"
down_revision = "0002"
branch_labels = None
depends_on = None

NAME = 255
HOLDER = 2 * NAME + 1  # "user:server"


def upgrade() -> None:
    op.create_table(
        "assay_gpu_holdings",
        sa.Column("gpu_id", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(HOLDER), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('server', 'run')", name="ck_assay_gpu_holdings_kind"),
    )
    op.create_index("ix_assay_gpu_holdings_holder", "assay_gpu_holdings", ["kind", "holder"])


def downgrade() -> None:
    op.drop_index("ix_assay_gpu_holdings_holder", table_name="assay_gpu_holdings")
    op.drop_table("assay_gpu_holdings")
