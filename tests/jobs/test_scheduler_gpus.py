"""The scheduler's GPUs come from the database ledger the hub shares: held while a run runs,
released when it ends, and after a service restart released for runs that no longer run."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from assay.gpu import RUN, SERVER, GPULedger
from assay.jobs.model import RunStatus
from assay.jobs.store import run_server
from jobrun import kill_run, wait_for

T0 = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)
FOUR = ["sim-0", "sim-1", "sim-2", "sim-3"]
# waits (at most 2 minutes) until the test creates the file "go" in the run's folder
WAIT_FOR_GO = ("import os, time\nopen('gpus', 'w').write(os.environ['CUDA_VISIBLE_DEVICES'])\n"
               "for _ in range(1200):\n    if os.path.exists('go'):\n        break\n"
               "    time.sleep(0.1)")


@pytest.fixture
def view(db_engine) -> GPULedger:
    """The same holdings table, as the hub sees it."""
    return GPULedger(db_engine, FOUR)


def ended(store, run_id):
    return lambda: store.run(run_id).status not in (RunStatus.QUEUED, RunStatus.RUNNING)


def go(scheduler, run_id: int) -> None:
    (scheduler.workdir_root / f"run-{run_id}" / "go").touch()


def test_restart_keeps_gpus_of_running_runs_and_releases_those_of_ended_ones(
        make_scheduler, submit_job, make_notebook, store, view, run_until):
    # the default ledger: the database of the scheduler's engine, the config's inventory
    first = make_scheduler()
    _, quick = submit_job(make_notebook(None, "1 + 1"), name="quick", now=T0)
    _, gpu = submit_job(make_notebook(None, WAIT_FOR_GO), name="train", profile="gpu-2x",
                        now=T0)
    assert sorted(first.tick(T0).started) == sorted([quick.id, gpu.id])
    assert view.holdings() == {run_server(gpu.id): ["sim-0", "sim-1"]}
    run_until(first, ended(store, quick.id), now=lambda: T0)
    # the service died after ending the quick run but before releasing its GPUs, and a
    # user's server holds one
    view.claim(run_server(quick.id), ["sim-3"], RUN)
    view.allocate("alice", 1)
    assert view.holders(RUN) == {run_server(quick.id), run_server(gpu.id)}

    second = make_scheduler()  # the restarted service
    assert second.recover(T0) == []  # the GPU run is adopted
    assert view.holdings() == {run_server(gpu.id): ["sim-0", "sim-1"], "alice": ["sim-2"]}

    go(second, gpu.id)
    run_until(second, ended(store, gpu.id), now=lambda: T0)
    assert store.run(gpu.id).status == RunStatus.SUCCEEDED
    assert Path(store.run(gpu.id).workdir, "gpus").read_text() == "sim-0,sim-1"
    assert view.holdings() == {"alice": ["sim-2"]}
    assert view.holders(SERVER) == {"alice"}


def test_a_gpu_run_that_died_with_the_service_releases_its_gpus_on_recovery(
        make_scheduler, submit_job, make_notebook, store, view, run_until):
    first = make_scheduler()
    _, run = submit_job(make_notebook(None, WAIT_FOR_GO), name="train", profile="gpu-2x",
                        now=T0)
    assert first.tick(T0).started == [run.id]
    wait_for(lambda: (first.workdir_root / f"run-{run.id}" / "gpus").exists(),
             what="the run's start")
    kill_run(store.run(run.id).executor_ref)  # the machine went down under service and run
    assert view.holdings() == {run_server(run.id): ["sim-0", "sim-1"]}

    second = make_scheduler()
    assert second.recover(T0) == [run.id]
    assert store.run(run.id).status == RunStatus.INTERRUPTED
    assert view.holdings() == {}
    assert view.free() == FOUR


def test_gpus_held_by_servers_make_gpu_runs_wait(make_scheduler, submit_job, make_notebook,
                                                 store, view, run_until):
    view.allocate("alice", 3)  # the hub gave a server three of the four GPUs
    scheduler = make_scheduler()
    _, run = submit_job(make_notebook(None, WAIT_FOR_GO), name="train", profile="gpu-2x",
                        now=T0)
    assert scheduler.tick(T0).started == []
    assert store.run(run.id).status == RunStatus.QUEUED
    view.release("alice")
    later = datetime(2025, 3, 3, 12, 1, tzinfo=UTC)
    assert scheduler.tick(later).started == [run.id]
    assert view.holdings() == {run_server(run.id): ["sim-0", "sim-1"]}
    go(scheduler, run.id)
    run_until(scheduler, ended(store, run.id), now=lambda: later)
    assert view.holdings() == {}
