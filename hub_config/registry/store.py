"""The registry in the database: models, versions (numbered race-free), files, inputs.

Aliases and approvals are in ``aliases.py``. Every write is one transaction; on SQLite
it takes the write lock at its first statement (``IMMEDIATE``), on PostgreSQL the model's
row is locked (``FOR UPDATE``), so two registrations of one model never get one number
(and the unique ``(model_id, version)`` would refuse it anyway).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from ..db.engine import IMMEDIATE
from ..db.models_registry import (
    ModelAlias,
    ModelFile,
    ModelInput,
    ModelVersion,
    RegisteredModel,
)
from ..errors import RegistryConflict
from .rules import LATEST_WORD as LATEST
from .rules import Input, Registration

MAX_PAGE = 500


def aware(moment: datetime | None) -> datetime | None:
    """SQLite gives naive datetimes back; every stored time is UTC."""
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class FileRecord:
    path: str
    size: int  # declared
    sha256: str | None = None  # computed by the service while storing
    stored_size: int | None = None


@dataclass(frozen=True)
class VersionRecord:
    id: int
    model_id: int
    name: str
    version: int
    status: str
    registrant: str
    created_at: datetime
    committed_at: datetime | None
    description: str
    metrics: dict[str, Any]
    params: dict[str, Any]
    signature: dict[str, Any] | None
    environment: dict[str, Any] | None
    notebook: dict[str, Any] | None
    git_commit: str | None
    flavor: str
    classification: str
    session_id: str | None
    kernel_id: str | None
    run_id: int | None
    inputs: list[Input] = field(default_factory=list)
    files: list[FileRecord] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ModelSummary:
    id: int
    name: str
    created_by: str
    created_at: datetime
    updated_at: datetime
    latest_version: int | None
    versions: int  # ready ones
    classification: str | None
    description: str
    aliases: dict[str, int] = field(default_factory=dict)


_VERSION_COLUMNS = [c for c in ModelVersion.__table__.columns]


def _summary(row: Any, aliases: dict[str, int]) -> ModelSummary:
    return ModelSummary(
        id=row.id, name=row.name, created_by=row.created_by,
        created_at=aware(row.created_at), updated_at=aware(row.updated_at),
        latest_version=row.latest_version, versions=row.ready_versions,
        classification=row.classification, description=row.description, aliases=aliases)


def _like(q: str) -> str:
    escaped = q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class ModelStore:
    """Models and versions in ``engine``'s database (migrated by ``assay.db.upgrade``)."""

    def __init__(self, engine: Engine):
        self.engine = engine

    # -- registering ---------------------------------------------------------------

    def create_version(self, name: str, reg: Registration, *, registrant: str,
                       inputs: Sequence[Input], classification: str, run_id: int | None,
                       session_id: str | None, kernel_id: str | None) -> VersionRecord:
        """A new pending version numbered max+1 (the model is created on first use)."""
        for attempt in range(3):
            try:
                with self.engine.connect().execution_options(**IMMEDIATE) as conn, \
                        conn.begin():
                    version_id = self._insert_version(
                        conn, name, reg, registrant=registrant, inputs=inputs,
                        classification=classification, run_id=run_id,
                        session_id=session_id, kernel_id=kernel_id)
                break
            except IntegrityError:  # a concurrent first registration made the model
                if attempt == 2:
                    raise
        found = self.version_by_id(version_id)
        assert found is not None
        return found

    def _model_for_update(self, conn: Connection, name: str, who: str, now: datetime
                          ) -> tuple[int, int]:
        row = conn.execute(select(RegisteredModel.id, RegisteredModel.next_version)
                           .where(RegisteredModel.name == name).with_for_update()).first()
        if row is not None:
            return row.id, row.next_version
        result = conn.execute(insert(RegisteredModel).values(
            name=name, created_by=who, created_at=now, updated_at=now, next_version=0,
            ready_versions=0, latest_version=None, classification=None, description=""))
        return result.inserted_primary_key[0], 0

    def _insert_version(self, conn: Connection, name: str, reg: Registration, *,
                        registrant: str, inputs: Sequence[Input], classification: str,
                        run_id: int | None, session_id: str | None,
                        kernel_id: str | None) -> int:
        now = datetime.now(UTC)
        model_id, last = self._model_for_update(conn, name, registrant, now)
        number = last + 1
        conn.execute(update(RegisteredModel).where(RegisteredModel.id == model_id)
                     .values(next_version=number))
        result = conn.execute(insert(ModelVersion).values(
            model_id=model_id, version=number, status="pending", registrant=registrant,
            created_at=now, committed_at=None, description=reg.description,
            metrics=reg.metrics, params=reg.params, signature=reg.signature,
            environment=reg.environment, notebook=reg.notebook, git_commit=reg.git_commit,
            flavor=reg.flavor, classification=classification, session_id=session_id,
            kernel_id=kernel_id, run_id=run_id))
        version_id = result.inserted_primary_key[0]
        conn.execute(insert(ModelFile), [
            {"version_id": version_id, "path": f.path, "size": f.size, "stored_size": None,
             "sha256": None} for f in reg.files])
        if inputs:
            conn.execute(insert(ModelInput), [
                {"version_id": version_id, "dataset": i.dataset,
                 "classification": i.classification} for i in inputs])
        return version_id

    def record_upload(self, version_id: int, path: str, stored_size: int, sha256: str
                      ) -> bool:
        """Remember what the service stored; False when the version is no longer pending."""
        with self.engine.connect().execution_options(**IMMEDIATE) as conn, conn.begin():
            status = conn.execute(select(ModelVersion.status)
                                  .where(ModelVersion.id == version_id)
                                  .with_for_update()).scalar()
            if status != "pending":
                return False
            conn.execute(update(ModelFile).where(ModelFile.version_id == version_id,
                                                 ModelFile.path == path)
                         .values(stored_size=stored_size, sha256=sha256))
        return True

    def commit(self, version_id: int, declared: dict[str, str]) -> VersionRecord:
        """Make a pending version ready if every file was uploaded with the declared
        hash; else ``RegistryConflict`` naming the file (the version stays pending)."""
        with self.engine.connect().execution_options(**IMMEDIATE) as conn, conn.begin():
            row = conn.execute(select(ModelVersion.status, ModelVersion.model_id,
                                      ModelVersion.version, ModelVersion.classification,
                                      ModelVersion.description)
                               .where(ModelVersion.id == version_id).with_for_update()
                               ).one_or_none()
            if row is None:
                raise RegistryConflict("This version was removed: it stayed pending longer "
                                       "than models.pending_hours. Register again.",
                                       field="status", value="'removed'")
            if row.status != "pending":
                raise RegistryConflict(f"Version {row.version} is already {row.status}.",
                                       field="status", value=repr(row.status))
            files = conn.execute(select(ModelFile).where(ModelFile.version_id == version_id)
                                 .order_by(ModelFile.path)).all()
            for f in files:
                _check_file(f, declared.get(f.path))
            now = datetime.now(UTC)
            conn.execute(update(ModelVersion).where(ModelVersion.id == version_id)
                         .values(status="ready", committed_at=now))
            self._bump_model(conn, row, now)
        found = self.version_by_id(version_id)
        assert found is not None
        return found

    def stale_pending(self, before: datetime) -> list[tuple[int, str, int, str]]:
        """Versions still pending that were started before ``before``: ``(id, model name,
        number, registrant)``, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(ModelVersion.id, RegisteredModel.name, ModelVersion.version,
                       ModelVersion.registrant)
                .join(RegisteredModel, RegisteredModel.id == ModelVersion.model_id)
                .where(ModelVersion.status == "pending", ModelVersion.created_at < before)
                .order_by(ModelVersion.created_at)).all()
        return [tuple(row) for row in rows]  # type: ignore[misc]

    def drop_pending(self, version_id: int, before: datetime) -> bool:
        """Delete the version (its file and input rows too) if it is still pending and was
        started before ``before``. Its number is not handed out again (the model keeps
        ``next_version``)."""
        with self.engine.connect().execution_options(**IMMEDIATE) as conn, conn.begin():
            row = conn.execute(select(ModelVersion.status, ModelVersion.created_at)
                               .where(ModelVersion.id == version_id)
                               .with_for_update()).one_or_none()
            if row is None or row.status != "pending" or aware(row.created_at) >= before:
                return False
            for table in (ModelFile, ModelInput):
                conn.execute(delete(table).where(table.version_id == version_id))
            conn.execute(delete(ModelVersion).where(ModelVersion.id == version_id))
        return True

    @staticmethod
    def _bump_model(conn: Connection, version: Any, now: datetime) -> None:
        model = conn.execute(select(RegisteredModel.latest_version)
                             .where(RegisteredModel.id == version.model_id)
                             .with_for_update()).one()
        values: dict[str, Any] = {"ready_versions": RegisteredModel.ready_versions + 1,
                                  "updated_at": now}
        if model.latest_version is None or version.version > model.latest_version:
            values.update(latest_version=version.version,
                          classification=version.classification,
                          description=version.description)
        conn.execute(update(RegisteredModel).where(RegisteredModel.id == version.model_id)
                     .values(**values))

    # -- reading -------------------------------------------------------------------

    def model(self, name: str) -> ModelSummary | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(RegisteredModel)
                               .where(RegisteredModel.name == name)).first()
            if row is None:
                return None
            return _summary(row, self._aliases(conn, [row.id]).get(row.id, {}))

    def list_models(self, q: str | None = None, limit: int = 50, offset: int = 0
                    ) -> tuple[list[ModelSummary], int]:
        """Models with a ready version, newest change first; ``q`` matches the name or
        the latest version's description (case-insensitive substring)."""
        where = [RegisteredModel.ready_versions > 0]
        if q:
            pattern = _like(q)
            where.append(or_(RegisteredModel.name.like(pattern, escape="\\"),
                             func.lower(RegisteredModel.description).like(pattern,
                                                                          escape="\\")))
        limit = max(1, min(int(limit), MAX_PAGE))
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(RegisteredModel)
                                 .where(*where)).scalar_one()
            rows = conn.execute(select(RegisteredModel).where(*where)
                                .order_by(RegisteredModel.updated_at.desc(),
                                          RegisteredModel.name)
                                .limit(limit).offset(max(0, int(offset)))).all()
            aliases = self._aliases(conn, [r.id for r in rows])
        return [_summary(r, aliases.get(r.id, {})) for r in rows], total

    def versions(self, model_id: int, limit: int = 100, offset: int = 0
                 ) -> list[VersionRecord]:
        """A model's versions, newest first."""
        limit = max(1, min(int(limit), MAX_PAGE))
        query = (self._version_query().where(ModelVersion.model_id == model_id)
                 .order_by(ModelVersion.version.desc()).limit(limit)
                 .offset(max(0, int(offset))))
        with self.engine.connect() as conn:
            return self._load(conn, conn.execute(query).all())

    def version(self, name: str, ref: int | str) -> VersionRecord | None:
        """Version ``ref`` of model ``name``: a number, ``latest`` (the highest ready
        one) or an alias."""
        with self.engine.connect() as conn:
            model = conn.execute(select(RegisteredModel.id, RegisteredModel.latest_version)
                                 .where(RegisteredModel.name == name)).first()
            if model is None:
                return None
            number: int | None
            if isinstance(ref, int):
                number = ref
            elif ref == LATEST:
                number = model.latest_version
            else:
                number = conn.execute(select(ModelAlias.version).where(
                    ModelAlias.model_id == model.id, ModelAlias.alias == ref)).scalar()
            if number is None:
                return None
            rows = conn.execute(self._version_query().where(
                ModelVersion.model_id == model.id, ModelVersion.version == number)).all()
            found = self._load(conn, rows)
        return found[0] if found else None

    def version_by_id(self, version_id: int) -> VersionRecord | None:
        with self.engine.connect() as conn:
            rows = conn.execute(self._version_query()
                                .where(ModelVersion.id == version_id)).all()
            found = self._load(conn, rows)
        return found[0] if found else None

    @staticmethod
    def _version_query() -> Any:
        return (select(*_VERSION_COLUMNS, RegisteredModel.name)
                .join(RegisteredModel, RegisteredModel.id == ModelVersion.model_id))

    @staticmethod
    def _aliases(conn: Connection, model_ids: Iterable[int]) -> dict[int, dict[str, int]]:
        ids = list(model_ids)
        out: dict[int, dict[str, int]] = {}
        if not ids:
            return out
        rows = conn.execute(select(ModelAlias.model_id, ModelAlias.alias, ModelAlias.version)
                            .where(ModelAlias.model_id.in_(ids)).order_by(ModelAlias.alias))
        for row in rows:
            out.setdefault(row.model_id, {})[row.alias] = row.version
        return out

    def _load(self, conn: Connection, rows: Sequence[Any]) -> list[VersionRecord]:
        """Version rows with their files, inputs and aliases (three queries in all)."""
        ids = [r.id for r in rows]
        if not ids:
            return []
        files: dict[int, list[FileRecord]] = {}
        for f in conn.execute(select(ModelFile).where(ModelFile.version_id.in_(ids))
                              .order_by(ModelFile.path)):
            files.setdefault(f.version_id, []).append(
                FileRecord(f.path, f.size, f.sha256, f.stored_size))
        inputs: dict[int, list[Input]] = {}
        for i in conn.execute(select(ModelInput).where(ModelInput.version_id.in_(ids))
                              .order_by(ModelInput.dataset)):
            inputs.setdefault(i.version_id, []).append(Input(i.dataset, i.classification))
        aliases = self._aliases(conn, {r.model_id for r in rows})
        return [_record(r, files.get(r.id, []), inputs.get(r.id, []),
                        sorted(a for a, n in aliases.get(r.model_id, {}).items()
                               if n == r.version)) for r in rows]


