"""``dask-ready``: ``assay.dask.cluster()`` until its workers are ready, vs a bare
``distributed.LocalCluster`` with the same workers.

Each sample is the time from the call to ``Client.wait_for_workers(n)`` returning (the
client's creation included), the cluster closed afterwards (not timed). The baseline is
what a user would write by hand for the same cluster: ``LocalCluster(n_workers,
threads_per_worker, memory_limit, processes=True)`` on loopback with a random dashboard
port. The Assay side is ``assay.dask.cluster()`` on the demo ``dask`` profile (2 CPUs, 8G,
2 workers): environment read, sizing checks, dashboard link through the proxy, idle
timeout, kernel id for the workers. One unmeasured warm-up each, then rounds alternating
which goes first. Measured in a child process started with ``python -c`` (so that worker
processes, started with ``spawn``, do not re-import every benchmark module) whose
environment is that of a server on the profile. Target: p50 <= 1.1x the baseline. Also
reported: the median of the per-round ratios (each round runs both back to back, so it
is less swayed by other load) and the time of Assay's own work per call.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .jobs import save, summary

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "hub_config" / "assay.yaml"
PROFILE = "dask"
ROUNDS, QUICK_ROUNDS = 20, 3
TARGET = 1.1


def profile_env(slug: str = PROFILE) -> dict[str, str]:
    """What the local spawner gives a server on ``slug`` (the parts ``assay.dask`` reads)."""
    from assay.config import parse
    from assay.config.schema import memory_bytes

    profile = parse(DEMO.read_text()).profile(slug)
    return {"ASSAY_PROFILE": slug, "ASSAY_MODE": "local", "ASSAY_ZONE": profile.zone,
            "ASSAY_DASK_WORKERS": str(profile.dask_workers), "ASSAY_GPUS": str(profile.gpus),
            "CPU_LIMIT": str(float(profile.cpu.limit)),
            "MEM_LIMIT": str(memory_bytes(profile.memory.limit)),
            "JUPYTERHUB_SERVICE_PREFIX": "/user/bench/"}


def _ready(cluster: Any, workers: int) -> None:
    from distributed import Client

    with Client(cluster) as client:
        client.wait_for_workers(workers)


def time_assay(workers: int) -> float:
    import assay.dask

    started = time.perf_counter()
    _ready(assay.dask.cluster(), workers)
    elapsed = time.perf_counter() - started
    assay.dask.close()
    return elapsed


def time_bare(workers: int) -> float:
    from distributed import LocalCluster

    from assay.dask.spec import DaskProfile, size

    sizing = size(DaskProfile.from_env())  # the same workers (not timed: the user knows them)
    started = time.perf_counter()
    cluster = LocalCluster(n_workers=sizing.n_workers,
                           threads_per_worker=sizing.threads_per_worker,
                           memory_limit=sizing.memory_limit, processes=True, host="127.0.0.1",
                           dashboard_address="127.0.0.1:0")
    _ready(cluster, workers)
    elapsed = time.perf_counter() - started
    cluster.close()
    return elapsed


def assay_work(calls: int = 1000) -> float:
    """Seconds per call of what ``cluster()`` adds before ``LocalCluster``: environment,
    sizing and bounds, arguments, dashboard link."""
    from assay.dask.cluster import _configure_dashboard
    from assay.dask.spec import DaskProfile, local_cluster_kwargs, size

    started = time.perf_counter()
    for _ in range(calls):
        profile = DaskProfile.from_env()
        local_cluster_kwargs(size(profile), None)
        _configure_dashboard(profile.mode, os.environ)
    return (time.perf_counter() - started) / calls


def measure(rounds: int) -> dict[str, list[float]]:
    """In the child process: warm-up, then ``rounds`` interleaved samples of each."""
    workers = int(os.environ["ASSAY_DASK_WORKERS"])
    ways = {"bare": time_bare, "assay": time_assay}
    for way in ways.values():
        way(workers)
    samples: dict[str, list[float]] = {name: [] for name in ways}
    for i in range(rounds):
        names = list(ways) if i % 2 == 0 else list(reversed(ways))
        for name in names:
            samples[name].append(ways[name](workers))
    samples["assay_work"] = [assay_work() for _ in range(5)]
    return samples


def ready(quick: bool = False, rounds: int | None = None) -> dict[str, Any]:
    rounds = rounds or (QUICK_ROUNDS if quick else ROUNDS)
    code = ("import json, benchmarks.dask as b; "
            f"print('SAMPLES', json.dumps(b.measure({rounds})))")
    child = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                           text=True, env={**os.environ, **profile_env()}, check=False)
    lines = [x for x in child.stdout.splitlines() if x.startswith("SAMPLES ")]
    if child.returncode != 0 or not lines:
        raise RuntimeError(f"dask-ready failed ({child.returncode}):\n{child.stderr[-4000:]}")
    samples = json.loads(lines[-1].removeprefix("SAMPLES "))
    work = statistics.median(samples.pop("assay_work"))
    base = statistics.median(samples["bare"])
    result: dict[str, Any] = {"benchmark": "dask-ready", "profile": PROFILE, "rounds": rounds,
                              "target": TARGET, "samples": samples,
                              "assay_work_per_call_s": work}
    for name, values in samples.items():
        result[name] = {**summary(values), "ratio": statistics.median(values) / base}
    pairs = [a / b for a, b in zip(samples["assay"], samples["bare"], strict=True)]
    result["paired_ratio_median"] = statistics.median(pairs)  # per round: robust to load swings
    save("dask-ready", result)
    print(f"dask-ready ({rounds} rounds): bare LocalCluster p50 {base:.3f}s, assay.dask.cluster()"
          f" p50 {result['assay']['median']:.3f}s ({result['assay']['ratio']:.3f}x; per-round "
          f"ratio p50 {result['paired_ratio_median']:.3f}x; target <= {TARGET}x); Assay's own "
          f"work {work * 1e6:.0f} µs per call")
    return result
