"""Fixtures for the jobs core: notebooks, the admin config, stores, real schedulers.

Schedulers here run notebooks for real: ``LocalExecutor`` (papermill in a subprocess),
outputs in a ``LocalObjects`` folder, webhooks to a real HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import nbformat
import pytest
from sqlalchemy import Engine

from assay.config import AssayConfig
from assay.jobs.executors.base import RunResult
from assay.jobs.executors.local import LocalExecutor
from assay.jobs.model import Job, JobSpec, Run, RunStatus
from assay.jobs.notify import Notifier
from assay.jobs.scheduler import Scheduler
from assay.jobs.secrets import SecretStore
from assay.jobs.store import JobStore
from assay.objects import LocalObjects


def _make_notebook(parameters: str | None = "n = 1", *body: str) -> bytes:
    """An .ipynb: a cell tagged ``parameters`` (unless None), then ``body`` cells."""
    notebook = nbformat.v4.new_notebook()
    if parameters is not None:
        cell = nbformat.v4.new_code_cell(parameters)
        cell.metadata["tags"] = ["parameters"]
        notebook.cells.append(cell)
    notebook.cells += [nbformat.v4.new_code_cell(source) for source in body]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    return nbformat.writes(notebook).encode()


@pytest.fixture
def config(demo_config_data: dict[str, Any]) -> AssayConfig:
    """The shipped config with a ``jobs`` section: two runs at once, webhooks to loopback."""
    data = {**demo_config_data, "jobs": {"webhook_hosts": ["127.0.0.1", "localhost"],
                                         "max_concurrent_runs": 2, "tick_seconds": 0.2}}
    return AssayConfig.model_validate(data)


@pytest.fixture
def store(db_engine: Engine) -> JobStore:
    return JobStore(db_engine)


@pytest.fixture
def objects(tmp_path: Path) -> LocalObjects:
    return LocalObjects(tmp_path / "objects")


def publisher(objects: LocalObjects) -> Callable[[Run, RunResult], dict[str, str]]:
    """The upload hook: each output file to ``runs/<id>/<file name>``."""

    def publish(run: Run, result: RunResult) -> dict[str, str]:
        keys = {}
        for name, path in result.outputs.items():
            key = f"runs/{run.id}/{Path(path).name}"
            objects.put(key, Path(path))
            keys[name] = key
        return keys

    return publish


@pytest.fixture
def make_notebook() -> Callable[..., bytes]:
    """``make_notebook("n = 1", "print(n)")``: parameters cell source (None: no such
    cell), then body cells."""
    return _make_notebook


@pytest.fixture
def submit_job(store: JobStore, config: AssayConfig, objects: LocalObjects
               ) -> Callable[..., tuple[Job, Run | None]]:
    """``submit_job(notebook_bytes, owner="alice", now=None, **spec_fields)``; the spec
    defaults to a job "nightly" on profile cpu-small."""

    def submit(notebook: bytes, owner: str = "alice", now: datetime | None = None,
               **fields: Any) -> tuple[Job, Run | None]:
        spec = JobSpec.parse({"name": "nightly", "notebook_path": "work/nightly.ipynb",
                              "profile": "cpu-small", **fields})
        return store.submit(owner, spec, notebook, objects.put, config=config,
                            groups=config.groups_of(owner), now=now)

    return submit


@pytest.fixture
def secret_key() -> bytes:
    from cryptography.fernet import Fernet

    return Fernet.generate_key()


@pytest.fixture
def make_scheduler(db_engine: Engine, config: AssayConfig, objects: LocalObjects,
                   tmp_path: Path, secret_key: bytes) -> Iterator[Callable[..., Scheduler]]:
    """``make_scheduler(**overrides)``: a Scheduler with a real LocalExecutor (no HTML).
    Runs still going at the end are cancelled."""
    made: list[Scheduler] = []

    def make(engine: Engine | None = None, **kwargs: Any) -> Scheduler:
        engine = engine or db_engine
        options: dict[str, Any] = {
            "config": lambda: config, "fetch": objects.get, "publish": publisher(objects),
            "workdir_root": tmp_path / "runs", "secrets": SecretStore(engine, secret_key),
            "start_grace_s": 30.0}
        options.update(kwargs)
        executor = options.pop("executor", None) or LocalExecutor(html=False,
                                                                   kill_grace_s=1.0)
        scheduler = Scheduler(engine, executor, **options)
        made.append(scheduler)
        return scheduler

    yield make
    for scheduler in made[:1]:
        for run in scheduler.store.runs_with_status(RunStatus.RUNNING):
            try:
                scheduler.cancel(run.id)
            except Exception:  # already ended
                pass
    for scheduler in made:
        if scheduler.notifier is not None:
            scheduler.notifier.close()


def _run_until(scheduler: Scheduler, done: Callable[[], bool], timeout: float = 60.0,
               now: Callable[[], datetime] | None = None, pause: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the scheduler")
        scheduler.tick(now() if now else None)
        time.sleep(pause)


@pytest.fixture
def run_until() -> Callable[..., None]:
    """``run_until(scheduler, done, timeout=60, now=None)``: tick (real time unless
    ``now()``) until ``done()``; fail after ``timeout`` seconds."""
    return _run_until


class Hooks:
    """A real webhook receiver on 127.0.0.1: ``url``, ``bodies`` received."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length", 0))
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.bodies) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return list(self.bodies)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hooks() -> Iterator[Hooks]:
    receiver = Hooks()
    yield receiver
    receiver.close()


