"""GPU jobs and users' servers share one ledger, through a real hub in local mode (the demo
config: 4 simulated GPUs, profile gpu-2x for group gpu-users): the Assay service's running
GPU jobs hold GPUs a spawn then cannot get, and give them back when the runs end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from assay.db import make_engine
from assay.gpu import GPULedger
from assay.jobs.store import run_server
from hubjobs import notebook, start_hub, stop_hub, submit, wait_run
from hubprocess import HubProcess
from jobrun import wait_for
from serverenv import server_env

FOUR = ["sim-0", "sim-1", "sim-2", "sim-3"]
# writes the GPUs it got, then waits (at most 2 minutes) for the file "go" in its folder
WAIT_FOR_GO = ("import os, time\nopen('gpus', 'w').write(os.environ['CUDA_VISIBLE_DEVICES'])\n"
               "for _ in range(1200):\n    if os.path.exists('go'):\n        break\n"
               "    time.sleep(0.1)")


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    hub = start_hub(tmp_path_factory.mktemp("gpu-jobs-hub"))
    yield hub
    if hub.api("GET", "users/alice").json().get("servers"):
        hub.stop_server("alice")
    stop_hub(hub)


@pytest.fixture(scope="module")
def ledger(hub: HubProcess) -> Iterator[GPULedger]:
    """The holdings as the hub and the service keep them (database.url of the demo)."""
    engine = make_engine(f"sqlite:///{hub.workdir / 'var' / 'assay.sqlite'}")
    yield GPULedger(engine, FOUR)
    engine.dispose()


def run_folder(hub: HubProcess, run_id: int) -> Path:
    return hub.workdir / "var" / "jobs" / "runs" / f"run-{run_id}"


def gpus_of_run(hub: HubProcess, run_id: int) -> set[str]:
    file = run_folder(hub, run_id) / "gpus"
    wait_for(file.exists, timeout=120, what=f"run {run_id} to start")
    return set(file.read_text().split(","))


def test_running_gpu_jobs_hold_gpus_a_spawn_cannot_get(hub, ledger):
    alice = hub.user_token("alice")
    ids = []
    for name in ("train-a", "train-b"):
        r = submit(hub, alice, name, notebook(None, WAIT_FOR_GO), profile="gpu-2x")
        assert r.status_code == 201, r.text
        ids.append(r.json()["run"]["id"])
    first, second = (gpus_of_run(hub, i) for i in ids)
    assert len(first) == len(second) == 2 and first | second == set(FOUR)
    assert {h: set(g) for h, g in ledger.holdings().items()} == {
        run_server(ids[0]): first, run_server(ids[1]): second}

    # the jobs hold all four GPUs: alice's spawn is refused at once, saying so
    r = hub.request_spawn("alice", "gpu-2x", token=alice)
    assert r.status_code == 409, r.text
    assert "needs 2 GPU(s) but only 0 of 4 are free" in r.json()["message"]
    assert "job-run" not in r.json()["message"]
    r = hub.request_spawn("alice", "gpu-2x")  # an admin also sees who holds them
    assert r.status_code == 409
    assert f"Held by: {run_server(ids[0])}: " in r.json()["message"]
    assert not hub.api("GET", "users/alice").json()["servers"]

    # the first run ends: its GPUs return, and alice's server gets exactly those
    (run_folder(hub, ids[0]) / "go").touch()
    assert wait_run(hub, alice, ids[0])["status"] == "succeeded"
    wait_for(lambda: run_server(ids[0]) not in ledger.holdings(), what="the release")
    hub.spawn("alice", "gpu-2x")
    env = server_env("alice", hub.hub_port)
    assert set(env["CUDA_VISIBLE_DEVICES"].split(",")) == first
    assert {h: set(g) for h, g in ledger.holdings().items()} == {
        "alice": first, run_server(ids[1]): second}

    # the second run ends and the server stops: nothing is held any more
    (run_folder(hub, ids[1]) / "go").touch()
    assert wait_run(hub, alice, ids[1])["status"] == "succeeded"
    hub.stop_server("alice")
    wait_for(lambda: ledger.holdings() == {}, what="every GPU back in the pool")
