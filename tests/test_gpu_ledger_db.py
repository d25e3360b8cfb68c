"""The GPU ledger in the database, shared by processes: two engines (the hub and the Assay
service) allocating at the same time never hand out one GPU twice, on SQLite and
PostgreSQL; a transaction that lost a race is retried on fresh holdings, then refused."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, inspect, text

from assay.db import IMMEDIATE, GPUHolding, make_engine, upgrade
from assay.errors import GPULedgerBusy
from assay.gpu import RUN, SERVER, GPULedger, NotEnoughGPUs
from jobrun import wait_for

FOUR = ["sim-0", "sim-1", "sim-2", "sim-3"]


@pytest.fixture
def engines(db_url: str) -> Iterator[list[Engine]]:
    """Two engines on one migrated database: the hub's and the service's."""
    made = [make_engine(db_url) for _ in range(2)]
    upgrade(made[0])
    yield made
    for engine in made:
        engine.dispose()


def run_threads(count: int, target, *args) -> list[BaseException]:
    errors: list[BaseException] = []

    def body(i: int) -> None:
        try:
            target(i, *args)
        except BaseException as exc:  # reported by the caller
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return errors


def test_a_race_for_the_last_gpus_has_exactly_as_many_winners_as_gpus(engines):
    ledgers = [GPULedger(engine, FOUR) for engine in engines]
    start = threading.Barrier(8)
    won: dict[str, list[str]] = {}
    refused: list[NotEnoughGPUs] = []

    def contend(i: int) -> None:
        holder, kind = (f"user{i}", SERVER) if i % 2 else (f"job-run:{i}", RUN)
        start.wait()
        try:
            won[holder] = ledgers[i % 2].allocate(holder, 1, kind)
        except NotEnoughGPUs as exc:
            refused.append(exc)

    assert run_threads(8, contend) == []
    assert len(won) == 4 and len(refused) == 4
    assert sorted(g for ids in won.values() for g in ids) == FOUR
    assert ledgers[0].holdings() == ledgers[1].holdings() == won
    assert all((r.wanted, r.total) == (1, 4) for r in refused)


def test_concurrent_allocate_and_release_never_share_a_gpu(engines):
    """Eight holders on two engines take 1-3 GPUs, hold them briefly and give them back.
    Each thread marks its GPUs as its own after the commit and unmarks them before
    releasing, so a GPU marked twice would be one the database handed out twice."""
    ledgers = [GPULedger(engine, FOUR) for engine in engines]
    marks: dict[str, str] = {}
    lock = threading.Lock()
    shared: list[tuple[str, str, str]] = []
    granted: list[int] = []

    def work(i: int, rounds: int) -> None:
        ledger = ledgers[i % 2]
        holder, kind = (f"user{i}", SERVER) if i % 2 else (f"job-run:{i}", RUN)
        rng = random.Random(i)
        for _ in range(rounds):
            count = rng.randint(1, 3)
            try:
                ids = ledger.allocate(holder, count, kind)
            except (NotEnoughGPUs, GPULedgerBusy):
                continue
            assert len(ids) == count
            with lock:
                shared.extend((g, marks[g], holder) for g in ids if g in marks)
                marks.update(dict.fromkeys(ids, holder))
                granted.append(count)
            time.sleep(rng.uniform(0, 0.005))
            with lock:
                for g in ids:
                    del marks[g]
            ledger.release(holder, kind)

    assert run_threads(8, work, 25) == []
    assert shared == []
    assert len(granted) > 8  # holders did get GPUs, and often
    assert ledgers[0].holdings() == {} and ledgers[1].free() == FOUR


# -- a transaction that lost the race --------------------------------------------------


def _waiting_for_a_lock(engine: Engine) -> bool:
    with engine.connect() as conn:
        return bool(conn.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database()")).scalar())


def race_an_open_transaction(engine: Engine, ledger: GPULedger) -> BaseException | list[str]:
    """Another process's transaction holds all four GPUs for ``job-run:7``, uncommitted,
    while ``ledger`` allocates for alice; it commits once alice's transaction waits for
    it (on PostgreSQL: for the primary key; on SQLite: for the write lock)."""
    outcome: list[BaseException | list[str]] = []

    def allocate() -> None:
        try:
            outcome.append(ledger.allocate("alice", 1))
        except BaseException as exc:  # the outcome under test
            outcome.append(exc)

    rows = [{"gpu_id": g, "holder": "job-run:7", "kind": RUN, "since": datetime.now(UTC)}
            for g in FOUR]
    thread = threading.Thread(target=allocate)
    with engine.connect().execution_options(**IMMEDIATE) as conn, conn.begin():
        conn.execute(insert(GPUHolding), rows)
        thread.start()
        if engine.dialect.name == "postgresql":
            wait_for(lambda: _waiting_for_a_lock(engine), what="alice's insert to wait")
        else:  # a busy-waiting BEGIN IMMEDIATE cannot be seen from outside
            thread.join(0.3)
    thread.join(60)
    return outcome[0]


def test_a_lost_race_is_retried_on_fresh_holdings(db_engine, caplog):
    ledger = GPULedger(db_engine, FOUR)
    with caplog.at_level(logging.INFO, logger="assay.gpu"):
        outcome = race_an_open_transaction(db_engine, ledger)
    assert isinstance(outcome, NotEnoughGPUs), outcome
    assert (outcome.free, outcome.total) == (0, 4)
    assert outcome.holders == {"job-run:7": FOUR}
    assert ledger.holdings() == {"job-run:7": FOUR}
    if db_engine.dialect.name == "postgresql":  # alice's first insert hit the primary key
        assert "assign 1 GPU(s) to alice collided (UniqueViolation (23505))" in caplog.text


def test_retries_run_out_into_a_refusal_that_changes_nothing(postgres_database):
    engine = make_engine(postgres_database)
    upgrade(engine)
    ledger = GPULedger(engine, FOUR, attempts=1)
    outcome = race_an_open_transaction(engine, ledger)
    assert isinstance(outcome, GPULedgerBusy), outcome
    assert outcome.status_code == 503
    assert outcome.user_message.startswith(
        "The GPU ledger is busy: could not assign 1 GPU(s) to alice after 1 attempts")
    assert "ask an Assay admin" in outcome.user_message
    assert ledger.holdings() == {"job-run:7": FOUR}
    engine.dispose()


# -- the hub's ledger --------------------------------------------------------------------


def test_the_hub_ledger_resolves_a_relative_sqlite_path_like_the_service(tmp_path,
                                                                          monkeypatch):
    monkeypatch.chdir(tmp_path)  # the hub starts the service in its own working folder
    opened: list[GPULedger] = []
    ledger = GPULedger.shared("sqlite:///var/assay.sqlite", on_open=opened.append)
    assert GPULedger.shared("sqlite:///var/assay.sqlite", on_open=opened.append) is ledger
    assert opened == [ledger]  # once per process
    assert Path(ledger.engine.url.database) == tmp_path / "var" / "assay.sqlite"
    assert "assay_gpu_holdings" in inspect(ledger.engine).get_table_names()  # migrated
    service = make_engine("sqlite:///var/assay.sqlite")  # as assay.broker makes it
    ledger.set_devices(FOUR)
    ledger.allocate("alice", 2)
    assert GPULedger(service, FOUR).holdings() == {"alice": ["sim-0", "sim-1"]}
    service.dispose()


def test_kinds_keep_servers_and_runs_apart(db_engine):
    ledger = GPULedger(db_engine, FOUR)
    ledger.allocate("job-run:5", 1, SERVER)  # a user named job-run with a server named 5
    ledger.allocate("job-run:5", 2, RUN)
    assert ledger.holders(SERVER) == ledger.holders(RUN) == {"job-run:5"}
    assert ledger.release("job-run:5", RUN) == ["sim-1", "sim-2"]
    assert ledger.holdings() == {"job-run:5": ["sim-0"]}
    with pytest.raises(ValueError, match="kind must be one of server, run, got 'pod'"):
        ledger.allocate("x", 1, "pod")
