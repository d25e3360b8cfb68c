"""The GPU ledger in the database (``assay_gpu_holdings``): one row per held GPU.

The hub's spawners and the Assay service's jobs scheduler are separate processes; both
allocate from the same table, on the same ``database.url``. Each change is one
transaction that reads the holdings, applies the pure rules of ``allocation`` and writes
rows. The primary key on ``gpu_id`` makes a double assignment impossible: a transaction
that lost a race fails with an integrity (or, on PostgreSQL, serialisation/deadlock)
error and is retried on fresh holdings, a few times, then refused (``GPULedgerBusy``).
On SQLite the transaction starts with ``BEGIN IMMEDIATE`` so it holds the write lock
before it reads.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Connection, Engine, and_, delete, insert, select
from sqlalchemy.exc import DBAPIError, IntegrityError

from ..db.engine import IMMEDIATE, make_engine, sqlite_path, upgrade
from ..db.models import GPUHolding
from ..errors import GPULedgerBusy
from .allocation import SERVER, Holding, by_holder, check_kind, choose, own, restorable
from .allocation import free as free_of

log = logging.getLogger("assay.gpu")
T = TypeVar("T")
ATTEMPTS = 5
RETRY_PAUSE_S = 0.02  # times the attempt number, jittered
_RETRY_SQLSTATES = {"40001", "40P01"}  # serialization failure, deadlock detected
_TABLE = GPUHolding.__table__


def _is_conflict(exc: DBAPIError) -> bool:
    """Another transaction won: worth trying again on fresh holdings."""
    if isinstance(exc, IntegrityError):
        return True
    return getattr(exc.orig, "sqlstate", None) in _RETRY_SQLSTATES


def _is_locked(exc: DBAPIError) -> bool:
    """SQLite's busy timeout (10 s) ran out: already waited long enough, do not retry."""
    return "database is locked" in str(exc.orig)


def _describe(exc: DBAPIError) -> str:  # no SQL, no parameters, no URL
    code = getattr(exc.orig, "sqlstate", None)
    return type(exc.orig).__name__ + (f" ({code})" if code else "")


def _read(conn: Connection) -> list[Holding]:
    query = select(_TABLE.c.gpu_id, _TABLE.c.holder, _TABLE.c.kind)
    return [Holding(*row) for row in conn.execute(query)]


def _replace(conn: Connection, rows: list[Holding], holder: str, kind: str,
             ids: list[str]) -> list[str]:
    """Make ``holder`` hold exactly ``ids``; rows it keeps keep their ``since``. Returns
    the ids it gave up."""
    previous = own(rows, holder, kind)
    gone = [g for g in previous if g not in ids]
    if gone:
        conn.execute(delete(_TABLE).where(
            _TABLE.c.gpu_id.in_(gone), _TABLE.c.holder == holder, _TABLE.c.kind == kind))
    new = [g for g in ids if g not in previous]
    if new:
        since = datetime.now(UTC)
        conn.execute(insert(_TABLE), [
            {"gpu_id": g, "holder": holder, "kind": kind, "since": since} for g in new])
    return gone


def _ledger_key(url: str, base_dir: Path | None) -> str:
    path = sqlite_path(url, base_dir)
    return f"sqlite:///{path}" if path is not None else url


