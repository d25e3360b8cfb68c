"""Per-server session credentials: minted by the spawner, looked up by the broker.

A credential binds one running server to (user, server, profile, zone, purpose); the
kernel presents it as ``ASSAY_SESSION_TOKEN``. Only the sha256 of a token is stored, so a
copy of the database holds no usable credential; a lookup hashes the presented token
first and compares digests in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Engine, insert, select, update

from ..db.models import NAME, PURPOSE, SessionCredential

TOKEN_PREFIX = "assay-s-"
TOKEN_BYTES = 32
# token_urlsafe(32) is 43 characters of the URL-safe base64 alphabet.
TOKEN_PATTERN = re.compile(rf"^{re.escape(TOKEN_PREFIX)}[A-Za-z0-9_-]{{43}}$")
ID_PATTERN = re.compile(r"^[0-9a-f]{32}$")
MAX_KIND = 32


@dataclass(frozen=True)
class Session:
    id: str
    user: str
    server: str
    profile: str
    zone: str
    purpose: str | None
    kind: str
    created_at: datetime


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _aware(moment: datetime) -> datetime:
    """SQLite returns naive datetimes; every stored time is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _check(name: str, value: object, limit: int, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str) or len(value) > limit:
        raise ValueError(f"session {name} must be a string of at most {limit} characters")
    if "\x00" in value:
        raise ValueError(f"session {name} must not contain NUL")


def _session(row: Any) -> Session:
    return Session(id=row.id, user=row.user, server=row.server, profile=row.profile,
                   zone=row.zone, purpose=row.purpose, kind=row.kind,
                   created_at=_aware(row.created_at))


class SessionStore:
    """Session credentials in ``engine``'s database (migrated by ``assay.db.upgrade``)."""

    def __init__(self, engine: Engine):
        self._engine = engine

    def mint(self, user: str, server: str, profile: str, zone: str, purpose: str | None,
             kind: str = "server") -> tuple[str, str]:
        """A new credential: ``(id, token)``. The token is returned once and never stored."""
        for name, value in (("user", user), ("server", server), ("profile", profile),
                            ("zone", zone)):
            _check(name, value, NAME)
        _check("purpose", purpose, PURPOSE, optional=True)
        _check("kind", kind, MAX_KIND)
        if not user:
            raise ValueError("session user must not be empty")
        session_id = secrets.token_hex(16)
        token = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
        row = {"id": session_id, "token_hash": token_digest(token), "user": user,
               "server": server, "profile": profile, "zone": zone, "purpose": purpose,
               "kind": kind, "created_at": datetime.now(UTC), "revoked_at": None}
        with self._engine.begin() as conn:
            conn.execute(insert(SessionCredential), [row])
        return session_id, token

    def lookup(self, token: object) -> Session | None:
        """The live session of ``token``; None when malformed, unknown or revoked."""
        if not isinstance(token, str) or not TOKEN_PATTERN.fullmatch(token):
            return None
        digest = token_digest(token)
        query = select(SessionCredential).where(SessionCredential.token_hash == digest,
                                                SessionCredential.revoked_at.is_(None))
        with self._engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None or not hmac.compare_digest(row.token_hash, digest):
            return None
        return _session(row)

    def get(self, session_id: str) -> Session | None:
        """The live session with this id (for the hub's ``DELETE sessions/{id}``)."""
        if not isinstance(session_id, str) or not ID_PATTERN.fullmatch(session_id):
            return None
        query = select(SessionCredential).where(SessionCredential.id == session_id,
                                                SessionCredential.revoked_at.is_(None))
        with self._engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else _session(row)

    def revoke(self, session_id: str) -> bool:
        """Revoke one live session; False when unknown or already revoked."""
        if not isinstance(session_id, str) or not ID_PATTERN.fullmatch(session_id):
            return False
        return self._revoke(SessionCredential.id == session_id) > 0

    def revoke_all_for(self, user: str, server: str) -> int:
        """Revoke every live session of one server; how many were revoked."""
        return self._revoke(SessionCredential.user == user, SessionCredential.server == server)

    def _revoke(self, *where: ColumnElement[bool]) -> int:
        statement = (update(SessionCredential)
                     .where(*where, SessionCredential.revoked_at.is_(None))
                     .values(revoked_at=datetime.now(UTC)))
        with self._engine.begin() as conn:
            return conn.execute(statement).rowcount
