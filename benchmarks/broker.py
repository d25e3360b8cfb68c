"""The data broker through a real hub: decision + audit latency, and read throughput.

One Assay hub (the demo config plus two bench datasets) runs on loopback with the broker
as its managed service; ``broker-throughput`` adds a moto S3 server for the S3 dataset.
The bench spawns a server for ``bob`` and uses that server's own session credential
(``ASSAY_SESSION_TOKEN``), the credential a kernel uses. Every figure is set against a
baseline measured in the same run:

``broker-latency``  100 concurrent clients reading 1 byte through the broker vs the same
    pattern against a trivial tornado handler in its own process; plus ``decide()`` +
    ``AuditLog.append()`` timed in-process on a copy of the broker's SQLite database, the
    figure compared with the targets (p50 <= 2 ms, p99 <= 20 ms).
``broker-throughput``  a 256 MiB file (``--quick``: 64 MiB) streamed through the broker
    vs read directly (from disk; with boto3 from moto), and through signed URLs.
    Targets: >= 0.8x streamed, >= 0.95x signed.

Both also record CPU seconds per process (``/proc``), which depend far less than wall
time on what else runs on the machine.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "support"))

import httpx  # noqa: E402
import yaml  # noqa: E402

from assay.broker.audit import AuditLog  # noqa: E402
from assay.broker.policy import Identity, decide  # noqa: E402
from assay.broker.storage.base import CHUNK_SIZE  # noqa: E402
from assay.config import parse  # noqa: E402
from assay.db.engine import make_engine  # noqa: E402
from hubprocess import HubProcess, free_port  # noqa: E402
from motoserver import moto_server  # noqa: E402
from serverenv import server_env  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
USER = "bob"  # group analytics: clearance internal
LOCAL, S3 = "bench-local", "bench-s3"
BUCKET, PREFIX = "bench-bucket", "data"
BIG, TINY = "big.bin", "tiny.bin"
BIG_SIZE = 256 * 1024 * 1024
QUICK_SIZE = 64 * 1024 * 1024  # --quick: a smoke run
GIB = 1024 ** 3
MB = 1e6
AWS_ENV = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
           "AWS_EC2_METADATA_DISABLED": "true", "AWS_DEFAULT_REGION": "us-east-1"}
TICK = os.sysconf("SC_CLK_TCK")

# The baseline server: tornado, no identity, no decision, no audit, no access log.
BASELINE_SERVER = r"""
import os
import sys
from tornado import ioloop, web

CHUNK = int(sys.argv[2])
BLOCK = os.urandom(CHUNK)


class One(web.RequestHandler):
    def get(self):
        self.set_header("Content-Type", "application/octet-stream")
        self.finish(b"x")


class Bytes(web.RequestHandler):
    async def get(self, size):
        left = int(size)
        self.set_header("Content-Type", "application/octet-stream")
        self.set_header("Content-Length", str(left))
        while left > 0:
            chunk = BLOCK[:min(CHUNK, left)]
            self.write(chunk)
            await self.flush()
            left -= len(chunk)
        self.finish()


web.Application([(r"/one", One), (r"/bytes/(\d+)", Bytes)]).listen(
    int(sys.argv[1]), address="127.0.0.1")
