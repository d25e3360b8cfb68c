"""Aliases (``staging``, ``production`` …) and the approvals protected ones need.

The rules are pure functions at the top; ``AliasStore`` keeps aliases and approval
requests in the database. A protected alias moves only when a pending request is
approved by someone other than the version's registrant (separation of duties); a new
request for the same alias supersedes an older pending one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, delete, insert, select, update

from ..db.engine import IMMEDIATE
from ..db.models_registry import ModelAlias, ModelApproval
from ..errors import InvalidModelRequest, RegistryConflict, SeparationOfDuties
from .rules import LATEST_WORD, check_name
from .store import aware

RESERVED = (LATEST_WORD,)


def check_alias(value: object) -> str:
    """An alias name: the model-name rule, and not ``latest`` (which always means the
    highest ready version)."""
    alias = check_name(value, "alias")
    if alias in RESERVED:
        raise InvalidModelRequest(f"alias: {alias!r} is reserved; it always means the "
                                  "highest ready version.", field="alias",
                                  value=repr(alias), rule="any name but 'latest'")
    return alias


def is_protected(alias: str, protected: Sequence[str]) -> bool:
    return alias in protected


def check_approver(approver: str, registrant: str, model: str, version: int) -> None:
    """Separation of duties: whoever registered a version may not approve it."""
    if approver == registrant:
        raise SeparationOfDuties(
            f"separation of duties: {registrant} registered version {version} of {model}; "
            "another person must approve", field="approver", value=repr(approver),
            rule="the approver is not the registrant", ask="another member of the team")


@dataclass(frozen=True)
class Approval:
    id: int
    model_id: int
    alias: str
    version: int | None  # None: remove the alias
    status: str
    requested_by: str
    requested_at: datetime
    decided_by: str | None = None
    decided_at: datetime | None = None

    def json(self) -> dict[str, Any]:
        return {"approval": self.id, "alias": self.alias, "version": self.version,
                "requested_by": self.requested_by, "status": self.status,
                "requested_at": self.requested_at.isoformat(),
                "decided_by": self.decided_by,
                "decided_at": self.decided_at.isoformat() if self.decided_at else None}


def _approval(row: Any) -> Approval:
    return Approval(id=row.id, model_id=row.model_id, alias=row.alias, version=row.version,
                    status=row.status, requested_by=row.requested_by,
                    requested_at=aware(row.requested_at), decided_by=row.decided_by,
                    decided_at=aware(row.decided_at))


class AliasStore:
    def __init__(self, engine: Engine):
        self.engine = engine

    def set(self, model_id: int, alias: str, version: int, by: str) -> None:
        with self.engine.connect().execution_options(**IMMEDIATE) as conn, conn.begin():
            self._set(conn, model_id, alias, version, by)

    @staticmethod
    def _set(conn: Any, model_id: int, alias: str, version: int | None, by: str) -> None:
        conn.execute(delete(ModelAlias).where(ModelAlias.model_id == model_id,
                                              ModelAlias.alias == alias))
        if version is not None:
            conn.execute(insert(ModelAlias).values(model_id=model_id, alias=alias,
                                                   version=version, updated_by=by,
                                                   updated_at=datetime.now(UTC)))

    def delete(self, model_id: int, alias: str) -> bool:
        with self.engine.begin() as conn:
            return conn.execute(delete(ModelAlias).where(
                ModelAlias.model_id == model_id, ModelAlias.alias == alias)).rowcount > 0

    def current(self, model_id: int, alias: str) -> int | None:
        with self.engine.connect() as conn:
            return conn.execute(select(ModelAlias.version).where(
                ModelAlias.model_id == model_id, ModelAlias.alias == alias)).scalar()

    def request(self, model_id: int, alias: str, version: int | None, by: str) -> Approval:
        """A pending request (superseding any older pending one for this alias)."""
        now = datetime.now(UTC)
        with self.engine.connect().execution_options(**IMMEDIATE) as conn, conn.begin():
            conn.execute(update(ModelApproval).where(
                ModelApproval.model_id == model_id, ModelApproval.alias == alias,
                ModelApproval.status == "pending").values(status="superseded"))
            result = conn.execute(insert(ModelApproval).values(
                model_id=model_id, alias=alias, version=version, status="pending",
                requested_by=by, requested_at=now))
            approval_id = result.inserted_primary_key[0]
        return Approval(approval_id, model_id, alias, version, "pending", by, now)

    def pending(self, model_id: int, alias: str | None = None) -> list[Approval]:
        query = select(ModelApproval).where(ModelApproval.model_id == model_id,
                                            ModelApproval.status == "pending")
        if alias is not None:
            query = query.where(ModelApproval.alias == alias)
        with self.engine.connect() as conn:
            return [_approval(r) for r in conn.execute(query.order_by(ModelApproval.id))]

    def approve(self, approval: Approval, by: str) -> Approval:
        """Mark the request approved and move (or remove) the alias, in one transaction;
        ``RegistryConflict`` if it stopped being pending meanwhile."""
        now = datetime.now(UTC)
        with self.engine.connect().execution_options(**IMMEDIATE) as conn, conn.begin():
            changed = conn.execute(update(ModelApproval).where(
                ModelApproval.id == approval.id, ModelApproval.status == "pending")
                .values(status="approved", decided_by=by, decided_at=now)).rowcount
            if not changed:
                raise RegistryConflict("This request was superseded or decided meanwhile.",
                                       field="approval", value=str(approval.id))
            self._set(conn, approval.model_id, approval.alias, approval.version, by)
        return Approval(approval.id, approval.model_id, approval.alias, approval.version,
                        "approved", approval.requested_by, approval.requested_at, by, now)
