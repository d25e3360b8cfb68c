"""The engine (SQLite settings, paths) and the Alembic migrations, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select, text

from assay.broker.audit import AuditLog
from assay.db import IMMEDIATE, AuditHead, Base, make_engine, sqlite_path, upgrade
from assay.db.engine import alembic_config, downgrade
from assay.db.models import GENESIS_HASH

TABLES = {"assay_sessions", "assay_audit", "assay_audit_head", "assay_jobs", "assay_runs",
          "assay_metrics", "assay_secrets", "assay_gpu_holdings"}
MODEL_TABLES = {"assay_models", "assay_model_versions", "assay_model_files",
                "assay_model_inputs", "assay_model_aliases", "assay_model_approvals"}
TABLES |= MODEL_TABLES
HEAD = "0004_models"
VERSION_TABLE = "assay_alembic_version"


def tables(engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def test_upgrade_creates_the_tables_and_seeds_the_head(db_engine):
    assert tables(db_engine) == TABLES | {VERSION_TABLE}
    with db_engine.connect() as conn:
        assert conn.execute(select(AuditHead.id, AuditHead.seq, AuditHead.hash)).all() == [
            (1, 0, GENESIS_HASH)]
        assert conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar() == HEAD


def test_upgrade_twice_changes_nothing(db_engine):
    upgrade(db_engine)
    with db_engine.connect() as conn:
        assert conn.execute(select(AuditHead.seq)).all() == [(0,)]
        assert conn.execute(text(f"SELECT count(*) FROM {VERSION_TABLE}")).scalar() == 1


def test_models_match_the_migrations(db_engine):
    with db_engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"version_table": VERSION_TABLE, "compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_downgrade_and_upgrade_again(db_engine):
    downgrade(db_engine)
    assert tables(db_engine) == {VERSION_TABLE}
    upgrade(db_engine)
    assert tables(db_engine) == TABLES | {VERSION_TABLE}


def test_one_linear_history():
    scripts = ScriptDirectory.from_config(alembic_config())
    assert scripts.get_heads() == [HEAD]
    assert [s.revision for s in scripts.walk_revisions()] == [HEAD, "0003_gpu", "0002", "0001"]


def test_concurrent_upgrades_of_a_new_database(db_url):
    """Several broker processes starting at once: every upgrade succeeds, once."""
    engines = [make_engine(db_url) for _ in range(4)]
    errors: list[BaseException] = []

    def run(engine) -> None:
        try:
            upgrade(engine)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(e,)) for e in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert tables(engines[0]) == TABLES | {VERSION_TABLE}
    for engine in engines:
        engine.dispose()


def test_relative_sqlite_path_is_resolved_against_base_dir(tmp_path):
    engine = make_engine("sqlite:///var/db/assay.sqlite", base_dir=tmp_path)
    assert Path(engine.url.database) == tmp_path / "var" / "db" / "assay.sqlite"
    assert (tmp_path / "var" / "db").is_dir()
    upgrade(engine)
    assert (tmp_path / "var" / "db" / "assay.sqlite").is_file()
    engine.dispose()


def test_relative_sqlite_path_defaults_to_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert sqlite_path("sqlite:///a/b.sqlite") == tmp_path / "a" / "b.sqlite"
    engine = make_engine("sqlite:///a/b.sqlite")
    assert Path(engine.url.database) == tmp_path / "a" / "b.sqlite"
    engine.dispose()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:",
                                 "postgresql+psycopg://u:p@127.0.0.1/x"])
def test_sqlite_path_is_none_for_memory_and_other_databases(url):
    assert sqlite_path(url) is None


def test_in_memory_sqlite_is_one_shared_database():
    engine = make_engine("sqlite://")
    upgrade(engine)
    AuditLog(engine).append(action="read", decision="deny")
    assert AuditLog(engine).verify().checked == 1
    engine.dispose()


def test_sqlite_settings_on_every_connection(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'a.sqlite'}")
    conns = [engine.connect() for _ in range(2)]  # two pooled DBAPI connections
    for conn in conns:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10000
        conn.close()
    engine.dispose()


def test_sqlite_immediate_transaction_holds_the_write_lock(tmp_path):
    path = tmp_path / "a.sqlite"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    with engine.connect().execution_options(**IMMEDIATE) as conn, conn.begin():
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
    other.execute("BEGIN IMMEDIATE")  # free again after COMMIT
    other.execute("ROLLBACK")
    other.close()
    engine.dispose()


def test_sqlite_plain_transactions_do_not_take_the_write_lock(tmp_path):
    path = tmp_path / "a.sqlite"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    with engine.connect() as conn, conn.begin():
        conn.execute(select(AuditHead.seq)).all()
        other.execute("BEGIN IMMEDIATE")  # a reader does not block a writer
        other.execute("ROLLBACK")
    other.close()
    engine.dispose()
