"""Helpers for jobs tests through a real hub: a hub with a fast scheduler, notebooks,
the jobs REST API, waiting for runs, and finding the Assay service process."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import nbformat
import yaml

from assay.config import parse
from assay.demo_data import generate
from hubfixtures import DEMO_YAML
from hubprocess import HubProcess
from jobrun import new_notebook

FINAL = ("succeeded", "failed", "timed_out", "cancelled", "interrupted")


def jobs_config(**jobs: Any) -> str:
    """The demo config with a fast scheduler (and webhooks to loopback)."""
    data = yaml.safe_load(DEMO_YAML.read_text())
    data["jobs"] = {"webhook_hosts": ["127.0.0.1", "localhost"], "max_concurrent_runs": 2,
                    "tick_seconds": 0.5, **jobs}
    return yaml.safe_dump(data, sort_keys=False)


def start_hub(workdir: Path, **jobs: Any) -> HubProcess:
    text = jobs_config(**jobs)
    generate(parse(text), base=workdir)
    return HubProcess(workdir, text).start()


def notebook(parameters: str | None, *cells: str) -> dict[str, Any]:
    """An .ipynb as JSON: a cell tagged ``parameters`` (unless None), then ``cells``."""
    return json.loads(nbformat.writes(new_notebook(list(cells), parameters)))


def api(hub: HubProcess, token: str, method: str, path: str, **kw: Any) -> httpx.Response:
    """The Assay service's REST API (directly, as kernels reach it)."""
    return httpx.request(method, hub.broker_url + "api/v1/" + path, timeout=60,
                         headers={"Authorization": f"token {token}"}, **kw)


def submit(hub: HubProcess, token: str, name: str, nb: dict[str, Any],
           **fields: Any) -> httpx.Response:
    body = {"name": name, "notebook_path": f"work/{name}.ipynb", "profile": "cpu-small",
            "notebook": nb, **fields}
    return api(hub, token, "POST", "jobs", json=body)


def run_of(hub: HubProcess, token: str, run_id: int) -> dict[str, Any]:
    r = api(hub, token, "GET", f"runs/{run_id}")
    assert r.status_code == 200, r.text
    return r.json()


def wait_run(hub: HubProcess, token: str, run_id: int, statuses: tuple[str, ...] = FINAL,
             timeout: float = 120) -> dict[str, Any]:
    """The run once its status is one of ``statuses``."""
    deadline = time.monotonic() + timeout
    while True:
        run = run_of(hub, token, run_id)
        if run["status"] in statuses:
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"run {run_id} still {run['status']} after {timeout} s:\n"
                                 + hub.log()[-3000:])
        time.sleep(0.3)


def runs(hub: HubProcess, token: str, job_id: int) -> list[dict[str, Any]]:
    r = api(hub, token, "GET", f"jobs/{job_id}/runs?limit=200")
    assert r.status_code == 200, r.text
    return r.json()["runs"]


def wait_runs(hub: HubProcess, token: str, job_id: int, count: int,
              timeout: float = 120) -> list[dict[str, Any]]:
    """A job's runs once at least ``count`` have ended (newest first)."""
    deadline = time.monotonic() + timeout
    while True:
        found = runs(hub, token, job_id)
        if sum(r["status"] in FINAL for r in found) >= count:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id}: {[r['status'] for r in found]} after "
                                 f"{timeout} s")
        time.sleep(0.3)


def cancel_all(hub: HubProcess) -> None:
    """Stop every queued or running run (the hub's admin token sees every job)."""
    try:
        jobs = api(hub, hub.token, "GET", "jobs").json().get("jobs", [])
    except (httpx.HTTPError, ValueError):
        return
    for job in jobs:
        for run in runs(hub, hub.token, job["id"]):
            if run["status"] in ("queued", "running"):
                api(hub, hub.token, "POST", f"runs/{run['id']}/cancel")


def _environ(proc: Path) -> dict[bytes, bytes]:
    return dict(item.split(b"=", 1) for item in (proc / "environ").read_bytes().split(b"\0")
                if b"=" in item)


def service_pid(hub: HubProcess) -> int | None:
    """The ``python -m assay.broker`` process of this hub (matched by its port)."""
    for proc in Path("/proc").iterdir():
        try:
            if b"assay.broker" not in (proc / "cmdline").read_bytes():
                continue
            env = _environ(proc)
        except OSError:
            continue
        if env.get(b"JUPYTERHUB_SERVICE_URL", b"").endswith(f":{hub.broker_port}".encode()):
            return int(proc.name)
    return None


def runner_pids(workdir: Path) -> list[int]:
    """Runner processes (``python -m assay.jobs.runner``) working under ``workdir``."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmd = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if b"assay.jobs.runner" in cmd and str(workdir).encode() in cmd:
            found.append(int(proc.name))
    return found


def kill_runners(workdir: Path) -> None:
    """Test clean-up: no runner (nor its kernel, in its process group) outlives a test."""
    for pid in runner_pids(workdir):
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def stop_hub(hub: HubProcess) -> None:
    cancel_all(hub)
    hub.stop()
    kill_runners(hub.workdir)
