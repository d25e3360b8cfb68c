"""The scheduler with real runs (LocalExecutor + papermill) on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from assay.broker.sessions import SessionStore
from assay.errors import RunNotCancellable, RunNotFound
from assay.gpu import GPULedger
from assay.jobs.model import RunStatus

T0 = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)


def ended(store, run_id):
    return lambda: store.run(run_id).status not in (RunStatus.QUEUED, RunStatus.RUNNING)


def test_an_on_demand_run_end_to_end(make_scheduler, submit_job, make_notebook, store,
                                     objects, run_until):
    notebook = make_notebook("n = 1", "import assay.jobs\nassay.jobs.record('auc', n / 10)",
                             "print('n is', n)")
    job, run = submit_job(notebook, parameters={"n": 9})
    scheduler = make_scheduler()
    report = scheduler.tick()
    assert report.started == [run.id]
    running = store.run(run.id)
    assert running.status == RunStatus.RUNNING and running.executor_ref
    assert running.workdir == str(scheduler.workdir_root / f"run-{run.id}")
    run_until(scheduler, ended(store, run.id))
    done = store.run(run.id)
    assert (done.status, done.error, done.cells_done, done.cells_total) == (
        RunStatus.SUCCEEDED, None, 4, 4)  # with the injected parameters
    assert done.outputs == {"notebook": f"runs/{run.id}/output.ipynb",
                            "log": f"runs/{run.id}/run.log"}
    executed = json.loads(objects.get(done.outputs["notebook"]))
    assert "n is 9" in json.dumps(executed)
    assert store.metrics(run.id) == {"auc": 0.9}
    assert done.duration_s > 0 and done.parameters == {"n": 9}
    assert scheduler.tick().started == []  # an on-demand job runs once


def test_the_run_credential_is_bound_and_revoked(make_scheduler, submit_job, make_notebook,
                                                 store, db_engine, run_until):
    notebook = make_notebook(None, "import os, time\nopen('token', 'w').write("
                             "os.environ['ASSAY_SESSION_TOKEN'])\ntime.sleep(3)")
    job, run = submit_job(notebook, profile="secure-cpu", name="secure")
    scheduler = make_scheduler()
    token_file = scheduler.workdir_root / f"run-{run.id}" / "token"
    run_until(scheduler, token_file.exists)
    session = SessionStore(db_engine).lookup(token_file.read_text())
    assert (session.user, session.server, session.profile, session.zone, session.purpose,
            session.kind) == ("alice", f"job-run:{run.id}", "secure-cpu", "secure",
                              "job secure", "job")
    assert store.run(run.id).session_id == session.id
    run_until(scheduler, ended(store, run.id))
    assert store.run(run.id).status == RunStatus.SUCCEEDED
    assert SessionStore(db_engine).lookup(token_file.read_text()) is None  # revoked


def test_a_scheduled_slot_runs_once(make_scheduler, submit_job, make_notebook, store,
                                    run_until):
    job, _ = submit_job(make_notebook(None, "1 + 1"), schedule="0 * * * *", now=T0)
    scheduler = make_scheduler()
    now = T0 + timedelta(hours=1, seconds=5)
    report = scheduler.tick(now)
    assert len(report.claimed) == 1 and report.started == report.claimed
    run_until(scheduler, ended(store, report.claimed[0]), now=lambda: now)
    [run] = store.runs(job.id)
    assert (run.slot, run.attempt, run.status) == (T0 + timedelta(hours=1), 1,
                                                   RunStatus.SUCCEEDED)
    assert store.job(job.id).last_slot == T0 + timedelta(hours=1)
    assert scheduler.tick(now + timedelta(minutes=5)).claimed == []


def test_retries_with_exponential_backoff_then_one_failure_webhook(
        make_scheduler, submit_job, make_notebook, store, hooks, notifier, run_until):
    job, run = submit_job(make_notebook(None, "raise ValueError('boom')"), now=T0,
                          retries=2, retry_backoff_s=30, webhook=hooks.url)
    scheduler = make_scheduler(notifier=notifier)
    clock = {"now": T0}
    attempts = {}
    for attempt, start_at in ((1, T0), (2, T0 + timedelta(seconds=30)),
                              (3, T0 + timedelta(seconds=90))):
        [current] = [r for r in store.runs(job.id) if r.attempt == attempt]
        assert current.not_before == start_at
        if attempt > 1:  # not a moment early
            assert scheduler.tick(start_at - timedelta(seconds=1)).started == []
        clock["now"] = start_at
        run_until(scheduler, ended(store, current.id), now=lambda: clock["now"])
        attempts[attempt] = store.run(current.id)
    assert [r.status for r in attempts.values()] == [RunStatus.FAILED] * 3
    assert "ValueError" in attempts[3].error and "boom" in attempts[3].error
    assert len(store.runs(job.id)) == 3
    [body] = hooks.wait(1)
    assert (body["event"], body["run"]["id"], body["run"]["attempt"]) == (
        "run.failed", attempts[3].id, 3)
    assert "boom" in body["run"]["error"]


def test_timeout_kills_the_kernel(make_scheduler, submit_job, make_notebook, store,
                                  run_until):
    notebook = make_notebook(None, "import os\nopen('kernel.pid', 'w').write(str(os.getpid()))",
                             "import time\ntime.sleep(120)")
    job, run = submit_job(notebook, timeout_s=8)
    scheduler = make_scheduler()
    run_until(scheduler, ended(store, run.id))
    done = store.run(run.id)
    assert done.status == RunStatus.TIMED_OUT
    assert "time limit of 8 s" in done.error
    pid = int((Path(done.workdir) / "kernel.pid").read_text())
    assert not _alive(pid)


def test_the_scheduler_enforces_the_deadline_if_the_executor_does_not(
        make_scheduler, submit_job, make_notebook, store, run_until):
    job, run = submit_job(make_notebook(None, "import time\ntime.sleep(120)"), now=T0,
                          timeout_s=600)
    scheduler = make_scheduler(timeout_grace_s=30)
    run_until(scheduler, lambda: store.run(run.id).executor_ref is not None, now=lambda: T0)
    assert scheduler.tick(T0 + timedelta(seconds=629)).finished == []
    assert scheduler.tick(T0 + timedelta(seconds=631)).finished == [run.id]
    done = store.run(run.id)
    assert (done.status, done.error) == (RunStatus.TIMED_OUT,
                                         "The run exceeded its time limit of 600 s.")


def test_cancel_queued_and_running_runs_without_retry(make_scheduler, submit_job,
                                                      make_notebook, store, config,
                                                      run_until):
    slow = make_notebook(None, "import time\ntime.sleep(120)")
    job, run = submit_job(slow, retries=3)
    _, queued = submit_job(slow, name="other", retries=3)
    one_at_a_time = _limited(config, 1)
    scheduler = make_scheduler(config=lambda: one_at_a_time)
    run_until(scheduler, lambda: store.run(run.id).executor_ref is not None)
    assert store.run(queued.id).status == RunStatus.QUEUED  # the global limit is 1
    assert scheduler.cancel(queued.id).status == RunStatus.CANCELLED
    cancelled = scheduler.cancel(run.id)
    assert (cancelled.status, cancelled.error) == (RunStatus.CANCELLED, "The run was cancelled.")
    assert len(store.runs(job.id)) == 1  # no retry
    with pytest.raises(RunNotCancellable, match="has already ended: cancelled"):
        scheduler.cancel(run.id)
    with pytest.raises(RunNotFound):
        scheduler.cancel(10_000)


def test_drift_is_flagged_and_notified(make_scheduler, submit_job, make_notebook, store,
                                       hooks, notifier, run_until):
    notebook = make_notebook(None, "import assay.jobs\nassay.jobs.record('auc', 0.5)")
    rules = [{"metric": "auc", "kind": "bounds", "min": 0.8},
             {"metric": "rows", "kind": "bounds", "min": 1}]
    job, run = submit_job(notebook, webhook=hooks.url, drift_rules=rules)
    scheduler = make_scheduler(notifier=notifier)
    run_until(scheduler, ended(store, run.id))
    done = store.run(run.id)
    assert done.status == RunStatus.SUCCEEDED
    assert [(f["metric"], f["message"]) for f in done.drift] == [
        ("auc", "auc = 0.5 is not at least 0.8"), ("rows", "rows was not recorded by this run")]
    [body] = hooks.wait(1)
    assert body["event"] == "run.drift" and body["drift"] == done.drift


def test_secrets_are_resolved_at_run_time_and_never_stored(make_scheduler, submit_job,
                                                           make_notebook, store, objects,
                                                           run_until):
    value = "s3cr3t-Value-for-the-warehouse"
    scheduler = make_scheduler()
    scheduler.secrets.put("alice", "warehouse", value)
    notebook = make_notebook("token = ''", "print('token:', token)")
    job, run = submit_job(notebook, parameters={"token": "secret://warehouse"})
    _, missing = submit_job(notebook, name="missing", parameters={"token": "secret://nope"})
    run_until(scheduler, lambda: ended(store, run.id)() and ended(store, missing.id)())
    done = store.run(run.id)
    assert done.status == RunStatus.SUCCEEDED
    assert done.parameters == {"token": "secret://warehouse"}
    for key in done.outputs.values():
        assert value.encode() not in objects.get(key)
    assert "[secret]" in objects.get(done.outputs["notebook"]).decode()
    failed = store.run(missing.id)
    assert failed.status == RunStatus.FAILED
    assert failed.error.startswith("No secret named 'nope' for alice; alice's secrets: "
                                   "warehouse.")


def test_a_changed_pinned_notebook_or_a_removed_profile_fails_the_run(
        make_scheduler, submit_job, make_notebook, store, objects, config, run_until):
    job, run = submit_job(make_notebook(None, "1"))
    objects.put(job.notebook_key, make_notebook(None, "import os  # tampered"))
    other, second = submit_job(make_notebook(None, "2"), name="other", profile="dask")
    without_dask = config.model_copy(update={"profiles": [p for p in config.profiles
                                                          if p.slug != "dask"]})
    scheduler = make_scheduler(config=lambda: without_dask)
    scheduler.tick()
    assert store.run(run.id).error == ("The pinned notebook was changed after submit; "
                                       "resubmit the job.")
    assert store.run(second.id).error.startswith("Profile 'dask' no longer exists in the "
                                                 "admin config; resubmit the job with one of:")


def test_gpu_runs_wait_for_free_gpus(make_scheduler, submit_job, make_notebook, store,
                                     run_until, db_engine):
    notebook = make_notebook(None, "import os\nopen('gpus', 'w').write("
                             "os.environ['CUDA_VISIBLE_DEVICES'])")
    ledger = GPULedger(db_engine, ["sim-0", "sim-1"])
    scheduler = make_scheduler(gpu_ledger=ledger)
    _, first = submit_job(notebook, profile="gpu-2x", now=T0)
    _, second = submit_job(notebook, name="second", profile="gpu-2x", now=T0)
    report = scheduler.tick(T0)
    assert report.started == [first.id]
    assert ledger.holdings() == {f"job-run:{first.id}": ["sim-0", "sim-1"]}
    waiting = store.run(second.id)
    assert (waiting.status, waiting.not_before) == (RunStatus.QUEUED,
                                                     T0 + timedelta(seconds=30))
    run_until(scheduler, ended(store, first.id), now=lambda: T0)
    assert ledger.holdings() == {}
    assert Path(store.run(first.id).workdir, "gpus").read_text() == "sim-0,sim-1"
    assert scheduler.tick(T0 + timedelta(seconds=30)).started == [second.id]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


def _limited(config, runs: int):
    return config.model_copy(update={"jobs": config.jobs.model_copy(
        update={"max_concurrent_runs": runs})})

