"""The engine for ``database.url`` (SQLite or PostgreSQL) and the programmatic migration.

SQLite connections run in WAL mode with ``synchronous=NORMAL`` and a 10 s busy timeout.
SQLAlchemy, not the ``sqlite3`` module, emits ``BEGIN``, so that a writer that must
serialise with other processes can ask for ``BEGIN IMMEDIATE``::

    with engine.connect().execution_options(**IMMEDIATE) as conn, conn.begin():
        ...  # holds SQLite's write lock from the first statement on
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import StaticPool

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
BUSY_TIMEOUT_S = 10
IMMEDIATE_OPTION = "assay_sqlite_begin_immediate"
IMMEDIATE: dict[str, Any] = {IMMEDIATE_OPTION: True}
# Any constant: concurrent ``upgrade`` calls on PostgreSQL queue on this advisory lock.
_PG_MIGRATION_LOCK = 0x61737361  # "assa"
_SQLITE_PRAGMAS = (
    f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}",
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",
)


def _is_memory(url: URL) -> bool:
    return url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"


def sqlite_path(url: str | URL, base_dir: Path | None = None) -> Path | None:
    """The absolute file of a SQLite URL (relative paths against ``base_dir``, default cwd);
    None for other databases and in-memory SQLite."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or _is_memory(parsed):
        return None
    path = Path(parsed.database or "").expanduser()
    if not path.is_absolute():
        path = (base_dir or Path.cwd()) / path
    return path.resolve()


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # sqlite3 must not emit BEGIN itself: ``_on_sqlite_begin`` does.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        for pragma in _SQLITE_PRAGMAS:
            _execute_patiently(cursor, pragma)
    finally:
        cursor.close()


def _execute_patiently(cursor: Any, statement: str) -> None:
    """Switching a new file to WAL needs an exclusive lock and SQLite answers "database is
    locked" at once (no busy handler) while another connection holds one: retry."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            cursor.execute(statement)
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _on_sqlite_begin(conn: Connection) -> None:
    immediate = conn.get_execution_options().get(IMMEDIATE_OPTION, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _sqlite_engine(parsed: URL, base_dir: Path | None) -> Engine:
    kwargs: dict[str, Any] = {
        "connect_args": {"timeout": BUSY_TIMEOUT_S, "check_same_thread": False}}
    path = sqlite_path(parsed, base_dir)
    if path is None:
        kwargs["poolclass"] = StaticPool  # one shared in-memory database
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        parsed = parsed.set(database=str(path))
    engine = create_engine(parsed, **kwargs)
    event.listen(engine, "connect", _on_sqlite_connect)
    event.listen(engine, "begin", _on_sqlite_begin)
    return engine


def make_engine(url: str, *, base_dir: Path | None = None) -> Engine:
    """An engine for ``url``; a relative SQLite path is resolved against ``base_dir``
    (default: the current directory) and its folder is created."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, base_dir)
    return create_engine(parsed, pool_pre_ping=True)


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config built in code; ``env.py`` migrates the given connection."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database to ``revision`` in one transaction (safe to run concurrently)."""
    with engine.connect().execution_options(**IMMEDIATE) as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
        command.upgrade(alembic_config(conn), revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    """Migrate down to ``revision`` (tests; an admin's rollback)."""
    with engine.connect().execution_options(**IMMEDIATE) as conn, conn.begin():
        command.downgrade(alembic_config(conn), revision)