@pytest.fixture
def notifier(config: AssayConfig) -> Iterator[Notifier]:
    sender = Notifier(lambda: config.jobs.webhook_hosts)
    yield sender
    sender.close()


# A scheduler service in its own process: ``serve()`` on a fast clock (one real second
# is ``speed`` simulated seconds from ``t0`` at ``epoch``), or ``ticks`` ticks ``step``
# simulated seconds apart; with ``go``, it waits for that file before the first tick.
WORKER = r"""
import json, signal, sys, threading, time
from datetime import datetime, timedelta
from pathlib import Path
from assay.config import AssayConfig
from assay.db import make_engine
from assay.jobs.executors.local import LocalExecutor
from assay.jobs.scheduler import Scheduler
from assay.objects import LocalObjects

args = json.loads(sys.argv[1])
config = AssayConfig.model_validate(args["config"])
objects = LocalObjects(Path(args["objects"]))
t0 = datetime.fromisoformat(args["t0"])

def publish(run, result):
    keys = {}
    for name, path in result.outputs.items():
        objects.put(f"runs/{run.id}/{Path(path).name}", Path(path))
        keys[name] = f"runs/{run.id}/{Path(path).name}"
    return keys

def clock():
    return t0 + timedelta(seconds=(time.time() - args["epoch"]) * args["speed"])

scheduler = Scheduler(make_engine(args["url"]), LocalExecutor(html=False),
                      config=lambda: config, fetch=objects.get, publish=publish,
                      workdir_root=Path(args["runs"]), clock=clock,
                      start_grace_s=args["start_grace_s"])
Path(args["ready"]).touch()
while args.get("go") and not Path(args["go"]).exists():
    time.sleep(0.005)
if args["mode"] == "serve":
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    scheduler.serve(stop)
else:
    for i in range(args["ticks"]):
        scheduler.tick(t0 + timedelta(seconds=i * args["step"]))
"""


@pytest.fixture
def scheduler_process(db_url: str, config: AssayConfig, tmp_path: Path
                      ) -> Iterator[Callable[..., subprocess.Popen]]:
    """``scheduler_process(name, **options)``: a scheduler service in a new process on
    ``db_url``, with ``make_scheduler``'s object and run folders. Options: ``mode``
    (``serve`` or ``ticks``), ``epoch``/``speed`` of the simulated clock that starts at
    ``t0`` (default 2025-03-03 12:00 UTC, 60 simulated seconds a second), ``ticks`` and
    ``step`` for ``ticks`` mode, ``go`` (a file to wait for). Killed at the end."""
    started: list[subprocess.Popen] = []

    def start(name: str, **options: Any) -> subprocess.Popen:
        args = {"url": db_url, "config": config.model_dump(mode="json"),
                "objects": str(tmp_path / "objects"), "runs": str(tmp_path / "runs"),
                "t0": "2025-03-03T12:00:00+00:00", "epoch": time.time(), "speed": 60.0,
                "start_grace_s": 3600.0, "mode": "serve",
                "ready": str(tmp_path / f"{name}.ready"), **options}
        with open(tmp_path / f"{name}.log", "wb") as log:
            process = subprocess.Popen([sys.executable, "-c", WORKER, json.dumps(args)],
                                       stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(10)
