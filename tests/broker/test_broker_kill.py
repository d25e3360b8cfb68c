"""``kill -9`` of the broker during concurrent reads, on a dedicated real hub: the audit
chain still verifies, every read that received bytes has a committed allow record (the
record is committed before the first byte), and the hub brings its managed service back."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from assay.broker.audit import AuditLog
from assay.config import parse
from assay.db import make_engine
from assay.demo_data import generate
from hubfixtures import DEMO_YAML
from hubprocess import HubProcess
from serverenv import broker_process

THREADS = 16
FILES = {"reference-genes": "genes.csv", "omics-expression-atlas": "expression.parquet"}
RESTART_WITHIN = 90  # JupyterHub polls its managed services every 30 s


@dataclass
class Outcome:
    status: int | None  # None: no response at all
    received: int
    complete: bool


def broker_pid(hub: HubProcess) -> int | None:
    """The ``python -m assay.broker`` process this hub started (matched by its port)."""
    found = broker_process(hub.broker_port)
    return found[0] if found else None
    return None


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubProcess]:
    workdir = tmp_path / "kill-hub"
    generate(parse(DEMO_YAML.read_text()), base=workdir)
    hub = HubProcess(workdir, DEMO_YAML.read_text())
    hub.start()
    yield hub
    hub.stop()


def reader(hub: HubProcess, token: str, index: int, stop: threading.Event,
           outcomes: list[Outcome], sizes: dict[str, int]) -> None:
    dataset = list(FILES)[index % len(FILES)]
    url = f"{hub.broker_url}api/v1/datasets/{dataset}/files/{FILES[dataset]}"
    with httpx.Client(headers={"Authorization": f"token {token}"}, timeout=10) as client:
        while not stop.is_set():
            status, received = None, 0
            try:
                with client.stream("GET", url) as r:
                    status = r.status_code
                    for chunk in r.iter_bytes():
                        received += len(chunk)
            except httpx.HTTPError:
                time.sleep(0.05)  # the broker is gone: keep knocking until told to stop
            outcomes.append(Outcome(status, received,
                                    status == 200 and received == sizes[dataset]))


def allow_reads(log: AuditLog, user: str) -> list[dict]:
    found, after = [], 0
    while batch := log.query(user=user, decision="allow", after=after, limit=1000):
        found += [r for r in batch if r["action"] == "read"]
        after = batch[-1]["seq"]
    return found


def test_kill_9_during_concurrent_reads(hub):
    token = hub.user_token("bob")
    data = hub.workdir / "var" / "data"
    sizes = {d: (data / d / f).stat().st_size for d, f in FILES.items()}
    old_pid = broker_pid(hub)
    assert old_pid, "broker process not found"
    stop, outcomes = threading.Event(), []
    threads = [threading.Thread(target=reader, args=(hub, token, i, stop, outcomes, sizes))
               for i in range(THREADS)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    while sum(o.complete for o in outcomes) < 4 * THREADS and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(old_pid, signal.SIGKILL)
    time.sleep(2)
    stop.set()
    for thread in threads:
        thread.join(30)

    received = [o for o in outcomes if o.status == 200 and o.received > 0]
    assert sum(o.complete for o in outcomes) >= 4 * THREADS
    assert any(o.status is None for o in outcomes), "no read saw the broker die"
    engine = make_engine(f"sqlite:///{hub.workdir / 'var' / 'assay.sqlite'}")
    try:
        log = AuditLog(engine)
        result = log.verify()
        assert result.ok, result.problem
        records = allow_reads(log, "bob")
        assert len(records) >= len(received), (len(records), len(received))
        assert all(r["bytes"] == sizes[r["dataset"]] for r in records)

        # JupyterHub restarts a managed service that died (it polls it); the new broker
        # continues the same chain.
        started = time.monotonic()
        while (new_pid := broker_pid(hub)) in (None, old_pid) or not _serving(hub, token):
            assert time.monotonic() - started < RESTART_WITHIN, (
                f"the hub did not restart the broker within {RESTART_WITHIN}s")
            time.sleep(0.5)
        assert new_pid != old_pid
        print(f"{len(received)} reads got bytes ({sum(not o.complete for o in received)} cut "
              f"short), {len(records)} allow records; broker back after "
              f"{time.monotonic() - started:.1f}s")
        assert "Service assay exited with status -9" in hub.log()
        r = httpx.get(f"{hub.broker_url}api/v1/datasets/reference-genes/files/genes.csv",
                      headers={"Authorization": f"token {token}"}, timeout=30)
        assert r.status_code == 200 and len(r.content) == sizes["reference-genes"]
        after = log.verify()
        assert after.ok and after.checked > result.checked, after
    finally:
        engine.dispose()


def _serving(hub: HubProcess, token: str) -> bool:
    try:
        return httpx.get(hub.broker_url + "api/v1/whoami", timeout=5,
                         headers={"Authorization": f"token {token}"}).status_code == 200
    except httpx.HTTPError:
        return False
