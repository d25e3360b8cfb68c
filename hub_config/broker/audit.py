"""The append-only, hash-chained audit log of every broker decision.

``append`` commits a record before it returns, so the caller streams bytes only once the
decision is durable. Each record's ``hash`` is the sha256 of the canonical JSON of all its
other fields, ``prev_hash`` included; the head row (``assay_audit_head``) names the last
record, so deleting the tail is detected too. ``verify`` recomputes the chain and names the
first altered, missing or extra record.

Field values are stored as given (control characters included); ``render`` escapes them
for terminals and logs, so a path such as ``"a\\nfake record"`` cannot forge a line.
The one exception: NUL, which PostgreSQL's text type cannot hold, is stored as U+2400.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from ..db.engine import IMMEDIATE
from ..db.models import GENESIS_HASH, NAME, PURPOSE, AuditHead, AuditRecord
from ..errors import AuditUnavailable

TEXT_LIMITS: dict[str, int | None] = {
    "user": NAME, "server": NAME, "profile": NAME, "zone": NAME, "purpose": PURPOSE,
    "session_id": 32, "kernel_id": NAME, "dataset": NAME, "path": None,
}
FIELDS = (*TEXT_LIMITS, "action", "bytes", "decision", "reason")
RECORD_KEYS = ("seq", "time", *FIELDS, "prev_hash", "hash")
DECISIONS = ("allow", "deny")
MAX_ACTION = 16
MAX_LIMIT = 1000
BATCH = 1000
NUL_SUBSTITUTE = "\u2400"  # SYMBOL FOR NULL
_UNSAFE_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
_COLUMNS = [getattr(AuditRecord, key) for key in RECORD_KEYS]


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int  # records that verified before the first problem (all of them when ok)
    first_bad: int | None = None  # seq of the first bad or missing record
    problem: str = ""


# -- records ---------------------------------------------------------------------------


def now_utc() -> str:
    """ISO-8601 UTC with microseconds, e.g. ``2025-01-31T12:00:00.000001Z``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def record_hash(record: Mapping[str, Any]) -> str:
    """sha256 (hex) of the canonical JSON of every field but ``hash``."""
    body = {key: record[key] for key in RECORD_KEYS if key != "hash"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _storable(value: str, limit: int | None) -> str:
    """``value`` as every backend stores it byte for byte (no NUL, no lone surrogates),
    cut to the column's length so that hostile input never makes an append fail."""
    value = value.replace("\x00", NUL_SUBSTITUTE)
    value = value.encode("utf-8", "backslashreplace").decode("utf-8")
    if limit is not None and len(value) > limit:
        value = value[: limit - 1] + "\u2026"
    return value


def _text(name: str, value: Any, limit: int | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"audit field {name} must be a string or None, got {type(value).__name__}")
    return _storable(value, limit)


def _fields(given: Mapping[str, Any]) -> dict[str, Any]:
    """The caller's fields, checked and normalised; ``action`` and ``decision`` required."""
    unknown = sorted(set(given) - set(FIELDS))
    if unknown:
        raise TypeError(f"unknown audit fields: {', '.join(unknown)}")
    action, decision, size = given.get("action"), given.get("decision"), given.get("bytes", 0)
    if not isinstance(action, str) or not 0 < len(action) <= MAX_ACTION:
        raise ValueError(f"audit action must be 1-{MAX_ACTION} characters, got {action!r}")
    if decision not in DECISIONS:
        raise ValueError(f"audit decision must be 'allow' or 'deny', got {decision!r}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ValueError(f"audit bytes must be an integer >= 0, got {size!r}")
    values = {name: _text(name, given.get(name), limit) for name, limit in TEXT_LIMITS.items()}
    reason = _text("reason", given.get("reason") or "", None)
    return {**values, "action": action, "bytes": size, "decision": decision, "reason": reason}


# -- rendering -------------------------------------------------------------------------


def escape(text: str) -> str:
    """``text`` with backslash, quote and every control, format or line-separator
    character escaped (``\\n``, ``\\x1b``, ``\\u202e``): one safe line."""
    out = []
    for char in text:
        if char in '\\"':
            out.append("\\" + char)
        elif unicodedata.category(char) in _UNSAFE_CATEGORIES:
            out.append(char.encode("unicode_escape").decode("ascii"))
        else:
            out.append(char)
    return "".join(out)


def _shown(value: Any) -> str:
    if value is None:
        return "-"
    return str(value) if isinstance(value, int) else f'"{escape(str(value))}"'


def render(record: Mapping[str, Any]) -> str:
    """One line for ``assay audit tail``; every text field quoted and escaped."""
    named = ("user", "server", "profile", "zone", "session_id", "kernel_id", "dataset", "path",
             "bytes", "purpose", "reason")
    parts = [str(record["seq"]), escape(str(record["time"])), escape(str(record["decision"])),
             escape(str(record["action"]))]
    parts += [f"{name.removesuffix('_id')}={_shown(record.get(name))}" for name in named]
    return " ".join(parts)


# -- chain checking --------------------------------------------------------------------


class _Chain:
    """Walks records in seq order; ``step`` answers the first problem, if any."""

    def __init__(self) -> None:
        self.expected, self.prev_hash, self.checked = 1, GENESIS_HASH, 0

    def _fail(self, seq: int | None, problem: str) -> VerifyResult:
        return VerifyResult(False, self.checked, seq, problem)

    def step(self, record: Mapping[str, Any]) -> VerifyResult | None:
        seq = record["seq"]
        if seq > self.expected:
            gap = (f"record {self.expected} is missing" if seq == self.expected + 1 else
                   f"records {self.expected}-{seq - 1} are missing")
            return self._fail(self.expected, f"{gap} (the next record is {seq})")
        if seq < self.expected:
            return self._fail(seq, f"record {seq} has an invalid sequence number")
        if record_hash(record) != record["hash"]:
            return self._fail(seq, f"record {seq} was altered: its hash does not match "
                                   "its contents")
        if record["prev_hash"] != self.prev_hash:
            return self._fail(seq, f"record {seq} does not chain to record {seq - 1} "
                                   "(prev_hash mismatch): one of them was replaced")
        self.expected, self.prev_hash, self.checked = seq + 1, record["hash"], self.checked + 1
        return None

    def finish(self, head: Any) -> VerifyResult:
        last = self.expected - 1
        if head is None:
            return self._fail(None, "the chain head (assay_audit_head) is missing")
        if head.seq > last:
            gone = (f"record {head.seq} is" if head.seq == last + 1 else
                    f"records {last + 1}-{head.seq} are")
            return self._fail(last + 1, f"{gone} missing: the chain head is at {head.seq}, "
                                        f"the last record is {last} (the tail was deleted)")
        if head.seq < last:
            return self._fail(head.seq + 1, f"record {head.seq + 1} was added outside the log "
                                            f"(the chain head is at {head.seq})")
        if head.hash != self.prev_hash:
            return self._fail(last or None, f"record {last} does not match the chain head "
                                            "(it was replaced)")
        return VerifyResult(True, self.checked)


# -- the log ---------------------------------------------------------------------------


def _as_dict(row: Any) -> dict[str, Any]:
    return dict(row._mapping)


class AuditLog:
    """The audit log in ``engine``'s database (migrated by ``assay.db.upgrade``)."""

    def __init__(self, engine: Engine):
        self._engine = engine

    def append(self, **fields: Any) -> dict[str, Any]:
        """Commit one record and return it (with seq, time, prev_hash and hash)."""
        values = _fields(fields)
        with self._engine.connect().execution_options(**IMMEDIATE) as conn, conn.begin():
            head = conn.execute(select(AuditHead.seq, AuditHead.hash)
                                .where(AuditHead.id == 1).with_for_update()).one_or_none()
            if head is None:
                raise AuditUnavailable("The audit log is unavailable; no data can be read.",
                                       "assay_audit_head has no row 1: database not migrated "
                                       "or tampered with")
            record = {"seq": head.seq + 1, "time": now_utc(), **values, "prev_hash": head.hash}
            record["hash"] = record_hash(record)
            conn.execute(insert(AuditRecord), [record])
            conn.execute(update(AuditHead).where(AuditHead.id == 1)
                         .values(seq=record["seq"], hash=record["hash"]))
        return record

    def _records(self, conn: Connection) -> Iterator[dict[str, Any]]:
        after = None
        while True:
            query = select(*_COLUMNS).order_by(AuditRecord.seq).limit(BATCH)
            if after is not None:
                query = query.where(AuditRecord.seq > after)
            rows = [_as_dict(row) for row in conn.execute(query)]
            yield from rows
            if len(rows) < BATCH:
                return
            after = rows[-1]["seq"]

    def verify(self) -> VerifyResult:
        """Recompute the whole chain in one snapshot; report the first problem."""
        chain = _Chain()
        with self._snapshot() as conn:
            for record in self._records(conn):
                problem = chain.step(record)
                if problem is not None:
                    return problem
            head = conn.execute(select(AuditHead.seq, AuditHead.hash)
                                .where(AuditHead.id == 1)).one_or_none()
            return chain.finish(head)

    @contextmanager
    def _snapshot(self) -> Iterator[Connection]:
        """One read transaction: a consistent view while appends go on (SQLite: WAL)."""
        with self._engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    def query(self, user: str | None = None, dataset: str | None = None,
              decision: str | None = None, after: int = 0, limit: int = 100,
              ) -> list[dict[str, Any]]:
        """Records after seq ``after``, oldest first, at most ``limit`` (capped at 1000)."""
        if decision is not None and decision not in DECISIONS:
            raise ValueError(f"decision must be 'allow' or 'deny', got {decision!r}")
        query = select(*_COLUMNS).where(AuditRecord.seq > after)
        for column, value in ((AuditRecord.user, user), (AuditRecord.dataset, dataset),
                              (AuditRecord.decision, decision)):
            if value is not None:
                query = query.where(column == value)
        query = query.order_by(AuditRecord.seq).limit(_capped(limit))
        with self._engine.connect() as conn:
            return [_as_dict(row) for row in conn.execute(query)]

    def tail(self, n: int = 20) -> list[dict[str, Any]]:
        """The last ``n`` records (capped at 1000), oldest first."""
        query = select(*_COLUMNS).order_by(AuditRecord.seq.desc()).limit(_capped(n))
        with self._engine.connect() as conn:
            return [_as_dict(row) for row in conn.execute(query)][::-1]


def _capped(limit: int) -> int:
    return max(0, min(int(limit), MAX_LIMIT))
