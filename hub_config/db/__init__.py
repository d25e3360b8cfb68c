"""Assay's database: SQLAlchemy models, the engine, Alembic migrations.

SQLite (the default) and PostgreSQL differ only in the URL (``database.url`` of the
admin config); the schema is built by the migrations in ``migrations/``, never by
``create_all``. Importing this package connects to nothing.
"""

from .engine import IMMEDIATE, make_engine, sqlite_path, upgrade
from .models import (
    AuditHead,
    AuditRecord,
    Base,
    GPUHolding,
    JobDefinition,
    JobRun,
    JobSecret,
    RunMetric,
    SessionCredential,
)
from .models_registry import (
    ModelAlias,
    ModelApproval,
    ModelFile,
    ModelInput,
    ModelVersion,
    RegisteredModel,
)

__all__ = [
    "IMMEDIATE", "AuditHead", "AuditRecord", "Base", "GPUHolding", "JobDefinition", "JobRun",
    "JobSecret", "RunMetric", "SessionCredential", "make_engine", "sqlite_path", "upgrade",
    "ModelAlias", "ModelApproval", "ModelFile", "ModelInput", "ModelVersion", "RegisteredModel",
]
