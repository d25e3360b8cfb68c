"""Jobs: definitions, runs (one per slot and attempt), metrics, encrypted secrets.

Revision ID: 0002
Revises: 0001
Create Date: 2025-02-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

NAME, HASH, KEY = 255, 64, 1024
STATUSES = ("queued", "running", "succeeded", "failed", "timed_out", "cancelled",
            "interrupted")


def _moment(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _jobs() -> None:
    op.create_table(
        "assay_jobs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("owner", sa.String(NAME), nullable=False),
        sa.Column("name", sa.String(NAME), nullable=False),
        sa.Column("notebook_key", sa.String(KEY), nullable=False),
        sa.Column("notebook_sha256", sa.String(HASH), nullable=False),
        sa.Column("notebook_path", sa.String(KEY), nullable=False),
        sa.Column("parameters", sa.JSON, nullable=False),
        sa.Column("profile", sa.String(NAME), nullable=False),
        sa.Column("schedule", sa.String(NAME), nullable=True),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("timeout_s", sa.Integer, nullable=True),
        sa.Column("retries", sa.Integer, nullable=False),
        sa.Column("retry_backoff_s", sa.Float, nullable=False),
        sa.Column("max_concurrency", sa.Integer, nullable=False),
        sa.Column("catchup", sa.String(8), nullable=False),
        sa.Column("webhook", sa.Text, nullable=True),
        sa.Column("drift_rules", sa.JSON, nullable=False),
        _moment("created_at"),
        sa.Column("paused", sa.Boolean, nullable=False),
        _moment("last_slot", nullable=True),
        sa.UniqueConstraint("owner", "name", name="uq_assay_jobs_owner_name"),
        sa.CheckConstraint("catchup IN ('none', 'latest', 'all')", name="ck_assay_jobs_catchup"),
    )


def _runs() -> None:
    statuses = ", ".join(f"'{s}'" for s in STATUSES)
    op.create_table(
        "assay_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.Integer, sa.ForeignKey("assay_jobs.id", ondelete="CASCADE"),
                  nullable=False),
        _moment("slot", nullable=True),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _moment("not_before"),
        _moment("created_at"),
        _moment("started_at", nullable=True),
        _moment("finished_at", nullable=True),
        sa.Column("parameters", sa.JSON, nullable=False),
        sa.Column("notebook_sha256", sa.String(HASH), nullable=False),
        sa.Column("profile", sa.String(NAME), nullable=False),
        sa.Column("image", sa.String(KEY), nullable=True),
        sa.Column("executor_ref", sa.Text, nullable=True),
        sa.Column("workdir", sa.String(KEY), nullable=True),
        sa.Column("cells_done", sa.Integer, nullable=False),
        sa.Column("cells_total", sa.Integer, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("outputs", sa.JSON, nullable=False),
        sa.Column("drift", sa.JSON, nullable=True),
        sa.Column("session_id", sa.String(32), nullable=True),
        sa.UniqueConstraint("job_id", "slot", "attempt", name="uq_assay_runs_slot_attempt"),
        sa.CheckConstraint(f"status IN ({statuses})", name="ck_assay_runs_status"),
    )
    op.create_index("ix_assay_runs_status_not_before", "assay_runs", ["status", "not_before"])
    op.create_index("ix_assay_runs_job", "assay_runs", ["job_id", "id"])


def _metrics_and_secrets() -> None:
    op.create_table(
        "assay_metrics",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("assay_runs.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("name", sa.String(NAME), nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        _moment("recorded_at"),
    )
    op.create_index("ix_assay_metrics_run", "assay_metrics", ["run_id", "name"])
    op.create_table(
        "assay_secrets",
        sa.Column("owner", sa.String(NAME), primary_key=True),
        sa.Column("name", sa.String(NAME), primary_key=True),
        sa.Column("ciphertext", sa.Text, nullable=False),
        _moment("created_at"),
    )


def upgrade() -> None:
    _jobs()
    _runs()
    _metrics_and_secrets()


def downgrade() -> None:
    op.drop_table("assay_secrets")
    op.drop_index("ix_assay_metrics_run", table_name="assay_metrics")
    op.drop_table("assay_metrics")
    op.drop_index("ix_assay_runs_job", table_name="assay_runs")
    op.drop_index("ix_assay_runs_status_not_before", table_name="assay_runs")
    op.drop_table("assay_runs")
    op.drop_table("assay_jobs")