print("ready", flush=True)
ioloop.IOLoop.current().start()
"""


# -- CPU accounting --------------------------------------------------------------------


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def machine_busy() -> float:
    """CPU seconds the whole machine has spent busy (everyone's work, not only ours)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / TICK


def find_pid(marker: bytes, port: int) -> int:
    """The process whose command line has ``marker`` and whose command line or
    environment names ``port`` (the broker learns its port from the environment)."""
    for folder in Path("/proc").iterdir():
        if not folder.name.isdigit():
            continue
        try:
            if marker not in (folder / "cmdline").read_bytes():
                continue
            named = (folder / "cmdline").read_bytes() + (folder / "environ").read_bytes()
        except OSError:
            continue
        if re.search(rb"[:\x00]%d(?!\d)" % port, named):
            return int(folder.name)
    raise LookupError(f"no process {marker!r} on port {port}")


@dataclass
class Meter:
    """CPU seconds of named processes (``self`` = this bench process) and of the machine."""

    pids: dict[str, int]
    spent: dict[str, list[float]] = field(default_factory=dict)

    def snapshot(self) -> dict[str, float]:
        times = os.times()
        snap = {name: proc_cpu(pid) for name, pid in self.pids.items()}
        return {**snap, "client": times.user + times.system, "machine": machine_busy()}

    @contextmanager
    def measure(self, key: str) -> Iterator[None]:
        before = self.snapshot()
        yield
        after = self.snapshot()
        for name, value in after.items():
            self.spent.setdefault(f"{key}/{name}", []).append(value - before[name])


# -- set-up ----------------------------------------------------------------------------


def bench_config(moto_url: str | None) -> str:
    """The demo config with the bench datasets (internal: bob may read them)."""
    config = yaml.safe_load((ROOT / "hub_config" / "assay.yaml").read_text())
    data = config["data"]
    data["datasets"].append({
        "name": LOCAL, "description": "Benchmark files (random bytes).",
        "classification": "internal", "location": LOCAL, "owners": ["admin"],
        "approver": "any Assay admin (admin)"})
    if moto_url:
        data["datasets"].append({
            "name": S3, "description": "Benchmark files in S3 (moto).",
            "classification": "internal", "location": f"s3://{BUCKET}/{PREFIX}",
            "owners": ["admin"], "approver": "any Assay admin (admin)"})
        data["s3"] = {"endpoint_url": moto_url, "region": "us-east-1"}
    return yaml.safe_dump(config, sort_keys=False)


def write_random(path: Path, size: int) -> None:
    """``size`` random bytes, written once per run (8 MiB at a time)."""
    with path.open("wb") as out:
        left = size
        while left > 0:
            block = os.urandom(min(8 << 20, left))
            out.write(block)
            left -= len(block)


def s3_client(endpoint: str) -> Any:
    """boto3 against moto, configured like the broker's client (path style, SigV4)."""
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "s3", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id=AWS_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"],
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))


@contextmanager
def baseline_server() -> Iterator[tuple[str, int]]:
    """The trivial tornado server in its own process, as the broker is: (URL, pid)."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", BASELINE_SERVER, str(port), str(CHUNK_SIZE)],
                            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    try:
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError("baseline server did not start")
        yield f"http://127.0.0.1:{port}/", proc.pid
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()


@dataclass
class Bench:
    """A running hub with the bench datasets, and what a client needs to use it."""

    hub: HubProcess
    work: Path
    token: str  # bob's session credential
    whoami: dict
    baseline: str
    meter: Meter
    s3: Any = None  # boto3 client of the moto server, or None

    @property
    def api(self) -> str:
        return self.hub.broker_url + "api/v1/"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    @property
    def database(self) -> Path:
        return self.work / "var" / "assay.sqlite"

    @property
    def big_file(self) -> Path:
        return self.work / "var" / "data" / LOCAL / BIG


@contextmanager
def running(*, big: int, s3: bool) -> Iterator[Bench]:
    """Hub + broker (+ moto) in a temporary folder; everything stopped and removed after."""
    started = time.perf_counter()
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="assay-bench-")))
        folder = work / "var" / "data" / LOCAL
        folder.mkdir(parents=True)
        (folder / TINY).write_bytes(os.urandom(1024))
        if big:
            write_random(folder / BIG, big)
        client = moto_url = None
        pids: dict[str, int] = {}
        if s3:
            moto_url = stack.enter_context(moto_server(work / "moto.log"))
            pids["moto"] = find_pid(b"moto_server", int(moto_url.rsplit(":", 1)[1]))
            client = s3_client(moto_url)
            client.create_bucket(Bucket=BUCKET)
            with (folder / BIG).open("rb") as body:
                client.put_object(Bucket=BUCKET, Key=f"{PREFIX}/{BIG}", Body=body)
        hub = HubProcess(work, bench_config(moto_url), base_url="/", env=AWS_ENV)
        stack.callback(hub.stop)
        hub.start()
        hub.spawn(USER, "cpu-small")
        token = server_env(USER, hub.hub_port)["ASSAY_SESSION_TOKEN"]
        pids["broker"] = find_pid(b"assay.broker", hub.broker_port)
        baseline, pids["baseline"] = stack.enter_context(baseline_server())
        whoami = httpx.get(hub.broker_url + "api/v1/whoami", trust_env=False, timeout=30,
                           headers={"Authorization": f"token {token}"}).json()
        print(f"  (set-up {time.perf_counter() - started:.1f}s; load average "
              f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} cores)", flush=True)
        try:
            yield Bench(hub, work, token, whoami, baseline, Meter(pids), client)
        finally:
            stopping = time.perf_counter()
            hub.stop_server(USER)
            hub.stop()
            print(f"  (tear-down {time.perf_counter() - stopping:.1f}s)", flush=True)


def pct(samples: list[float], q: float) -> float:
    """The q-quantile (0..1) of ``samples``, nearest rank."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def save(name: str, result: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2))


