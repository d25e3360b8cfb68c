"""``assay.dask.cluster()`` for real: in a kernel of alice's server on the ``dask`` profile
of the demo hub, a LocalCluster sized by the profile computes, its workers read through the
broker as the notebook (allowed and denied), its dashboard answers through the server's
proxy, and nothing of it is left once the hub has stopped the server. Plus, in this
process, the idle timeout closing a cluster."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import psutil
import pytest

import assay.dask
from assay.config.schema import memory_bytes
from assay.errors import DaskLimitExceeded
from hubprocess import HubProcess
from labkernel import UserServer
from serverenv import server_env

GIB = 1024**3
START = """
import json, os
import assay.dask
from distributed import Client
cluster = assay.dask.cluster()
client = Client(cluster)
client.wait_for_workers(2)
workers = client.scheduler_info()["workers"].values()
print("RESULT", json.dumps({
    "workers": sorted([w["nthreads"], w["memory_limit"]] for w in workers),
    "sum": client.submit(sum, range(10)).result(),
    "link": cluster.dashboard_link, "scheduler": cluster.scheduler_address,
    "kernel_pid": os.getpid(), "worker_pids": sorted(client.run(os.getpid).values())}))
"""
READ_ON_WORKER = """
def read():
    import os, assay.data
    with assay.data.open("omics-expression-atlas", "README.txt") as f:
        f.read()
    return os.getpid(), len(assay.data.read_csv("reference-genes", "genes.csv"))
print("RESULT", json.dumps(client.submit(read, pure=False).result()))
"""
DENIED_ON_WORKER = """
from assay.data import DataAccessDenied
def trial():
    import assay.data
    return len(assay.data.read_csv("trial-042-adverse-events", "adverse_events.csv"))
try:
    client.submit(trial, pure=False).result()
except DataAccessDenied as denied:
    print("RESULT", json.dumps({"type": type(denied).__module__ + "." + type(denied).__name__,
                      "message": str(denied), "missing": denied.missing, "ask": denied.ask}))
