"""The broker's tables: session credentials and the hash-chained audit log.

The schema is created by the Alembic migrations (``migrations/versions``); these classes
must match them (``tests/db/test_migrations.py`` compares the two).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAME = 255  # users, servers, profiles, zones, datasets: hub and catalog names
PURPOSE = 500
HASH = 64  # sha256, hex
GENESIS_HASH = "0" * HASH  # the prev_hash of record 1 and the hash of the empty chain


class Base(DeclarativeBase):
    pass


class SessionCredential(Base):
    """A per-server credential minted by the spawner; only its sha256 is stored."""

    __tablename__ = "assay_sessions"
    __table_args__ = (Index("ix_assay_sessions_user_server", "user", "server"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(HASH), unique=True)
    user: Mapped[str] = mapped_column(String(NAME))
    server: Mapped[str] = mapped_column(String(NAME))
    profile: Mapped[str] = mapped_column(String(NAME))
    zone: Mapped[str] = mapped_column(String(NAME))
    purpose: Mapped[str | None] = mapped_column(String(PURPOSE))
    kind: Mapped[str] = mapped_column(String(32), default="server")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AuditRecord(Base):
    """One decision. ``seq`` is assigned by the appender under the head lock."""

    __tablename__ = "assay_audit"
    __table_args__ = (
        CheckConstraint("decision IN ('allow', 'deny')", name="ck_assay_audit_decision"),
        Index("ix_assay_audit_user", "user"),
        Index("ix_assay_audit_dataset", "dataset"),
        Index("ix_assay_audit_session", "session_id", "kernel_id"),  # taint per kernel
    )

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    time: Mapped[str] = mapped_column(String(32))
    user: Mapped[str | None] = mapped_column(String(NAME))
    server: Mapped[str | None] = mapped_column(String(NAME))
    profile: Mapped[str | None] = mapped_column(String(NAME))
    zone: Mapped[str | None] = mapped_column(String(NAME))
    purpose: Mapped[str | None] = mapped_column(String(PURPOSE))
    session_id: Mapped[str | None] = mapped_column(String(32))
    kernel_id: Mapped[str | None] = mapped_column(String(NAME))
    dataset: Mapped[str | None] = mapped_column(String(NAME))
    path: Mapped[str | None] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(16))
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    decision: Mapped[str] = mapped_column(String(5))
    reason: Mapped[str] = mapped_column(Text, default="")
    prev_hash: Mapped[str] = mapped_column(String(HASH))
    hash: Mapped[str] = mapped_column(String(HASH))


class AuditHead(Base):
    """The single row (id 1) naming the last record; a deleted tail no longer matches it."""

    __tablename__ = "assay_audit_head"
    __table_args__ = (CheckConstraint("id = 1", name="ck_assay_audit_head_single"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(HASH))