class GPULedger:
    """Exclusive assignment of GPU ids to holders, kept in the database of ``engine``.

    ``devices`` is this process's inventory (``discover``); holdings outlive processes.
    """

    _shared: dict[str, GPULedger] = {}
    _shared_lock = threading.Lock()

    def __init__(self, engine: Engine, devices: Iterable[str] = (), *,
                 attempts: int = ATTEMPTS):
        self.engine = engine
        self.devices = list(devices)
        self.attempts = max(1, attempts)

    @classmethod
    def shared(cls, url: str, *, base_dir: Path | None = None,
               on_open: Callable[[GPULedger], None] | None = None) -> GPULedger:
        """The process-wide ledger on the database ``url`` (a relative SQLite path against
        ``base_dir``, default the working folder, as the service resolves it). The first
        call makes the engine, migrates the database and calls ``on_open``."""
        key = _ledger_key(url, base_dir)
        with cls._shared_lock:
            if key not in cls._shared:
                ledger = cls(make_engine(url, base_dir=base_dir))
                upgrade(ledger.engine)
                if on_open is not None:
                    on_open(ledger)
                cls._shared[key] = ledger
            return cls._shared[key]

    def set_devices(self, devices: list[str]) -> None:
        """Apply an inventory change; GPUs already held stay with their holders."""
        self.devices = list(devices)

    # -- reading ---------------------------------------------------------------------

    def _rows(self) -> list[Holding]:
        with self.engine.connect() as conn:
            return _read(conn)

    def holdings(self) -> dict[str, list[str]]:
        """``{holder: [gpu ids]}`` of every holder, servers and runs."""
        return by_holder(self._rows(), self.devices)

    def holders(self, kind: str) -> set[str]:
        """The holders of one kind (``server`` or ``run``) that hold any GPU."""
        check_kind(kind)
        return {row.holder for row in self._rows() if row.kind == kind}

    def free(self) -> list[str]:
        return free_of(self.devices, self._rows())

    # -- changing --------------------------------------------------------------------

    def _write(self, action: str, work: Callable[[Connection], T]) -> T:
        """``work`` in one transaction holding the write lock; retried on conflicts."""
        for attempt in range(1, self.attempts + 1):
            try:
                with self.engine.connect().execution_options(**IMMEDIATE) as conn, \
                        conn.begin():
                    return work(conn)
            except DBAPIError as exc:
                if not (_is_conflict(exc) or _is_locked(exc)):
                    raise
                if attempt == self.attempts or _is_locked(exc):
                    raise GPULedgerBusy(action, self.attempts, _describe(exc)) from None
                log.info("GPU ledger: %s collided (%s), attempt %d of %d", action,
                         _describe(exc), attempt, self.attempts)
                time.sleep(random.uniform(0, RETRY_PAUSE_S * attempt))
        raise AssertionError("not reached")

    def allocate(self, holder: str, count: int, kind: str = SERVER) -> list[str]:
        """Give ``holder`` ``count`` free GPUs (replacing what it held), or raise
        ``NotEnoughGPUs``. A refusal changes nothing: the holder keeps what it held."""
        check_kind(kind)

        def work(conn: Connection) -> tuple[list[str], list[str]]:
            rows = _read(conn)
            chosen = choose(self.devices, rows, holder, kind, count)
            return chosen, _replace(conn, rows, holder, kind, chosen)

        chosen, gone = self._write(f"assign {count} GPU(s) to {holder}", work)
        if gone:
            log.info("GPUs %s released by %s", ",".join(gone), holder)
        if chosen:
            log.info("GPUs %s assigned to %s", ",".join(chosen), holder)
        return chosen

    def claim(self, holder: str, ids: list[str], kind: str = SERVER) -> None:
        """Restore a holding recorded elsewhere (a server's state after a hub restart);
        GPUs someone else holds meanwhile stay with them (logged)."""
        check_kind(kind)
        if not ids:
            return

        def work(conn: Connection) -> list[str]:
            rows = _read(conn)
            keep, clash = restorable(rows, holder, kind, ids)
            _replace(conn, rows, holder, kind, keep)
            return clash

        clash = self._write(f"restore the GPUs of {holder}", work)
        if clash:
            log.error("GPUs %s of %s are already held; not restoring them",
                      ",".join(clash), holder)

    def release(self, holder: str, kind: str = SERVER) -> list[str]:
        """Return ``holder``'s GPUs to the pool; the ids it held."""
        check_kind(kind)

        def work(conn: Connection) -> list[str]:
            mine = and_(_TABLE.c.holder == holder, _TABLE.c.kind == kind)
            ids = list(conn.execute(select(_TABLE.c.gpu_id).where(mine)).scalars())
            if ids:
                conn.execute(delete(_TABLE).where(mine))
            return ids

        ids = self._write(f"release the GPUs of {holder}", work)
        if ids:
            log.info("GPUs %s released by %s", ",".join(ids), holder)
        return ids
