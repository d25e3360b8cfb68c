"""Papermill jobs: per-run overhead, schedule firing delay, scheduler tick cost.

``jobs-overhead``  the same small notebook (``x = 0`` tagged ``parameters``, two cells)
    run with ``-p x 1`` three ways, interleaved with the order rotating: the ``papermill``
    CLI (the baseline), ``LocalExecutor`` in this process (start → final poll), and
    through a real Assay hub as a user experiences it (``POST jobs`` on demand → ``GET
    runs/{id}`` says succeeded; with the default ``jobs.tick_seconds`` 1 and with 0.2).
    Target: <= 1.05x the CLI. (In ``benchmarks.jobs_overhead``.)
``jobs-firing``  the real ``Scheduler.serve()`` loop (``jobs.tick_seconds`` 1, a
    ``* * * * *`` job, ``LocalExecutor``) on a clock that runs at real speed but is
    moved before each sample so that the next minute boundary falls 0.1-1.1 s ahead;
    each sample is slot → ``started_at`` and slot → ``executor.start`` returned. Baseline:
    a bare loop checking ``now >= slot`` every second in the same run. Target: <= 1 s.
``jobs-tick``  ``tick()`` with 1,000 scheduled jobs and nothing due (SQLite; PostgreSQL
    when Debian's binaries are there) vs a bare ``SELECT`` of the same rows; also the
    scheduler without its next-slot cache (as it was before), for comparison.
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "support"))

import nbformat  # noqa: E402
import yaml  # noqa: E402
from sqlalchemy import Engine, select  # noqa: E402

from assay.config import AssayConfig  # noqa: E402
from assay.db import make_engine, upgrade  # noqa: E402
from assay.db.models import JobDefinition  # noqa: E402
from assay.jobs.executors.base import RunResult, RunSpec  # noqa: E402
from assay.jobs.executors.local import LocalExecutor  # noqa: E402
from assay.jobs.model import FINAL, JobSpec, Run  # noqa: E402
from assay.jobs.schedule import NextSlots  # noqa: E402
from assay.jobs.scheduler import Scheduler  # noqa: E402
from assay.jobs.store import JobStore  # noqa: E402
from assay.objects import LocalObjects  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
DEMO_YAML = ROOT / "hub_config" / "assay.yaml"
CRONS = ("*/5 * * * *", "0 * * * *", "30 6 * * 1-5", "0 0 1 * *", "15 2 * * 0")
ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo")


def notebook_bytes() -> bytes:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x = 0")
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, nbformat.v4.new_code_cell("y = x + 1"),
                nbformat.v4.new_code_cell("print('y =', y)")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    return nbformat.writes(nb).encode()


def bench_config(**jobs: Any) -> AssayConfig:
    data = yaml.safe_load(DEMO_YAML.read_text())
    data["jobs"] = {**data.get("jobs", {}), **jobs}
    return AssayConfig.model_validate(data)


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"median": statistics.median(ordered), "min": ordered[0], "max": ordered[-1],
            "p90": ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]}


def save(name: str, result: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2, default=str))


def publisher(objects: LocalObjects) -> Callable[[Run, RunResult], dict[str, str]]:
    def publish(run: Run, result: RunResult) -> dict[str, str]:
        keys = {}
        for name, path in result.outputs.items():
            keys[name] = f"runs/{run.id}/{Path(path).name}"
            objects.put(keys[name], Path(path))
        return keys
    return publish


# -- jobs-firing -------------------------------------------------------------------------


class MovableClock:
    """Real-speed time that can be moved forward: ``clock()`` → aware UTC datetime."""

    def __init__(self, start: datetime):
        self._lock = threading.Lock()
        self._base, self._real = start, time.monotonic()

    def __call__(self) -> datetime:
        with self._lock:
            return self._base + timedelta(seconds=time.monotonic() - self._real)

    def set(self, moment: datetime) -> None:
        with self._lock:
            self._base, self._real = moment, time.monotonic()


class TimedExecutor(LocalExecutor):
    """``LocalExecutor`` that notes (clock time, run id) when ``start`` returns."""

    def __init__(self, clock: MovableClock):
        super().__init__(html=False, kill_grace_s=1.0)
        self.clock = clock
        self.started: dict[str, datetime] = {}

    def start(self, spec: RunSpec) -> str:
        ref = super().start(spec)
        self.started[spec.run_id] = self.clock()
        return ref


def _poller(clock: MovableClock, due: list[datetime], seen: dict[datetime, datetime],
            stop: threading.Event, tick: float) -> None:
    """The baseline: check ``now >= slot`` every ``tick`` seconds."""
    while not stop.is_set():
        now = clock()
        for slot in list(due):
            if now >= slot and slot not in seen:
                seen[slot] = now
        stop.wait(tick)


def _wait(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.01)
    return value


def firing(quick: bool = False, samples: int | None = None) -> dict[str, Any]:
    count = samples or (5 if quick else 20)
    tick = 1.0
    config = bench_config(tick_seconds=tick, max_concurrent_runs=2)
    start = datetime(2026, 11, 22, 12, 0, 30, tzinfo=UTC)
    clock = MovableClock(start)
    out: dict[str, list[float]] = {"started_at": [], "executor_started": [], "poller": []}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        engine = make_engine(f"sqlite:///{folder / 'jobs.sqlite'}")
        upgrade(engine)
        objects = LocalObjects(folder / "objects")
        store = JobStore(engine)
        spec = JobSpec.parse({"name": "every-minute", "notebook_path": "bench.ipynb",
                              "profile": "cpu-small", "schedule": "* * * * *"})
        job, _ = store.submit("alice", spec, notebook_bytes(), objects.put, config=config,
                              groups=config.groups_of("alice"), now=clock())
        executor = TimedExecutor(clock)
        scheduler = Scheduler(engine, executor, config=lambda: config, fetch=objects.get,
                              publish=publisher(objects), workdir_root=folder / "runs",
                              clock=clock)
        stop = threading.Event()
        due: list[datetime] = []
        seen: dict[datetime, datetime] = {}
        threads = [threading.Thread(target=scheduler.serve, args=(stop,), daemon=True),
                   threading.Thread(target=_poller, args=(clock, due, seen, stop, tick),
                                    daemon=True)]
        for thread in threads:
            thread.start()
        slot = start.replace(second=0)
        try:
            for _ in range(count):
                slot += timedelta(minutes=1)
                clock.set(slot - timedelta(seconds=random.uniform(0.1, 1.1)))
                due.append(slot)
                run = _wait(lambda s=slot: next((r for r in store.runs(job.id, limit=5)
                                                 if r.slot == s and r.started_at), None),
                            30, f"run of slot {slot}")
                started = _wait(lambda r=run: executor.started.get(str(r.id)), 30, "start")
                out["started_at"].append((run.started_at - slot).total_seconds())
                out["executor_started"].append((started - slot).total_seconds())
                _wait(lambda r=run: store.run(r.id).status in FINAL, 60, "run end")
                out["poller"].append((_wait(lambda s=slot: seen.get(s), 5, "poller")
                                      - slot).total_seconds())
        finally:
            stop.set()
            for thread in threads:
                thread.join(30)
            engine.dispose()
    result: dict[str, Any] = {"benchmark": "jobs-firing", "tick_seconds": tick,
                              "samples": out}
    for name, values in out.items():
        result[name + "_s"] = summary(values)
    base = statistics.median(out["poller"])
    result["ratio_executor_vs_poller"] = statistics.median(out["executor_started"]) / base
    save("jobs-firing", result)
    print(f"jobs-firing ({count} slots, tick {tick:g}s): slot→started_at p50 "
          f"{result['started_at_s']['median']:.3f}s max {result['started_at_s']['max']:.3f}s; "
          f"slot→executor started p50 {result['executor_started_s']['median']:.3f}s max "
          f"{result['executor_started_s']['max']:.3f}s; bare poller p50 {base:.3f}s "
          f"({result['ratio_executor_vs_poller']:.2f}x)")
    return result


# -- jobs-tick ---------------------------------------------------------------------------


def databases() -> Iterator[tuple[str, str]]:
    """(backend, URL): a SQLite file, and a throwaway PostgreSQL if Debian's is there."""
    from postgres import PostgresCluster, missing_binaries

    with tempfile.TemporaryDirectory() as tmp:
        cluster = None if missing_binaries() else PostgresCluster()
        try:
            urls = [("sqlite", f"sqlite:///{Path(tmp) / 'tick.sqlite'}")]
            if cluster is not None:
                urls.append(("postgresql", cluster.start()))
            yield from urls
        finally:
            if cluster is not None:
                cluster.stop()


