"""The GPU ledger through a real hub: 4 simulated GPUs, three users, exclusivity,
fail-fast refusals, release on stop, and a ledger that is right after a hub restart
(holdings of servers that stopped while the hub was down are released)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from assay.db import make_engine
from assay.gpu import GPULedger
from hubfixtures import demo_config, write_config
from hubprocess import HubProcess
from jobrun import wait_for
from serverenv import server_env

GPU_PROFILES = [
    {"slug": "gpu-2x", "display_name": "2 GPUs", "cpu": {"limit": 1},
     "memory": {"limit": "1G"}, "gpus": 2, "groups": ["gpu-users"]},
    {"slug": "gpu-1x", "display_name": "1 GPU", "cpu": {"limit": 1},
     "memory": {"limit": "1G"}, "gpus": 1, "groups": ["gpu-users"]},
    {"slug": "cpu-small", "display_name": "CPU", "cpu": {"limit": 1},
     "memory": {"limit": "1G"}, "default": True},
]


@pytest.fixture(scope="module")
def gpu_hub(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("gpu-hub")
    config = demo_config(groups={"gpu-users": ["alice", "bob", "carol"]}, profiles=GPU_PROFILES,
                         data={})
    write_config(workdir / "assay.yaml", config)
    # cleanup_servers=False: servers outlive a hub restart, as in production
    hub = HubProcess(workdir, extra_args=["--JupyterHub.cleanup_servers=False"])
    hub.start()
    yield hub
    for user in ("alice", "bob", "carol"):
        if hub.api("GET", f"users/{user}").json().get("servers"):
            hub.stop_server(user)
    hub.stop()


def gpus_of(hub: HubProcess, user: str) -> set[str]:
    return set(filter(None, server_env(user, hub.hub_port)["CUDA_VISIBLE_DEVICES"].split(",")))


def test_exclusive_gpus_fail_fast_release_and_restart(gpu_hub):
    hub = gpu_hub
    hub.spawn("alice", "gpu-2x")
    hub.spawn("bob", "gpu-2x")
    alice, bob = gpus_of(hub, "alice"), gpus_of(hub, "bob")
    assert len(alice) == 2 and len(bob) == 2 and not alice & bob

    # carol asks for one more: refused at once, with the free count; no holders for her
    carol_token = hub.user_token("carol")
    started = time.monotonic()
    r = hub.request_spawn("carol", "gpu-1x", token=carol_token)
    elapsed = time.monotonic() - started
    assert r.status_code == 409
    assert "needs 1 GPU(s) but only 0 of 4 are free" in r.json()["message"]
    assert "alice" not in r.json()["message"]
    assert elapsed < 1.0, f"refusal took {elapsed:.2f}s"
    assert not hub.api("GET", "users/carol").json()["servers"]

    # an admin asking on carol's behalf also sees who holds the GPUs
    r = hub.request_spawn("carol", "gpu-1x")
    assert r.status_code == 409
    assert "Held by:" in r.json()["message"] and "alice:" in r.json()["message"]

    # alice stops: her GPUs return to the pool and carol gets one of them
    hub.stop_server("alice")
    hub.spawn("carol", "gpu-1x")
    carol = gpus_of(hub, "carol")
    assert len(carol) == 1 and carol <= alice

    # restart the hub (servers keep running): the ledger is rebuilt from their state
    hub.stop()
    hub.start()
    r = hub.request_spawn("alice", "gpu-2x")
    assert r.status_code == 409
    assert "only 1 of 4 are free" in r.json()["message"]
    hub.spawn("alice", "gpu-1x")
    assert not gpus_of(hub, "alice") & (bob | carol)


# -- servers that stopped while the hub was down ------------------------------------------


@pytest.fixture
def restartable_hub(tmp_path):
    config = demo_config(groups={"gpu-users": ["alice", "bob", "carol"]}, profiles=GPU_PROFILES,
                         data={})
    write_config(tmp_path / "assay.yaml", config)
    hub = HubProcess(tmp_path, extra_args=["--JupyterHub.cleanup_servers=False"])
    hub.start()
    yield hub
    if hub.proc.poll() is not None:  # the test failed while the hub was down
        hub.start()
    for user in ("alice", "bob"):
        if hub.api("GET", f"users/{user}").json().get("servers"):
            hub.stop_server(user)
    hub.stop()


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


def test_hub_start_releases_gpus_of_servers_that_no_longer_run(restartable_hub):
    hub = restartable_hub
    ledger = GPULedger(make_engine(f"sqlite:///{hub.workdir / 'var' / 'assay.sqlite'}"),
                       ["sim-0", "sim-1", "sim-2", "sim-3"])
    hub.spawn("alice", "gpu-2x")
    state = hub.api("GET", "users/alice").json()["servers"][""]["state"]
    assert ledger.holdings() == {"alice": state["gpus"]}

    hub.stop()  # the servers keep running (cleanup_servers=False) ...
    os.kill(state["pid"], signal.SIGKILL)  # ... but alice's dies while the hub is down
    wait_for(lambda: _gone(state["pid"]), what="alice's server to die")
    ledger.allocate("carol", 1)  # and a holding no server of the hub explains
    assert set(ledger.holdings()) == {"alice", "carol"}

    hub.start()
    wait_for(lambda: ledger.holdings() == {}, what="the stale holdings to be released")
    assert not hub.api("GET", "users/alice").json()["servers"]
    hub.spawn("bob", "gpu-2x")
    assert len(gpus_of(hub, "bob")) == 2
    ledger.engine.dispose()
