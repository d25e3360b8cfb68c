"""The job store on SQLite and PostgreSQL: submit, claims, the queue, metrics."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from assay.errors import (
    InvalidJob,
    InvalidMetric,
    InvalidParameters,
    JobExists,
    JobNotFound,
    WebhookRefused,
)
from assay.jobs.model import RunStatus
from assay.jobs.store import notebook_key, run_id_of_server, run_server

T0 = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)


@pytest.fixture
def notebook(make_notebook) -> bytes:
    return make_notebook("n = 1\nlabel = 'x'", "print(n)")


def test_submit_pins_the_notebook_and_queues_an_on_demand_run(store, objects, submit_job,
                                                              notebook):
    job, run = submit_job(notebook, now=T0, parameters={"n": 5})
    digest = hashlib.sha256(notebook).hexdigest()
    assert (job.owner, job.name, job.notebook_sha256, job.notebook_key) == (
        "alice", "nightly", digest, notebook_key(digest))
    assert objects.get(job.notebook_key) == notebook
    assert (job.parameters, job.schedule, job.created_at, job.last_slot) == (
        {"n": 5}, None, T0, None)
    assert (run.job_id, run.slot, run.attempt, run.status, run.not_before) == (
        job.id, None, 1, RunStatus.QUEUED, T0)
    assert (run.parameters, run.notebook_sha256, run.profile) == ({"n": 5}, digest,
                                                                   "cpu-small")
    assert store.job(job.id) == job == store.job_named("alice", "nightly")
    assert store.jobs("alice") == [job] and store.jobs("bob") == []


def test_a_scheduled_job_waits_for_its_slots(store, submit_job, notebook):
    job, run = submit_job(notebook, schedule="0 6 * * *", timezone="Europe/Berlin")
    assert run is None
    assert store.scheduled_jobs() == [job]
    assert store.runs(job.id) == []


def test_submit_refusals(submit_job, notebook, objects):
    with pytest.raises(InvalidParameters, match="nn: unknown parameter; the notebook's "
                                                "parameters cell declares: n, label"):
        submit_job(notebook, parameters={"nn": 1})
    with pytest.raises(InvalidJob) as err:
        submit_job(notebook, profile="gpu-2x", owner="bob")
    assert err.value.problems == [
        "profile: 'gpu-2x' is not open to bob; profiles bob may use: cpu-small, cpu-large, "
        "dask"]
    with pytest.raises(InvalidJob, match="profile: no profile 'nope'; profiles alice may use"):
        submit_job(notebook, profile="nope")
    with pytest.raises(WebhookRefused, match="host '169.254.169.254' is not allowed"):
        submit_job(notebook, webhook="http://169.254.169.254/latest")
    with pytest.raises(InvalidJob, match="notebook: must be at most"):
        submit_job(b"x" * (32 * 1024 * 1024 + 1))
    assert objects.list() == []  # nothing pinned for refused submits


def test_names_are_unique_per_owner(submit_job, notebook):
    submit_job(notebook)
    with pytest.raises(JobExists) as err:
        submit_job(notebook)
    assert err.value.status_code == 409
    assert "alice already has a job named 'nightly'" in err.value.user_message
    submit_job(notebook, owner="bob")  # bob's own "nightly"


def test_claim_slot_exactly_once(store, submit_job, notebook):
    job, _ = submit_job(notebook, schedule="0 * * * *")
    first = store.claim_slot(job, T0, T0)
    assert (first.slot, first.attempt, first.status) == (T0, 1, RunStatus.QUEUED)
    assert store.claim_slot(job, T0, T0 + timedelta(seconds=5)) is None
    assert store.claim_slot(job, T0 + timedelta(hours=1), T0) is not None
    assert len(store.runs(job.id)) == 2


def test_last_slot_only_moves_forward(store, submit_job, notebook):
    job, _ = submit_job(notebook, schedule="0 * * * *")
    assert store.advance_last_slot(job.id, T0) is True
    assert store.advance_last_slot(job.id, T0 - timedelta(hours=1)) is False
    assert store.advance_last_slot(job.id, T0) is False
    assert store.job(job.id).last_slot == T0


def test_take_queued_respects_both_limits(store, submit_job, notebook):
    a, _ = submit_job(notebook, name="a", schedule="* * * * *", max_concurrency=1)
    b, _ = submit_job(notebook, name="b", schedule="* * * * *", max_concurrency=2)
    for minute in range(3):
        for job in (a, b):
            store.claim_slot(job, T0 + timedelta(minutes=minute), T0 + timedelta(minutes=minute))
    taken = store.take_queued(T0 + timedelta(minutes=5), max_running=10)
    assert sorted((r.job_id, r.slot.minute) for r in taken) == [(a.id, 0), (b.id, 0), (b.id, 1)]
    assert all(r.status == RunStatus.RUNNING and r.started_at for r in taken)
    assert store.take_queued(T0 + timedelta(minutes=5), max_running=10) == []  # limits


def test_take_queued_global_limit(store, submit_job, notebook):
    job, _ = submit_job(notebook, schedule="* * * * *", max_concurrency=5)
    for minute in range(4):
        store.claim_slot(job, T0 + timedelta(minutes=minute), T0)
    assert len(store.take_queued(T0, max_running=3)) == 3
    assert store.take_queued(T0, max_running=3) == []
    assert len(store.take_queued(T0, max_running=4)) == 1


def test_finish_once_and_retry_in_the_same_transaction(store, submit_job, notebook):
    job, run = submit_job(notebook, now=T0)
    [running] = store.take_queued(T0, 2)
    later = T0 + timedelta(minutes=1)
    won, retry = store.finish(running, RunStatus.FAILED, later, retry_at=later,
                              error="boom", metrics=[("auc", 0.5)])
    assert won is True
    assert (retry.attempt, retry.slot, retry.status, retry.not_before) == (
        2, None, RunStatus.QUEUED, later)
    assert store.finish(running, RunStatus.SUCCEEDED, later) == (False, None)
    ended = store.run(run.id)
    assert (ended.status, ended.error, ended.finished_at) == (RunStatus.FAILED, "boom", later)
    assert ended.duration_s == 60.0
    assert store.metrics(run.id) == {"auc": 0.5}


def test_metrics(store, submit_job, notebook):
    job, run = submit_job(notebook, now=T0)
    with pytest.raises(InvalidMetric, match="is not running"):
        store.record_metric(run.id, "auc", 0.5)
    store.take_queued(T0, 2)
    store.record_metric(run.id, "auc", 0.5)
    store.record_metric(run.id, "auc", 0.7)
    store.record_metric(run.id, "rows", 10)
    assert store.metrics(run.id) == {"auc": 0.7, "rows": 10.0}
    for name, value, message in [("a b", 1, "name: must be 1-64"), ("auc", float("nan"),
                                 "value: must be a finite number"),
                                 ("auc", True, "value: must be a finite number"),
                                 ("auc", "1", "value: must be a finite number")]:
        with pytest.raises(InvalidMetric, match=message):
            store.record_metric(run.id, name, value)


def test_metric_history_counts_succeeded_runs_only(store, submit_job, notebook):
    job, _ = submit_job(notebook, schedule="* * * * *", max_concurrency=10)
    ids = []
    for minute, (status, value) in enumerate([("succeeded", 0.1), ("failed", 0.2),
                                              ("succeeded", 0.3), ("succeeded", 0.4)]):
        run = store.claim_slot(job, T0 + timedelta(minutes=minute), T0)
        [running] = [r for r in store.take_queued(T0, 10) if r.id == run.id]
        store.finish(running, RunStatus(status), T0, metrics=[("auc", value)])
        ids.append(run.id)
    assert store.metric_history(job.id, ["auc"], before_run=ids[-1], limit=10) == {
        "auc": [0.1, 0.3]}
    assert store.metric_history(job.id, ["auc"], before_run=ids[-1] + 1, limit=2) == {
        "auc": [0.3, 0.4]}


def test_pause_and_delete(store, submit_job, notebook):
    job, _ = submit_job(notebook, schedule="* * * * *")
    assert store.set_paused(job.id, True).paused is True
    assert store.scheduled_jobs() == []
    resumed = store.set_paused(job.id, False, now=T0)
    assert (resumed.paused, resumed.last_slot) == (False, T0)  # missed slots are skipped
    assert store.set_paused(job.id, False, now=T0 - timedelta(hours=1)).last_slot == T0
    with pytest.raises(JobNotFound):
        store.set_paused(job.id + 100, True)
    run = store.claim_slot(job, T0, T0)
    store.take_queued(T0, 2)
    with pytest.raises(JobExists, match="has a run executing"):
        store.delete_job(job.id)
    store.finish(run, RunStatus.SUCCEEDED, T0, metrics=[("auc", 1.0)])
    assert store.delete_job(job.id) is True
    assert store.job(job.id) is None and store.run(run.id) is None


def test_run_servers():
    assert run_server(42) == "job-run:42"
    assert run_id_of_server("job-run:42") == 42
    assert run_id_of_server("job-run:x") is None
    assert run_id_of_server("") is None