def fill(engine: Engine, config: AssayConfig, count: int, now: datetime) -> None:
    store, notebook = JobStore(engine), notebook_bytes()
    for i in range(count):
        spec = JobSpec.parse({"name": f"job-{i:04d}", "notebook_path": f"nb/{i}.ipynb",
                              "profile": "cpu-small", "schedule": CRONS[i % len(CRONS)],
                              "timezone": ZONES[i % len(ZONES)], "parameters": {"x": i}})
        store.submit(f"user{i % 10}", spec, notebook, lambda key, data: None, config=config,
                     groups=[], now=now)


def bare_select(engine: Engine) -> int:
    query = select(JobDefinition).where(JobDefinition.schedule.is_not(None),
                                        JobDefinition.paused.is_(False))
    with engine.connect() as conn:
        return len(conn.execute(query.order_by(JobDefinition.id)).all())


class NoNextSlotCache(Scheduler):
    """The scheduler as it was before its next-slot cache: ``due_slots`` (croniter)
    for every job at every pass. For comparison only."""

    def _claim_job(self, job: Any, now: datetime) -> list[int]:
        self._next_slots = NextSlots()
        return super()._claim_job(job, now)


def _timed(out: list[float], fn: Callable[..., Any], *args: Any) -> Any:
    started = time.perf_counter()
    value = fn(*args)
    out.append(time.perf_counter() - started)
    return value