# -- broker-latency --------------------------------------------------------------------


async def hammer(url: str, headers: dict[str, str], total: int, clients: int, warmup: int,
                 check: Callable[[httpx.Response], bool], meter: Meter | None = None,
                 key: str = "") -> tuple[list[float], float]:
    """``clients`` concurrent clients (one ``httpx.AsyncClient`` and one connection each)
    issuing requests until ``total`` are done; per-request latencies (after ``warmup``
    unmeasured ones on the same connections) and the wall time.

    One AsyncClient with a 100-connection pool collapses here (~115 req/s against the
    trivial server, p50 0.5 s: the pool, not the server), hence one client per connection.
    """
    pool = [httpx.AsyncClient(limits=httpx.Limits(max_connections=1), timeout=120,
                              trust_env=False, headers=headers) for _ in range(clients)]
    try:
        async def run(count: int) -> tuple[list[float], float]:
            left = count
            samples: list[float] = []

            async def one_client(client: httpx.AsyncClient) -> None:
                nonlocal left
                while left > 0:
                    left -= 1
                    started = time.perf_counter()
                    r = await client.get(url)
                    samples.append(time.perf_counter() - started)
                    if not check(r):
                        raise RuntimeError(f"{url}: {r.status_code} {r.text[:300]}")

            began = time.perf_counter()
            await asyncio.gather(*(one_client(client) for client in pool))
            return samples, time.perf_counter() - began

        await run(warmup)
        if meter is None:
            return await run(total)
        with meter.measure(key):
            return await run(total)
    finally:
        for client in pool:
            await client.aclose()


def summary(samples: list[float], wall: float) -> dict[str, float]:
    return {"n": len(samples), "p50_ms": ms(pct(samples, 0.50)),
            "p99_ms": ms(pct(samples, 0.99)), "mean_ms": ms(statistics.fmean(samples)),
            "max_ms": ms(max(samples)), "requests_per_s": round(len(samples) / wall, 1)}