"""


def output(server: UserServer, kernel: str, code: str) -> Any:
    """What ``code`` printed after ``RESULT`` (workers' log lines may come in between)."""
    printed = server.run(kernel, code, timeout=180)
    [result] = [line for line in printed.splitlines() if line.startswith("RESULT ")]
    return json.loads(result.removeprefix("RESULT "))


def audit(hub: HubProcess, **query: str) -> list[dict]:
    r = httpx.get(hub.broker_url + "api/v1/audit", params={**query, "limit": "1000"},
                  headers={"Authorization": f"token {hub.token}"}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["records"]


def alive(pid: int, started: float) -> bool:
    """The process ``pid`` that started at ``started`` still runs (not reused, not a zombie)."""
    try:
        process = psutil.Process(pid)
        return process.create_time() == started and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def accepts(address: str) -> bool:
    host, port = address.removeprefix("tcp://").rsplit(":", 1)
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex((host, int(port))) == 0


@pytest.fixture(scope="module")
def dask_kernel(demo_hub: HubProcess) -> Iterator[tuple[UserServer, str, dict[str, Any]]]:
    """alice's server on ``dask``, a kernel in it that started the cluster (as ``cluster``
    and ``client``), and what it printed."""
    if demo_hub.api("GET", "users/alice").json().get("servers"):
        demo_hub.stop_server("alice")
    demo_hub.spawn("alice", "dask")
    server = UserServer(demo_hub, "alice")
    try:
        kernel = server.start_kernel("dask-test.ipynb")
        yield server, kernel, output(server, kernel, START)
    finally:
        server.close()
        if demo_hub.api("GET", "users/alice").json().get("servers"):
            demo_hub.stop_server("alice")


def test_the_cluster_is_sized_by_the_profile_and_computes(dask_kernel) -> None:
    _, _, started = dask_kernel
    per_worker = int(memory_bytes("8G") * 0.75) // 2

    assert started["workers"] == [[1, per_worker], [1, per_worker]]  # 2 CPUs, 8G
    assert started["sum"] == 45
    assert started["scheduler"].startswith("tcp://127.0.0.1:")
    kernel = psutil.Process(started["kernel_pid"])
    for pid in started["worker_pids"]:  # children of the kernel, in its process group
        assert psutil.Process(pid).ppid() == kernel.pid
        assert os.getpgid(pid) == os.getpgid(kernel.pid)


def test_a_worker_reads_through_the_broker_as_the_notebooks_kernel(demo_hub, dask_kernel):
    server, kernel, started = dask_kernel

    pid, rows = output(server, kernel, READ_ON_WORKER)

    assert pid in started["worker_pids"] and rows == 500
    reads = [r for r in audit(demo_hub, user="alice", dataset="reference-genes",
                              decision="allow") if r["action"] == "read"]
    assert reads and reads[-1]["kernel_id"] == kernel  # the notebook's kernel, not a worker
    assert reads[-1]["profile"] == "dask" and reads[-1]["zone"] == "standard"
    # so the notebook is marked with what its workers read (taint-on-save asks this)
    token = server_env("alice", demo_hub.hub_port)["ASSAY_SESSION_TOKEN"]
    taint = httpx.get(demo_hub.broker_url + "api/v1/sessions/current/taint",
                      params={"kernel": kernel}, headers={"Authorization": f"token {token}"},
                      timeout=30).json()
    assert taint["classification"] == "internal"
    assert {"omics-expression-atlas", "reference-genes"} <= set(taint["datasets"])


def test_a_read_denied_on_a_worker_raises_data_access_denied_in_the_notebook(
    demo_hub, dask_kernel,
) -> None:
    server, kernel, _ = dask_kernel

    denied = output(server, kernel, DENIED_ON_WORKER)

    assert denied["type"] == "assay.kernels.broker.DataAccessDenied"
    assert "zone 'secure'" in " ".join(denied["missing"])
    assert denied["ask"] and "alice may not read 'trial-042-adverse-events'" in denied["message"]
    refused = [r for r in audit(demo_hub, user="alice", dataset="trial-042-adverse-events",
                                decision="deny") if r["action"] == "read"]
    assert refused and refused[-1]["kernel_id"] == kernel and refused[-1]["profile"] == "dask"


def test_the_dashboard_answers_through_the_servers_proxy(demo_hub, dask_kernel) -> None:
    server, _, started = dask_kernel
    link = started["link"]
    prefix = f"{demo_hub.base_url}user/alice/proxy/"
    assert link.startswith(prefix) and link.endswith("/status")
    url = f"http://127.0.0.1:{demo_hub.port}{link}"

    page = httpx.get(url, headers=server.headers, timeout=60)
    anonymous = httpx.get(url, timeout=60)

    assert page.status_code == 200, page.text[:500]
    assert "Dask" in page.text and "bokeh" in page.text.lower()
    assert anonymous.status_code in (302, 403)  # the user's server: login first


def test_nothing_of_the_cluster_is_left_after_the_hub_stops_the_server(
    demo_hub, dask_kernel,
) -> None:
    _, _, started = dask_kernel
    pids = [started["kernel_pid"], *started["worker_pids"]]
    created = {pid: psutil.Process(pid).create_time() for pid in pids}

    demo_hub.stop_server("alice")

    deadline = time.monotonic() + 60
    while any(alive(pid, created[pid]) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [pid for pid in pids if alive(pid, created[pid])] == []
    assert not accepts(started["scheduler"])


# -- idle timeout, in this process ---------------------------------------------------------


@pytest.fixture
def dask_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process looks like a kernel of a server on the demo ``dask`` profile."""
    for name, value in {"ASSAY_PROFILE": "dask", "ASSAY_MODE": "local", "ASSAY_ZONE": "standard",
                        "ASSAY_DASK_WORKERS": "2", "CPU_LIMIT": "2.0",
                        "MEM_LIMIT": str(8 * GIB)}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("JUPYTERHUB_SERVICE_PREFIX", raising=False)
    yield
    assay.dask.close()


def test_an_idle_cluster_closes_itself_and_its_workers(dask_env) -> None:
    from distributed import Client

    cluster = assay.dask.cluster(n_workers=1, idle_timeout=5)  # 5 s: a slow worker start fits
    with Client(cluster) as client:
        client.wait_for_workers(1)
        assert client.submit(sum, [1, 2]).result() == 3
        [pid] = client.run(os.getpid).values()
    created = psutil.Process(pid).create_time()
    assert cluster.scheduler.idle_timeout == 5

    deadline = time.monotonic() + 60
    while (assay.dask.current() is not None or alive(pid, created)) \
            and time.monotonic() < deadline:
        time.sleep(0.2)
    assert assay.dask.current() is None  # the scheduler closed itself
    assert not alive(pid, created)  # and its worker stopped

    again = assay.dask.cluster(n_workers=1)  # a closed cluster does not block a new one
    assert again is not cluster and assay.dask.current() is again


def test_one_cluster_per_kernel(dask_env) -> None:
    assay.dask.cluster(n_workers=1)
    with pytest.raises(DaskLimitExceeded, match="already runs a Dask cluster"):
        assay.dask.cluster(n_workers=1)


def test_a_killed_server_leaves_no_kernel_or_worker(demo_hub) -> None:
    """A server that is SIGKILLed (as the hub does to one that ignores SIGINT and SIGTERM)
    cannot shut its kernels down; they are in their own sessions, yet they exit with it
    (ipykernel watches its parent) and their Dask workers with them."""
    if demo_hub.api("GET", "users/alice").json().get("servers"):
        demo_hub.stop_server("alice")
    demo_hub.spawn("alice", "dask")
    server = UserServer(demo_hub, "alice")
    try:
        kernel = server.start_kernel("dask-killed.ipynb")
        started = output(server, kernel, START)
    finally:
        server.close()
    pids = [started["kernel_pid"], *started["worker_pids"]]
    created = {pid: psutil.Process(pid).create_time() for pid in pids}

    try:
        server_process = psutil.Process(started["kernel_pid"]).parent()
        assert "jupyterhub.singleuser" in " ".join(server_process.cmdline())
        server_process.kill()

        deadline = time.monotonic() + 60
        while any(alive(pid, created[pid]) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert [pid for pid in pids if alive(pid, created[pid])] == []
    finally:
        if demo_hub.api("GET", "users/alice").json().get("servers"):
            demo_hub.stop_server("alice")
