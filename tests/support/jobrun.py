"""Helpers for the executor and runner tests: small notebooks, profiles, run specs."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import nbformat

from assay.config.schema import Cpu, Memory, Profile
from assay.jobs.executors.base import Executor, RunResult, RunSpec


def new_notebook(cells: list[str], parameters: str | None = None) -> nbformat.NotebookNode:
    """A Python notebook: an optional ``parameters``-tagged cell, then ``cells``."""
    nb = nbformat.v4.new_notebook()
    if parameters is not None:
        cell = nbformat.v4.new_code_cell(parameters)
        cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    nb.cells += [nbformat.v4.new_code_cell(source) for source in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    return nb


def write_notebook(path: Path, cells: list[str], parameters: str | None = None) -> Path:
    """``new_notebook`` written to ``path``."""
    nbformat.write(new_notebook(cells, parameters), path)
    return path


def profile(gpus: int = 0, **extra: Any) -> Profile:
    return Profile(slug="gpu-1x" if gpus else "cpu-small",
                   display_name="GPU" if gpus else "Small CPU",
                   cpu=Cpu(guarantee=0.5, limit=2.0), memory=Memory(guarantee="1G", limit="2G"),
                   gpus=gpus, **extra)


def make_spec(tmp_path: Path, notebook: Path, name: str = "run", **overrides: Any) -> RunSpec:
    fields: dict[str, Any] = {
        "run_id": f"{name}-1", "job_id": "7", "owner": "alice", "notebook": notebook,
        "parameters": {}, "secrets": {}, "env": {}, "workdir": tmp_path / name,
        "timeout_s": None, "profile": profile(), "gpus": [], "image": None,
    }
    fields.update(overrides)
    return RunSpec(**fields)


def wait(executor: Executor, ref: str, timeout: float = 60.0) -> RunResult:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = executor.poll(ref)
        if result is not None:
            return result
        time.sleep(0.05)
    raise AssertionError(f"run {ref} did not finish within {timeout} s")


def wait_for(predicate: Any, timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} not reached within {timeout} s")


def kill_leftovers(pids: list[int]) -> None:
    """Test clean-up: never leave a runner or kernel behind."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def kill_run(ref: str) -> None:
    """``kill -9`` a local run's runner and kernel (``ref``: the executor's): the machine
    went down under it."""
    from assay.jobs.executors.local import alive, descendants, proc

    pid = int(ref.split(":")[0])
    family = [p for p in [proc(pid), *descendants(pid)] if p is not None]
    for member in family:
        try:
            os.kill(member.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    wait_for(lambda: not any(alive(p.pid, p.start) for p in family), what="the kill")