def in_process(bench: Bench, calls: int, warmup: int = 200) -> dict:
    """``decide()`` + ``AuditLog.append()`` as the broker calls them, on a copy of its DB."""
    copy = bench.work / "audit-copy.sqlite"
    src, dst = sqlite3.connect(bench.database), sqlite3.connect(copy)
    with dst:
        src.backup(dst)
    src.close()
    dst.close()
    before = _count(copy)
    config = parse(bench.hub.config_path.read_text())
    dataset = config.data.dataset(LOCAL)
    me = bench.whoami
    who = Identity(user=me["user"], groups=frozenset(me["groups"]), zone=me["zone"],
                   admin=me["admin"], server=me["server"], profile=me["profile"],
                   purpose=me["purpose"], session_id="0" * 32)
    engine = make_engine(f"sqlite:///{copy}")
    audit = AuditLog(engine)
    both, decisions, appends = [], [], []
    try:
        for i in range(warmup + calls):
            t0 = time.perf_counter()
            decision = decide(who, dataset, config.data, config.profiles)
            t1 = time.perf_counter()
            audit.append(user=who.user, server=who.server or "", profile=who.profile or "",
                         zone=who.zone or "", purpose=who.purpose or "",
                         session_id=who.session_id or "", kernel_id="", dataset=dataset.name,
                         path=TINY, action="read", bytes=1,
                         decision="allow" if decision.allowed else "deny",
                         reason=decision.reason)
            t2 = time.perf_counter()
            if not decision.allowed:
                raise RuntimeError(f"bench identity denied: {decision.message}")
            if i >= warmup:  # connection pool, statement cache
                both.append(t2 - t0)
                decisions.append(t1 - t0)
                appends.append(t2 - t1)
        verified = audit.verify().ok
    finally:
        engine.dispose()
    return {"calls": calls, "records_before": before,
            "p50_ms": ms(pct(both, 0.50)), "p99_ms": ms(pct(both, 0.99)),
            "max_ms": ms(max(both)), "decide_p50_ms": ms(pct(decisions, 0.50)),
            "decide_p99_ms": ms(pct(decisions, 0.99)),
            "append_p50_ms": ms(pct(appends, 0.50)), "append_p99_ms": ms(pct(appends, 0.99)),
            "chain_verified": verified}


