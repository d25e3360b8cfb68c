"""Run folders (``run-<id>`` under the service's ``jobs/runs``) are scratch space: the
pinned notebook, the runner's spec and its outputs before they are published to the
object store. ``pin_notebook`` fills one when a run starts; once the run has ended and
its outputs are stored, the folder is only useful for a while (debugging the runner), so
``sweep`` deletes folders of runs that ended more than ``jobs.keep_run_folders_hours`` ago.

Stored outputs (notebook, HTML, log in the object store) are the run history and are kept.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
from datetime import datetime, timedelta
from pathlib import Path

from ..errors import JobError
from .model import FINAL
from .store import JobStore

log = logging.getLogger("assay.jobs")
_RUN_FOLDER = re.compile(r"^run-(\d{1,18})$")
INPUT_NOTEBOOK = "input.ipynb"


def run_folder(root: Path, run_id: int) -> Path:
    return root / f"run-{run_id}"


def pin_notebook(workdir: Path, data: bytes, sha256: str, key: str) -> Path:
    """Write the job's pinned notebook into a new run folder, refusing bytes that no
    longer match the hash taken at submit (``key``: where they were read, for the log)."""
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise JobError("The pinned notebook was changed after submit; resubmit the job.",
                       f"{key}: sha256 {digest}, pinned {sha256}")
    workdir.parent.mkdir(parents=True, exist_ok=True)
    workdir.mkdir(mode=0o700, exist_ok=True)
    path = workdir / INPUT_NOTEBOOK
    path.write_bytes(data)
    return path


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
