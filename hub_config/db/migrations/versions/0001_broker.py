"""The broker's tables: session credentials, the audit log and its chain head.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

NAME, PURPOSE, HASH = 255, 500, 64


def _sessions() -> None:
    op.create_table(
        "assay_sessions",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("token_hash", sa.String(HASH), nullable=False, unique=True),
        sa.Column("user", sa.String(NAME), nullable=False),
        sa.Column("server", sa.String(NAME), nullable=False),
        sa.Column("profile", sa.String(NAME), nullable=False),
        sa.Column("zone", sa.String(NAME), nullable=False),
        sa.Column("purpose", sa.String(PURPOSE), nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_assay_sessions_user_server", "assay_sessions", ["user", "server"])


def _audit() -> None:
    op.create_table(
        "assay_audit",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("time", sa.String(32), nullable=False),
        *(sa.Column(name, sa.String(NAME), nullable=True)
          for name in ("user", "server", "profile", "zone")),
        sa.Column("purpose", sa.String(PURPOSE), nullable=True),
        sa.Column("session_id", sa.String(32), nullable=True),
        sa.Column("kernel_id", sa.String(NAME), nullable=True),
        sa.Column("dataset", sa.String(NAME), nullable=True),
        sa.Column("path", sa.Text, nullable=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("bytes", sa.BigInteger, nullable=False),
        sa.Column("decision", sa.String(5), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(HASH), nullable=False),
        sa.Column("hash", sa.String(HASH), nullable=False),
        sa.CheckConstraint("decision IN ('allow', 'deny')", name="ck_assay_audit_decision"),
    )
    op.create_index("ix_assay_audit_user", "assay_audit", ["user"])
    op.create_index("ix_assay_audit_dataset", "assay_audit", ["dataset"])
    op.create_index("ix_assay_audit_session", "assay_audit", ["session_id", "kernel_id"])


def _head() -> None:
    head = op.create_table(
        "assay_audit_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("hash", sa.String(HASH), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_assay_audit_head_single"),
    )
    op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": "0" * HASH}])


def upgrade() -> None:
    _sessions()
    _audit()
    _head()


def downgrade() -> None:
    op.drop_table("assay_audit_head")
    op.drop_index("ix_assay_audit_session", table_name="assay_audit")
    op.drop_index("ix_assay_audit_dataset", table_name="assay_audit")
    op.drop_index("ix_assay_audit_user", table_name="assay_audit")
    op.drop_table("assay_audit")
    op.drop_index("ix_assay_sessions_user_server", table_name="assay_sessions")
    op.drop_table("assay_sessions")
