"""Recovery after the service dies: runs adopted, finalized or interrupted and retried;
slots claimed exactly once across a ``kill -9`` of the scheduler process."""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, update

from assay.db.models import JobRun
from assay.jobs.model import RunStatus
from jobrun import kill_run, wait_for

T0 = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)


def slot_counts(engine, job_id):
    query = (select(JobRun.slot, func.count()).where(JobRun.job_id == job_id,
                                                     JobRun.attempt == 1)
             .group_by(JobRun.slot))
    with engine.connect() as conn:
        return {slot.replace(tzinfo=UTC) if slot.tzinfo is None else slot: n
                for slot, n in conn.execute(query)}


def ended(store, run_id):
    return lambda: store.run(run_id).status not in (RunStatus.QUEUED, RunStatus.RUNNING)


# -- runs left running by a dead service ------------------------------------------------


def test_a_run_whose_process_died_is_interrupted_then_retried(
        make_scheduler, submit_job, make_notebook, store, tmp_path, run_until):
    marker = tmp_path / "first-attempt"
    notebook = make_notebook("marker = ''", "import pathlib, time\np = pathlib.Path(marker)\n"
                             "if not p.exists():\n    p.touch()\n    time.sleep(60)")
    job, run = submit_job(notebook, retries=1, retry_backoff_s=0,
                          parameters={"marker": str(marker)})
    first = make_scheduler()
    run_until(first, marker.exists)
    kill_run(store.run(run.id).executor_ref)
    second = make_scheduler()  # the restarted service: a new executor, no memory
    assert second.recover() == [run.id]
    lost = store.run(run.id)
    assert (lost.status, lost.error) == (
        RunStatus.INTERRUPTED, "The run stopped without a result: its process was killed or "
        "the machine restarted.")
    [retry] = [r for r in store.runs(job.id) if r.attempt == 2]
    run_until(second, ended(store, retry.id))
    assert store.run(retry.id).status == RunStatus.SUCCEEDED
    assert (store.run(retry.id).slot, len(store.runs(job.id))) == (None, 2)


def test_a_run_that_finished_while_the_service_was_down_is_finalized(
        make_scheduler, submit_job, make_notebook, store):
    notebook = make_notebook(None, "import assay.jobs\nassay.jobs.record('auc', 0.93)")
    job, run = submit_job(notebook)
    first = make_scheduler()
    first.tick()  # started; this service then "dies" and never looks again
    workdir = Path(store.run(run.id).workdir)
    wait_for((workdir / "result.json").exists, what="the run's result")
    assert store.run(run.id).status == RunStatus.RUNNING
    second = make_scheduler()
    assert second.recover() == [run.id]
    done = store.run(run.id)
    assert (done.status, done.outputs["notebook"]) == (RunStatus.SUCCEEDED,
                                                       f"runs/{run.id}/output.ipynb")
    assert store.metrics(run.id) == {"auc": 0.93}


def test_a_run_still_going_is_adopted(make_scheduler, submit_job, make_notebook, store,
                                      run_until):
    job, run = submit_job(make_notebook(None, "import time\ntime.sleep(4)"))
    make_scheduler().tick()
    second = make_scheduler()
    assert second.recover() == []
    assert store.run(run.id).status == RunStatus.RUNNING
    run_until(second, ended(store, run.id))
    assert store.run(run.id).status == RunStatus.SUCCEEDED


def test_a_run_launched_just_before_the_service_died_is_adopted_not_repeated(
        make_scheduler, submit_job, make_notebook, store, run_until):
    """The service died after ``executor.start`` launched the runner and before the ref
    was saved: the next service finds the runner and follows it; no second attempt."""
    job, run = submit_job(make_notebook(None, "import time\ntime.sleep(3)"), retries=2)
    make_scheduler().tick()
    launched = store.run(run.id).executor_ref
    with store._write() as conn:  # the ref never reached the database
        conn.execute(update(JobRun).where(JobRun.id == run.id).values(executor_ref=None))
    second = make_scheduler(start_grace_s=0)
    assert second.recover() == []
    assert store.run(run.id).executor_ref == launched
    run_until(second, ended(store, run.id))
    assert [(r.attempt, r.status) for r in store.runs(job.id)] == [(1, RunStatus.SUCCEEDED)]


def test_a_run_never_handed_to_the_executor(make_scheduler, submit_job, make_notebook, store):
    job, run = submit_job(make_notebook(None, "1"), now=T0, retries=0)
    _, other = submit_job(make_notebook(None, "1"), name="other", now=T0, retries=1,
                          retry_backoff_s=10)
    assert len(store.take_queued(T0, 2)) == 2  # marked running, then the service died
    scheduler = make_scheduler(start_grace_s=120)
    assert scheduler.recover(T0 + timedelta(seconds=119)) == []  # maybe still starting
    assert sorted(scheduler.recover(T0 + timedelta(seconds=121))) == [run.id, other.id]
    assert store.run(run.id).error == "The service stopped while starting the run."
    assert [r.status for r in store.runs(job.id)] == [RunStatus.INTERRUPTED]
    retry = store.runs(other.job_id)[0]
    assert (retry.attempt, retry.status, retry.not_before) == (
        2, RunStatus.QUEUED, T0 + timedelta(seconds=131))


# -- the scheduler process killed -9 ----------------------------------------------------


def test_kill_9_of_the_scheduler_loses_and_repeats_no_slot(
        db_engine, make_scheduler, submit_job, make_notebook, store, scheduler_process):
    notebook = make_notebook(None, "import time\ntime.sleep(1)")
    job, _ = submit_job(notebook, schedule="* * * * *", catchup="all", now=T0,
                        max_concurrency=2, timeout_s=None)
    epoch = time.time()  # one simulated clock for both services: a minute a second
    first = scheduler_process("first", epoch=epoch)
    wait_for(lambda: len(slot_counts(db_engine, job.id)) >= 3, what="claims")
    wait_for(lambda: store.runs_with_status(RunStatus.RUNNING), what="a run")
    first.send_signal(signal.SIGKILL)  # mid-flight: runs executing, slots being claimed
    first.wait(10)
    time.sleep(2)  # two simulated minutes pass with no scheduler
    second = scheduler_process("second", epoch=epoch)
    try:
        wait_for(lambda: len(slot_counts(db_engine, job.id)) >= 10, what="more claims")
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(20)
    counts = slot_counts(db_engine, job.id)
    last = store.job(job.id).last_slot
    expected = [T0 + timedelta(minutes=m) for m in range(1, (last - T0).seconds // 60 + 1)]
    assert sorted(counts) == expected  # none lost across the kill and the downtime
    assert set(counts.values()) == {1}  # none twice
    # runs executing when either service stopped end properly under the next one
    checker = make_scheduler()
    wait_for(lambda: not checker.follow(T0 + timedelta(days=1)) and not
             store.runs_with_status(RunStatus.RUNNING), what="the runs to end")
    runs = store.runs(job.id, limit=1000)
    assert sum(r.status == RunStatus.SUCCEEDED for r in runs) >= 2
    for run in runs:  # interrupted only if a service died between dispatch and start
        assert run.status in (RunStatus.SUCCEEDED, RunStatus.QUEUED) or (
            run.status == RunStatus.INTERRUPTED
            and run.error == "The service stopped while starting the run."), run
