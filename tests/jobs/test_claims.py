"""Exactly once per slot with two schedulers at once: threads on one database (SQLite
and PostgreSQL) and separate processes; none twice, none lost, limits kept."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from assay.db import make_engine
from assay.db.models import JobRun
from assay.jobs.model import RunStatus

T0 = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)
STEP_S, TICKS = 20, 180  # one simulated hour, a tick every 20 s
JOBS = [  # name, schedule, time zone, catch-up, slots in the hour after T0
    ("every-minute", "* * * * *", "UTC", "all", 60),
    ("every-5", "*/5 * * * *", "Europe/Berlin", "latest", 12),
    ("every-2", "*/2 * * * *", "America/New_York", "none", 30),
]


@pytest.fixture
def jobs(submit_job, make_notebook):
    notebook = make_notebook(None, "1 + 1")
    return [(submit_job(notebook, name=name, schedule=cron, timezone=zone, catchup=catchup,
                        now=T0, timeout_s=None)[0], count)
            for name, cron, zone, catchup, count in JOBS]


def slot_counts(engine, job_id: int) -> dict[datetime, int]:
    query = (select(JobRun.slot, func.count()).where(JobRun.job_id == job_id,
                                                     JobRun.attempt == 1)
             .group_by(JobRun.slot))
    with engine.connect() as conn:
        return {(s if s.tzinfo else s.replace(tzinfo=UTC)): n for s, n in conn.execute(query)}


def assert_each_slot_once(engine, jobs, until: datetime) -> None:
    for job, count in jobs:
        counts = slot_counts(engine, job.id)
        step = 60 * 60 // count
        expected = [T0 + timedelta(seconds=step * i) for i in range(1, count + 1)
                    if T0 + timedelta(seconds=step * i) <= until]
        assert sorted(counts) == expected, job.name  # none lost
        assert set(counts.values()) == {1}, job.name  # none twice


def test_two_schedulers_in_threads(db_url, db_engine, jobs, make_scheduler, store):
    engines = [make_engine(db_url) for _ in range(2)]
    schedulers = [make_scheduler(engine=e, start_grace_s=1e9) for e in engines]
    barrier = threading.Barrier(2)
    running: list[int] = []
    claimed: dict[int, int] = {0: 0, 1: 0}
    errors: list[BaseException] = []

    def work(index: int, scheduler) -> None:
        try:
            barrier.wait(10)
            for i in range(1, TICKS + 1):
                claimed[index] += len(scheduler.tick(T0 + timedelta(seconds=STEP_S * i)).claimed)
                running.append(len(store.runs_with_status(RunStatus.RUNNING)))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i, s)) for i, s in enumerate(schedulers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert errors == []
    assert_each_slot_once(db_engine, jobs, T0 + timedelta(hours=1))
    assert claimed[0] + claimed[1] == sum(count for _, count in jobs)
    assert 1 <= max(running) <= 2  # jobs.max_concurrent_runs held across both
    for engine in engines:
        engine.dispose()


def test_two_scheduler_processes(db_engine, jobs, make_scheduler, scheduler_process,
                                 tmp_path: Path):
    make_scheduler()  # cleans up the runs the processes leave running
    go = tmp_path / "go"
    workers = [scheduler_process(name, mode="ticks", ticks=TICKS + 1, step=STEP_S,
                                 go=str(go)) for name in ("one", "two")]
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"{n}.ready").exists() for n in ("one", "two")):
        assert time.monotonic() < deadline, "the scheduler processes did not start"
        time.sleep(0.02)
    go.touch()  # both start ticking together
    for worker in workers:
        assert worker.wait(300) == 0, (tmp_path / "one.log").read_text()[-2000:]
    assert_each_slot_once(db_engine, jobs, T0 + timedelta(hours=1))
