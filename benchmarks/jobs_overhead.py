"""``jobs-overhead``: one small notebook run by the papermill CLI, by ``LocalExecutor``
in-process, and through a real Assay hub as a user experiences it (see ``benchmarks.jobs``).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from assay.jobs.executors.base import RunSpec
from assay.jobs.executors.local import LocalExecutor
from assay.jobs.model import FINAL

from .jobs import DEMO_YAML, ROOT, notebook_bytes, save, summary

PAPERMILL = Path(sys.executable).parent / "papermill"


# -- jobs-overhead -----------------------------------------------------------------------


def time_papermill(folder: Path, notebook: Path, i: int) -> float:
    out = folder / f"papermill-{i}.ipynb"
    started = time.perf_counter()
    subprocess.run([str(PAPERMILL), str(notebook), str(out), "-p", "x", "1"], check=True,
                   capture_output=True, cwd=folder)
    return time.perf_counter() - started


def time_executor(folder: Path, notebook: Path, i: int) -> float:
    from jobrun import make_spec

    executor = LocalExecutor(html=False)
    spec: RunSpec = make_spec(folder, notebook, name=f"executor-{i}", parameters={"x": 1})
    started = time.perf_counter()
    ref = executor.start(spec)
    while (result := executor.poll(ref)) is None:
        time.sleep(0.02)
    elapsed = time.perf_counter() - started
    if result.status != "succeeded":
        raise RuntimeError(f"executor run failed: {result.error}")
    return elapsed


class HubRuns:
    """Submit on demand through a real hub's jobs API and wait for success; notes
    where the time went (``parts``: POST, queued, started → finished as the service
    records them)."""

    def __init__(self, folder: Path, notebook: dict[str, Any], tick: float | None = None):
        from hubprocess import HubProcess

        config = yaml.safe_load(DEMO_YAML.read_text())
        if tick is not None:
            config["jobs"] = {**config.get("jobs", {}), "tick_seconds": tick}
        self.hub = HubProcess(folder / f"hub-{tick}", yaml.safe_dump(config), base_url="/")
        self.notebook = notebook
        self.client: Any = None
        self.parts: dict[str, list[float]] = {"post": [], "queued": [], "service": []}

    def start(self) -> None:
        from assay.jobs.client import JobsClient

        self.hub.start()
        token = self.hub.user_token("alice")
        self.client = JobsClient.connect(self.hub.broker_url, token, {})

    def __call__(self, folder: Path, notebook: Path, i: int) -> float:
        body = {"name": f"overhead-{i}", "notebook_path": str(notebook),
                "notebook": self.notebook, "parameters": {"x": 1}, "profile": "cpu-small"}
        started = time.perf_counter()
        run = self.client.submit(body)["run"]
        posted = time.perf_counter() - started
        while (run := self.client.run(run["id"]))["status"] not in FINAL:
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        if run["status"] != "succeeded":
            raise RuntimeError(f"hub run failed: {run.get('error')}")
        moments = {k: datetime.fromisoformat(run[k])
                   for k in ("created_at", "started_at", "finished_at")}
        self.parts["post"].append(posted)
        self.parts["queued"].append((moments["started_at"] - moments["created_at"])
                                    .total_seconds())
        self.parts["service"].append(run["duration_s"])
        return elapsed

    def stop(self) -> None:
        if self.client is not None:
            self.client.close()
        self.hub.stop()


def overhead(quick: bool = False, rounds: int | None = None) -> dict[str, Any]:
    """papermill CLI vs LocalExecutor vs the hub (default tick 1 s, and tick 0.2 s)."""
    rounds = rounds or (2 if quick else 7)
    hub_api = (ROOT / "hub_config" / "broker" / "api_jobs.py").is_file()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        notebook = folder / "small.ipynb"
        notebook.write_bytes(notebook_bytes())
        ways: dict[str, Callable[[Path, Path, int], float]] = {
            "papermill": time_papermill, "executor": time_executor}
        hubs: dict[str, HubRuns] = {}
        if hub_api:
            content = json.loads(notebook.read_bytes())
            hubs = {"assay": HubRuns(folder, content),
                    "assay-tick-0.2": HubRuns(folder, content, tick=0.2)}
        ways.update(hubs)
        samples: dict[str, list[float]] = {name: [] for name in ways}
        try:
            for hub in hubs.values():
                hub.start()
            for way in ways.values():  # warm-up: page cache, kernelspecs, pools
                way(folder, notebook, 1000)
            for hub in hubs.values():
                hub.parts = {k: [] for k in hub.parts}
            for i in range(rounds):
                names = list(ways)
                shift = i % len(names)
                for name in names[shift:] + names[:shift]:
                    samples[name].append(ways[name](folder, notebook, i))
        finally:
            for hub in hubs.values():
                hub.stop()
    base = statistics.median(samples["papermill"])
    result: dict[str, Any] = {"benchmark": "jobs-overhead", "rounds": rounds,
                              "samples": samples}
    for name, values in samples.items():
        result[name] = {**summary(values), "ratio": statistics.median(values) / base}
    for name, hub in hubs.items():
        result[name]["parts_median_s"] = {k: statistics.median(v)
                                          for k, v in hub.parts.items()}
        result[name]["parts"] = hub.parts
    if not hubs:
        result["assay"] = "skipped: hub_config/broker/api_jobs.py is not there yet"
    save("jobs-overhead", result)
    parts = [f"{n} p50 {result[n]['median']:.3f}s ({result[n]['ratio']:.3f}x)"
             for n in samples]
    print(f"jobs-overhead ({rounds} rounds): " + ", ".join(parts))
    for name in hubs:
        print(f"  {name}: " + ", ".join(f"{k} p50 {v:.3f}s" for k, v in
                                       result[name]["parts_median_s"].items()))
    return result


