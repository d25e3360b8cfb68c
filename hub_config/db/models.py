"""The service's tables: session credentials, the hash-chained audit log, and jobs
(definitions, runs, metrics, encrypted secrets).

The schema is created by the Alembic migrations (``migrations/versions``); these classes
must match them (``tests/db/test_migrations.py`` compares the two).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAME = 255  # users, servers, profiles, zones, datasets: hub and catalog names
PURPOSE = 500
HASH = 64  # sha256, hex
GENESIS_HASH = "0" * HASH  # the prev_hash of record 1 and the hash of the empty chain
KEY = 1024  # object-store keys, paths
RUN_STATUSES = ("queued", "running", "succeeded", "failed", "timed_out", "cancelled",
                "interrupted")
_STATUS_CHECK = "status IN (" + ", ".join(f"'{s}'" for s in RUN_STATUSES) + ")"


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


class JobDefinition(Base):
    """A job: the pinned notebook (object key + sha256), its parameters and schedule.
    ``last_slot`` is the newest slot the scheduler has considered (claimed or skipped)."""

    __tablename__ = "assay_jobs"
    __table_args__ = (
        UniqueConstraint("owner", "name", name="uq_assay_jobs_owner_name"),
        CheckConstraint("catchup IN ('none', 'latest', 'all')", name="ck_assay_jobs_catchup"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(String(NAME))
    name: Mapped[str] = mapped_column(String(NAME))
    notebook_key: Mapped[str] = mapped_column(String(KEY))
    notebook_sha256: Mapped[str] = mapped_column(String(HASH))
    notebook_path: Mapped[str] = mapped_column(String(KEY))
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON)
    profile: Mapped[str] = mapped_column(String(NAME))
    schedule: Mapped[str | None] = mapped_column(String(NAME))
    timezone: Mapped[str] = mapped_column(String(64))
    timeout_s: Mapped[int | None] = mapped_column(Integer)
    retries: Mapped[int] = mapped_column(Integer)
    retry_backoff_s: Mapped[float] = mapped_column(Float)
    max_concurrency: Mapped[int] = mapped_column(Integer)
    catchup: Mapped[str] = mapped_column(String(8))
    webhook: Mapped[str | None] = mapped_column(Text)
    drift_rules: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    paused: Mapped[bool] = mapped_column(Boolean)
    last_slot: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class JobRun(Base):
    """One attempt of a job. A slot's first attempt is inserted once: the unique
    ``(job_id, slot, attempt)`` makes a second claim fail (on-demand runs have no slot)."""

    __tablename__ = "assay_runs"
    __table_args__ = (
        UniqueConstraint("job_id", "slot", "attempt", name="uq_assay_runs_slot_attempt"),
        CheckConstraint(_STATUS_CHECK, name="ck_assay_runs_status"),
        Index("ix_assay_runs_status_not_before", "status", "not_before"),
        Index("ix_assay_runs_job", "job_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("assay_jobs.id", ondelete="CASCADE"))
    slot: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempt: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    not_before: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON)
    notebook_sha256: Mapped[str] = mapped_column(String(HASH))
    profile: Mapped[str] = mapped_column(String(NAME))
    image: Mapped[str | None] = mapped_column(String(KEY))
    executor_ref: Mapped[str | None] = mapped_column(Text)
    workdir: Mapped[str | None] = mapped_column(String(KEY))
    cells_done: Mapped[int] = mapped_column(Integer)
    cells_total: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    outputs: Mapped[dict[str, str]] = mapped_column(JSON)
    drift: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    session_id: Mapped[str | None] = mapped_column(String(32))


class RunMetric(Base):
    """A value a run recorded with ``assay.jobs.record(name, value)``."""

    __tablename__ = "assay_metrics"
    __table_args__ = (Index("ix_assay_metrics_run", "run_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("assay_runs.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(NAME))
    value: Mapped[float] = mapped_column(Float)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class JobSecret(Base):
    """A job owner's secret, Fernet-encrypted (``assay.jobs.secrets``)."""

    __tablename__ = "assay_secrets"

    owner: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    ciphertext: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# -- GPU ledger (local mode) ------------------------------------------------------------

GPU_HOLDER = 2 * NAME + 1  # "user:server"
GPU_KINDS = ("server", "run")


class GPUHolding(Base):
    """One held GPU, shared by the hub (``kind='server'``: ``user`` or ``user:server``) and
    the jobs scheduler (``kind='run'``: ``job-run:<id>``). The primary key on ``gpu_id``
    makes a second holder of the same GPU impossible, whatever the number of processes."""

    __tablename__ = "assay_gpu_holdings"
    __table_args__ = (
        CheckConstraint("kind IN ('server', 'run')", name="ck_assay_gpu_holdings_kind"),
        Index("ix_assay_gpu_holdings_holder", "kind", "holder"),
    )

    gpu_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(GPU_HOLDER))
    kind: Mapped[str] = mapped_column(String(16))
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True))
