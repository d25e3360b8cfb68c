"""The Assay service removes registrations left pending past ``models.pending_hours`` by
itself (a hub whose limit is about two seconds): the version is gone from the API, a late
upload is refused saying why, the removal is in the audit log and a ready version stays."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import yaml

from hubfixtures import DEMO_YAML
from hubprocess import HubProcess
from modelsapi import PAYLOAD, audit, hub_token, unique


@pytest.fixture(scope="module")
def quick_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    config = yaml.safe_load(DEMO_YAML.read_text())
    config.setdefault("models", {})["pending_hours"] = 0.0006  # ~2 s
    hub = HubProcess(tmp_path_factory.mktemp("expiry-hub"), yaml.safe_dump(config))
    hub.start()
    yield hub
    hub.stop()


def test_an_abandoned_registration_is_removed_by_the_service(quick_hub: HubProcess) -> None:
    alice = hub_token(quick_hub, "alice")
    name = unique("abandoned")
    kept = alice.register(name)  # version 1, committed at once
    started = alice.start(name, {"model.skops": PAYLOAD})  # version 2, never committed
    assert started.status_code == 201, started.text
    number = started.json()["version"]
    uploaded = alice("PUT", f"models/{name}/versions/{number}/files/model.skops",
                     content=PAYLOAD)
    assert uploaded.status_code == 200, uploaded.text

    deadline = time.monotonic() + 30
    while alice("GET", f"models/{name}/versions/{number}").status_code != 404:
        assert time.monotonic() < deadline, "the pending version was never removed"
        time.sleep(0.3)

    folder = quick_hub.workdir / "var" / "objects" / "models" / name
    assert sorted(p.name for p in folder.iterdir()) == [str(kept["version"])]  # bytes gone
    late = alice("PUT", f"models/{name}/versions/{number}/files/model.skops",
                 content=PAYLOAD)
    assert late.status_code == 404, late.text
    assert alice("GET", f"models/{name}/versions/{kept['version']}").json()["status"] \
        == "ready"
    [expired] = [r for r in audit(quick_hub, name) if r["action"] == "model.expire"]
    assert expired["path"] == f"versions/{number}" and "alice" in expired["reason"]
    again = alice.start(name, {"model.skops": PAYLOAD})
    assert again.json()["version"] == number + 1  # the removed number is not reused