def _check_file(row: Any, declared: str | None) -> None:
    if row.sha256 is None:
        raise RegistryConflict(f"File {row.path!r} was declared but never uploaded; PUT it "
                               "before committing.", field="files", value=repr(row.path),
                               path=row.path)
    if declared != row.sha256:
        raise RegistryConflict(
            f"File {row.path!r}: the sha256 you declared ({declared}) is not the one the "
            f"service computed from the bytes it received ({row.sha256}); the version "
            "stays pending. Upload the file again.", field="files", value=repr(row.path),
            path=row.path, declared=declared, computed=row.sha256)
    if row.stored_size != row.size:
        raise RegistryConflict(
            f"File {row.path!r}: {row.stored_size} bytes were uploaded but {row.size} were "
            "declared; the version stays pending.", field="files", value=repr(row.path),
            path=row.path)


def _record(row: Any, files: list[FileRecord], inputs: list[Input], aliases: list[str]
            ) -> VersionRecord:
    return VersionRecord(
        id=row.id, model_id=row.model_id, name=row.name, version=row.version,
        status=row.status, registrant=row.registrant, created_at=aware(row.created_at),
        committed_at=aware(row.committed_at), description=row.description,
        metrics=row.metrics, params=row.params, signature=row.signature,
        environment=row.environment, notebook=row.notebook, git_commit=row.git_commit,
        flavor=row.flavor, classification=row.classification, session_id=row.session_id,
        kernel_id=row.kernel_id, run_id=row.run_id, inputs=inputs, files=files,
        aliases=aliases)
