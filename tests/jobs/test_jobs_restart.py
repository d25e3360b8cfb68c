"""``kill -9`` of the Assay service while runs execute, on a dedicated real hub.

JupyterHub restarts its managed service; the new scheduler adopts the run whose process
still works (it ends ``succeeded``, once), marks the run whose process died with the
service ``interrupted`` and retries it per the job's policy, and the every-minute job
gets exactly one run per slot — none doubled by the restart, none lost in the downtime.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from hubjobs import api, notebook, runs, service_pid, start_hub, stop_hub, submit, wait_run
from hubprocess import HubProcess

RESTART_WITHIN = 90  # JupyterHub polls its managed services every 30 s


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubProcess]:
    hub = start_hub(tmp_path / "restart-hub")
    yield hub
    stop_hub(hub)


def sleeper(cells: int, seconds: float) -> dict:
    return notebook(None, *[f"import time\ntime.sleep({seconds})\nprint({i})"
                            for i in range(cells)])


def run_processes(hub: HubProcess, run_id: int) -> list[int]:
    """The runner and kernel of one run (they carry its id and this hub's broker)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            env = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"ASSAY_RUN_ID={run_id}".encode() in env and any(
                item.startswith(b"ASSAY_BROKER_URL=") and f":{hub.broker_port}/".encode()
                in item for item in env):
            found.append(int(proc.name))
    return found


def serving(hub: HubProcess, token: str) -> bool:
    try:
        return api(hub, token, "GET", "profiles").status_code == 200
    except httpx.HTTPError:
        return False


def wait_for_second(second: int, latest: int) -> None:
    """Sleep until the wall clock's seconds are in [second, latest)."""
    now = time.time() % 60
    if now < second:
        time.sleep(second - now)
    elif now >= latest:
        time.sleep(60 - now + second)


def created(r: httpx.Response) -> tuple[dict, dict]:
    assert r.status_code == 201, r.text
    return r.json()["job"], r.json()["run"]


def minute(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_kill_9_of_the_service_during_runs(hub):
    bob = hub.user_token("bob")
    r = submit(hub, bob, "every-minute", notebook(None, "1"), schedule="* * * * *",
               catchup="all")
    assert r.status_code == 201, r.text
    every, first_slot = r.json()["job"], minute(r.json()["job"]["next_slot"])
    # kill shortly before a minute boundary, so that a slot likely falls in the downtime
    wait_for_second(48, 52)
    long_job, long_run = created(submit(hub, bob, "long", sleeper(16, 4)))
    flaky_job, flaky_run = created(submit(hub, bob, "flaky", sleeper(6, 2), retries=1,
                                          retry_backoff_s=0))
    for run in (long_run, flaky_run):
        deadline = time.monotonic() + 60
        while (now := wait_run(hub, bob, run["id"], ("running",)))["cells_done"] < 2:
            assert time.monotonic() < deadline, now
            time.sleep(0.2)

    old = service_pid(hub)
    assert old
    os.kill(old, signal.SIGKILL)
    killed_at = time.time()
    victims = run_processes(hub, flaky_run["id"])
    assert victims, "the flaky run's processes were not found"
    for pid in victims:  # this run's process dies with the service
        os.kill(pid, signal.SIGKILL)
    assert run_processes(hub, long_run["id"]), "the long run should keep running"

    started = time.monotonic()
    while service_pid(hub) in (None, old) or not serving(hub, bob):
        assert time.monotonic() - started < RESTART_WITHIN, hub.log()[-3000:]
        time.sleep(0.5)
    back_after = time.time() - killed_at
    assert "Service assay exited with status -9" in hub.log()

    # the long run was adopted: it ends once, succeeded, as attempt 1
    done = wait_run(hub, bob, long_run["id"], timeout=120)
    assert done["status"] == "succeeded", done
    assert [(r["attempt"], r["status"]) for r in runs(hub, bob, long_job["id"])] == [
        (1, "succeeded")]
    assert done["cells_done"] == done["cells_total"] >= 16
    # the flaky run lost its process: interrupted, then retried per policy
    deadline = time.monotonic() + 120
    while len(history := runs(hub, bob, flaky_job["id"])) < 2 or \
            history[0]["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, history
        time.sleep(0.3)
    assert [(r["attempt"], r["status"]) for r in reversed(history)] == [
        (1, "interrupted"), (2, "succeeded")]
    assert "killed or the machine restarted" in history[1]["error"]
    assert "recovery:" in hub.log()

    # the every-minute job: one run per slot, from its first slot to the last one due
    time.sleep(max(0.0, 4 - time.time() % 60))  # the latest slot has been claimed
    api(hub, bob, "POST", f"jobs/{every['id']}/pause")
    history = runs(hub, bob, every["id"])
    slots = sorted(minute(r["slot"]) for r in history)
    last_due = datetime.fromtimestamp(time.time() - 3, first_slot.tzinfo).replace(
        second=0, microsecond=0)
    expected = [first_slot + timedelta(minutes=i)
                for i in range(int((last_due - first_slot).total_seconds() // 60) + 1)]
    assert slots == expected, (slots, expected)
    assert all(r["attempt"] == 1 for r in history)
    in_downtime = [s for s in slots if killed_at < s.timestamp() < killed_at + back_after]
    print(f"service back after {back_after:.1f} s; {len(slots)} slot(s), "
          f"{len(in_downtime)} in the downtime")