def _count(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT count(*) FROM assay_audit").fetchone()[0]


def latency(quick: bool = False, clients: int = 100) -> dict:
    total = 500 if quick else 5000
    rounds = 2  # each pattern total / rounds requests per round, the order rotating
    print(f"broker-latency: {clients} clients, {total} requests per pattern"
          f"{' (quick)' if quick else ''}", flush=True)
    with running(big=0, s3=False) as bench:
        read_path = f"datasets/{LOCAL}/files/{TINY}"
        show_path = f"datasets/{LOCAL}"
        patterns = {  # name: (url, headers, response check, server process)
            "baseline": (bench.baseline + "one", {"Range": "bytes=0-0"},
                         lambda r: r.status_code == 200 and r.content == b"x", "baseline"),
            "broker_read": (bench.api + read_path, {**bench.headers, "Range": "bytes=0-0"},
                            lambda r: r.status_code == 206 and len(r.content) == 1, "broker"),
            "broker_show": (bench.api + show_path, bench.headers,
                            lambda r: r.status_code == 200 and b'"can_read": true' in r.content,
                            "broker"),
        }
        samples: dict[str, list[float]] = {name: [] for name in patterns}
        walls = dict.fromkeys(patterns, 0.0)
        names = list(patterns)
        for i in range(rounds):
            for name in names[i % len(names):] + names[:i % len(names)]:
                url, headers, check, _ = patterns[name]
                got, wall = asyncio.run(hammer(url, headers, total // rounds, clients,
                                               clients * 2, check, bench.meter, name))
                samples[name] += got
                walls[name] += wall
        direct = in_process(bench, 500 if quick else 5000)
    spent = bench.meter.spent
    result: dict[str, Any] = {
        "benchmark": "broker-latency: decision + audit at 100 concurrent clients",
        "load_average_after": os.getloadavg(),
        "clients": clients, "requests_per_pattern": total, "quick": quick,
        "credential": "session credential of bob's running server (ASSAY_SESSION_TOKEN)",
        "patterns": {"baseline": "GET /one on a trivial tornado handler (1 byte)",
                     "broker_read": f"GET {read_path}, Range: bytes=0-0 (206, 1 byte)",
                     "broker_show": f"GET {show_path} (JSON, audited as 'show')"},
        "target_ms": {"p50": 2, "p99": 20},
    }
    for name, (_, _, _, server) in patterns.items():
        n = len(samples[name])
        result[name] = {
            **summary(samples[name], walls[name]),
            "server_cpu_ms_per_request": round(sum(spent[f"{name}/{server}"]) / n * 1000, 3),
            "client_cpu_ms_per_request": round(sum(spent[f"{name}/client"]) / n * 1000, 3),
            "machine_busy_cores": round(sum(spent[f"{name}/machine"]) / walls[name], 2)}
        if name != "baseline":
            result[name]["minus_baseline"] = {
                key: round(result[name][key] - result["baseline"][key], 3)
                for key in ("p50_ms", "p99_ms", "server_cpu_ms_per_request")}
    result["decide_plus_append_in_process"] = direct
    result["target_met"] = direct["p50_ms"] <= 2 and direct["p99_ms"] <= 20
    result["samples_ms"] = {k: [ms(s) for s in v] for k, v in samples.items()}
    save("broker-latency", result)
    for name in patterns:
        r = result[name]
        print(f"  {name}: p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, "
              f"{r['requests_per_s']:.0f} req/s, server CPU "
              f"{r['server_cpu_ms_per_request']:.3f} ms/request"
              + ("" if name == "baseline" else
                 f" (minus baseline: p50 {r['minus_baseline']['p50_ms']:+.2f} ms, p99 "
                 f"{r['minus_baseline']['p99_ms']:+.2f} ms, CPU "
                 f"{r['minus_baseline']['server_cpu_ms_per_request']:+.3f} ms)"))
    d = direct
    print(f"  decide()+append() in-process: p50 {d['p50_ms']:.3f} ms, p99 {d['p99_ms']:.3f} ms "
          f"(decide p50 {d['decide_p50_ms']:.4f} ms) -> target p50 <= 2 ms, p99 <= 20 ms "
          f"{'met' if result['target_met'] else 'MISSED'}", flush=True)
    return result


# -- broker-throughput -----------------------------------------------------------------


def http_get(client: httpx.Client, url: str, headers: dict[str, str] | None = None) -> int:
    """GET ``url`` streaming, discarding the bytes; how many arrived."""
    with client.stream("GET", url, headers=headers) as r:
        r.raise_for_status()
        return sum(len(chunk) for chunk in r.iter_raw())


def signed_url(client: httpx.Client, bench: Bench, dataset: str, took: list[float]) -> str:
    """POST signed-url (its round trip is part of the measured read, and noted apart)."""
    started = time.perf_counter()
    r = client.post(bench.api + f"datasets/{dataset}/files/{BIG}/signed-url",
                    headers=bench.headers)
    r.raise_for_status()
    took.append(time.perf_counter() - started)
    return r.json()["url"]


def read_file(path: Path) -> int:
    total = 0
    with path.open("rb", buffering=0) as f:
        while chunk := f.read(CHUNK_SIZE):
            total += len(chunk)
    return total


def read_s3(client: Any) -> int:
    body = client.get_object(Bucket=BUCKET, Key=f"{PREFIX}/{BIG}")["Body"]
    try:
        return sum(len(chunk) for chunk in body.iter_chunks(CHUNK_SIZE))
    finally:
        body.close()


def ways(bench: Bench, client: httpx.Client,
         posts: dict[str, list[float]], size: int) -> dict[str, Callable[[], int]]:
    """Every way of reading the big file; each returns the bytes it read."""
    api, s3 = bench.api, bench.s3

    def own_presigned() -> str:  # signed by the bench: no broker involved
        return s3.generate_presigned_url(
            "get_object", Params={"Bucket": BUCKET, "Key": f"{PREFIX}/{BIG}"}, ExpiresIn=30)

    return {
        "local_direct": lambda: read_file(bench.big_file),
        "local_streamed": lambda: http_get(client, api + f"datasets/{LOCAL}/files/{BIG}",
                                           bench.headers),
        "local_signed": lambda: http_get(client, signed_url(client, bench, LOCAL,
                                                            posts["local"])),
        "http_ceiling": lambda: http_get(client, bench.baseline + f"bytes/{size}"),
        "s3_direct": lambda: read_s3(s3),
        "s3_direct_httpx": lambda: http_get(client, own_presigned()),
        "s3_streamed": lambda: http_get(client, api + f"datasets/{S3}/files/{BIG}",
                                        bench.headers),
        "s3_signed": lambda: http_get(client, signed_url(client, bench, S3, posts["s3"])),
    }


RATIOS = {  # name: (way, against, target or None)
    "local_streamed_vs_direct": ("local_streamed", "local_direct", 0.8),
    "local_signed_vs_direct": ("local_signed", "local_direct", 0.95),
    "s3_streamed_vs_direct": ("s3_streamed", "s3_direct", 0.8),
    "s3_signed_vs_direct": ("s3_signed", "s3_direct", 0.95),
    "local_streamed_vs_http_ceiling": ("local_streamed", "http_ceiling", None),
    "local_signed_vs_http_ceiling": ("local_signed", "http_ceiling", None),
    "s3_signed_vs_direct_httpx": ("s3_signed", "s3_direct_httpx", None),
    "s3_direct_httpx_vs_direct": ("s3_direct_httpx", "s3_direct", None),
}


def throughput(quick: bool = False) -> dict:
    repeats, size = (2, QUICK_SIZE) if quick else (9, BIG_SIZE)
    print(f"broker-throughput: {size >> 20} MiB, {repeats} interleaved repeats"
          f"{' (quick)' if quick else ''}", flush=True)
    rates: dict[str, list[float]] = {}
    posts: dict[str, list[float]] = {"local": [], "s3": []}
    with running(big=size, s3=True) as bench, httpx.Client(trust_env=False,
                                                          timeout=120) as client:
        funcs = ways(bench, client, posts, size)
        for fn in funcs.values():  # warm-up: page cache, connections, moto's object
            fn()
        for took in posts.values():
            took.clear()
        order = list(funcs)
        for i in range(repeats):
            for name in order[i % len(order):] + order[:i % len(order)]:  # rotate the order
                with bench.meter.measure(name):
                    started = time.perf_counter()
                    got = funcs[name]()
                    elapsed = time.perf_counter() - started
                if got != size:
                    raise RuntimeError(f"{name}: read {got} bytes, expected {size}")
                rates.setdefault(name, []).append(size / elapsed / MB)
    median = {name: round(statistics.median(r), 1) for name, r in rates.items()}
    cpu = {  # median CPU seconds per GiB moved, per process
        name: {proc: round(statistics.median(bench.meter.spent[f"{name}/{proc}"])
                           * GIB / size, 3)
               for proc in ("client", "broker", "moto", "baseline")}
        for name in rates}
    for name in rates:  # the machine: cores busy on average, everyone's work included
        walls = [size / MB / r for r in rates[name]]
        cpu[name]["machine_busy_cores"] = round(
            sum(bench.meter.spent[f"{name}/machine"]) / sum(walls), 2)
    ratios = {key: round(median[a] / median[b], 3) for key, (a, b, _) in RATIOS.items()}
    targets = {key: t for key, (_, _, t) in RATIOS.items() if t is not None}
    result = {
        "benchmark": "broker-throughput: a big file through the broker vs direct",
        "load_average_after": os.getloadavg(),
        "bytes": size, "chunk_size": CHUNK_SIZE, "repeats": repeats, "quick": quick,
        "credential": "session credential of bob's running server (ASSAY_SESSION_TOKEN)",
        "median_mb_per_s": median, "ratios": ratios, "targets": targets,
        "target_met": {k: ratios[k] >= v for k, v in targets.items()},
        "cpu_s_per_gib": cpu,
        "signed_url_post_median_ms": {k: ms(statistics.median(v)) for k, v in posts.items()},
        "samples_mb_per_s": {k: [round(x, 1) for x in v] for k, v in rates.items()},
    }
    save("broker-throughput", result)
    print("  MB/s (median): " + ", ".join(f"{k} {v:.0f}" for k, v in median.items()))
    for key, (_, _, target) in RATIOS.items():
        verdict = "" if target is None else (
            f" (target >= {target}x: {'met' if ratios[key] >= target else 'MISSED'})")
        print(f"  {key}: {ratios[key]:.3f}x{verdict}")
    print("  POST signed-url (median): " + ", ".join(
        f"{k} {v:.1f} ms" for k, v in result["signed_url_post_median_ms"].items()))
    print("  CPU s/GiB (client/broker/moto): " + ", ".join(
        f"{k} {v['client']:.2f}/{v['broker']:.2f}/{v['moto']:.2f}" for k, v in cpu.items()),
        flush=True)
    return result
