"""Database fixtures (a pytest plugin; add ``"dbfixtures"`` to ``pytest_plugins``).

- ``postgres_url``: one throwaway PostgreSQL 15 cluster for the session; the test run
  FAILS (does not skip) when Debian's binaries are missing.
- ``db_url``: parametrized over ``sqlite`` (a file under tmp_path) and ``postgresql``
  (a fresh database on that cluster, dropped afterwards).
- ``db_engine``: an engine on ``db_url``, migrated to head.

``append_worker`` is the body of the separate writer processes of the audit tests.
"""

from __future__ import annotations

import multiprocessing
import os
import secrets
import time
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from assay.broker.audit import AuditLog
from assay.db import make_engine, upgrade

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """``postgresql+psycopg://postgres@127.0.0.1:PORT/postgres`` of a throwaway cluster."""
    # Imported here: tests/support modules sort as first- or third-party depending on
    # ruff's known-first-party list; a local import is clean either way.
    from postgres import PostgresCluster, missing_binaries

    problem = missing_binaries()
    if problem:
        pytest.fail(problem, pytrace=False)
    cluster = PostgresCluster()
    try:
        yield cluster.start()
    finally:
        cluster.stop()


def _admin_engine(cluster_url: str) -> Engine:
    return create_engine(cluster_url, isolation_level="AUTOCOMMIT")


@pytest.fixture
def postgres_database(postgres_url: str) -> Iterator[str]:
    """The URL of a new, empty database on the session's cluster."""
    name = f"assay_test_{secrets.token_hex(6)}"
    admin = _admin_engine(postgres_url)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """An empty database: a SQLite file under tmp_path, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'assay.sqlite'}"
    return request.getfixturevalue("postgres_database")


@pytest.fixture
def db_engine(db_url: str) -> Iterator[Engine]:
    """An engine on ``db_url``, migrated to head."""
    engine = make_engine(db_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def spawn_writer() -> Iterator[Callable[..., multiprocessing.Process]]:
    """``spawn_writer(url, count, report, label, go=None, pause=0)`` starts
    ``append_worker`` in a new process (spawned, not forked); any still running at the
    end are killed."""
    started: list[multiprocessing.Process] = []

    def spawn(url: str, count: int, report: str, label: str, go: str | None = None,
              pause: float = 0.0) -> multiprocessing.Process:
        process = multiprocessing.get_context("spawn").Process(
            target=append_worker, args=(url, count, report, label, go, pause), daemon=True)
        process.start()
        started.append(process)
        return process

    yield spawn
    for process in started:
        if process.is_alive():
            process.kill()
        process.join(10)


def append_worker(url: str, count: int, report: str, label: str, go: str | None = None,
                  pause: float = 0.0) -> None:
    """Append ``count`` records (forever when ``count`` <= 0); after each append returns,
    write its seq and a newline to ``report`` in one write. With ``go``, create
    ``report`` and wait for the file ``go`` first, so that writers start together;
    ``pause`` seconds between appends let a waiting writer in (SQLite's busy handler
    sleeps, so a writer in a tight loop would otherwise hold the lock throughout)."""
    log = AuditLog(make_engine(url))
    fd = os.open(report, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    while go and not os.path.exists(go):
        time.sleep(0.005)
    done = 0
    while count <= 0 or done < count:
        record = log.append(user=label, action="read", decision="allow", dataset="d",
                            bytes=done)
        os.write(fd, f"{record['seq']}\n".encode())
        done += 1
        if pause:
            time.sleep(pause)
    os.close(fd)