def tick_cost(quick: bool = False, jobs: int = 1000) -> dict[str, Any]:
    repeats = 5 if quick else 30
    config = bench_config(max_concurrent_runs=2)
    created = datetime(2026, 11, 22, 12, 2, 10, tzinfo=UTC)  # no slot in (created, now]
    now = created + timedelta(seconds=20)
    result: dict[str, Any] = {"benchmark": "jobs-tick", "jobs": jobs, "repeats": repeats}
    for backend, url in databases():
        engine = make_engine(url)
        upgrade(engine)
        with tempfile.TemporaryDirectory() as tmp:
            fill(engine, config, jobs, created)
            options: dict[str, Any] = {
                "config": lambda: config, "fetch": lambda key: b"",
                "publish": lambda run, res: {}, "workdir_root": Path(tmp)}
            plain = NoNextSlotCache(engine, LocalExecutor(html=False), **options)
            cached = Scheduler(engine, LocalExecutor(html=False), **options)
            ticks: list[float] = []
            cached_ticks: list[float] = []
            selects: list[float] = []
            for _ in range(3):  # warm-up (and the cache's first fill)
                plain.tick(now)
                cached.tick(now)
                bare_select(engine)
            for _ in range(repeats):
                assert _timed(ticks, plain.tick, now) == ([], [], [])
                assert _timed(cached_ticks, cached.tick, now) == ([], [], [])
                assert _timed(selects, bare_select, engine) == jobs
        engine.dispose()
        base = statistics.median(selects)
        result[backend] = {
            "tick_s": summary(ticks), "cached_tick_s": summary(cached_ticks),
            "select_s": summary(selects), "ratio": statistics.median(ticks) / base,
            "cached_ratio": statistics.median(cached_ticks) / base,
            "samples": {"tick": ticks, "cached_tick": cached_ticks, "select": selects}}
        print(f"jobs-tick {backend} ({jobs} jobs, {repeats} ticks): uncached tick p50 "
              f"{statistics.median(ticks) * 1000:.1f} ms ({result[backend]['ratio']:.1f}x), "
              f"shipped (next-slot cache) {statistics.median(cached_ticks) * 1000:.1f} ms "
              f"({result[backend]['cached_ratio']:.1f}x), bare SELECT p50 "
              f"{base * 1000:.1f} ms")
    save("jobs-tick", result)
    return result
