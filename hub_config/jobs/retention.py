"""Run folders are scratch space: the pinned notebook, the runner's spec and its outputs
before they are published to the object store. Once a run has ended and its outputs are
stored, the folder is only useful for a while (debugging the runner), so the scheduler
deletes folders of runs that ended more than ``jobs.keep_run_folders_hours`` ago.

Stored outputs (notebook, HTML, log in the object store) are the run history and are kept.
"""

from __future__ import annotations

import logging
import re
import shutil
from datetime import datetime, timedelta
from pathlib import Path

from .model import FINAL
from .store import JobStore

log = logging.getLogger("assay.jobs")
_RUN_FOLDER = re.compile(r"^run-(\d{1,18})$")


def sweep(store: JobStore, root: Path, keep: timedelta, now: datetime) -> list[int]:
    """Delete the folders under ``root`` of runs that ended before ``now - keep``;
    the ids of the runs whose folders went. Folders of unknown or live runs stay."""
    removed = []
    for folder in sorted(root.glob("run-*")) if root.is_dir() else []:
        match = _RUN_FOLDER.match(folder.name)
        run = store.run(int(match.group(1))) if match and folder.is_dir() else None
        if run is None or run.status not in FINAL or run.finished_at is None:
            continue
        if now - run.finished_at < keep:
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(run.id)
    if removed:
        log.info("deleted the run folders of %d ended run(s)", len(removed))
    return removed
