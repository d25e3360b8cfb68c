"""Scratch folders of ended runs are swept after ``jobs.keep_run_folders_hours``; the
stored outputs (the run's history) stay."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from assay.jobs.model import RunStatus


def test_an_ended_runs_folder_goes_after_the_retention_and_its_outputs_stay(
        make_scheduler, submit_job, make_notebook, store, objects, run_until, tmp_path):
    job, done = submit_job(make_notebook(None, "print('kept')"))
    scheduler = make_scheduler()
    run_until(scheduler, lambda: store.run(done.id).status == RunStatus.SUCCEEDED)
    _, going = submit_job(make_notebook(None, "import time\ntime.sleep(30)"), name="slow")
    run_until(scheduler, lambda: store.run(going.id).executor_ref is not None)
    stray = tmp_path / "runs" / "notes"  # not a run folder: never touched
    stray.mkdir()
    ended = store.run(done.id).finished_at
    folder = Path(store.run(done.id).workdir)

    assert scheduler.sweep_folders(ended + timedelta(hours=167)) == []  # default: 168 h
    assert folder.is_dir()
    assert scheduler.sweep_folders(ended + timedelta(hours=169)) == [done.id]
    assert not folder.exists()
    assert Path(store.run(going.id).workdir).is_dir() and stray.is_dir()
    assert b"kept" in objects.get(store.run(done.id).outputs["notebook"])
