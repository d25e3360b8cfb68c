"""Fixtures for the notebook data API: real servers of the demo hub and their credentials."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from hubprocess import HubProcess
from serverenv import server_env

PURPOSE = "trial 042 safety review (assay.data tests)"
SERVERS = {"alice": {"profile": "secure-cpu", "purpose": PURPOSE},
           "bob": {"profile": "cpu-small"}}


class Audit:
    """The broker's audit log, read with the hub's admin token."""

    def __init__(self, hub: HubProcess):
        self.hub = hub

    def records(self, after: int = 0, **query: str) -> list[dict]:
        """Every record after seq ``after`` matching ``query`` (user, dataset, decision)."""
        return self.hub.audit(after, **query)

    def last_seq(self) -> int:
        records = self.records()
        return records[-1]["seq"] if records else 0


@pytest.fixture
def audit(demo_hub: HubProcess) -> Audit:
    return Audit(demo_hub)


@pytest.fixture(scope="module")
def server_envs(demo_hub: HubProcess) -> Iterator[dict[str, dict[str, str]]]:
    """alice on ``secure-cpu`` (with a purpose) and bob on ``cpu-small`` for the module:
    the ``ASSAY_*`` environment their servers (and so their kernels) received."""
    for user, options in SERVERS.items():
        if demo_hub.api("GET", f"users/{user}").json().get("servers"):
            demo_hub.stop_server(user)
        r = demo_hub.api("POST", f"users/{user}/server", json=options)
        assert r.status_code in (201, 202), r.text
    try:
        envs = {}
        for user in SERVERS:
            demo_hub.wait_ready(user)
            env = server_env(user, demo_hub.hub_port)
            envs[user] = {k: v for k, v in env.items() if k.startswith("ASSAY_")}
        yield envs
    finally:
        for user in SERVERS:
            if demo_hub.api("GET", f"users/{user}").json().get("servers"):
                demo_hub.stop_server(user)


@pytest.fixture
def as_user(server_envs: dict[str, dict[str, str]],
            monkeypatch: pytest.MonkeyPatch) -> Callable[[str], dict[str, str]]:
    """``as_user("alice")``: this process now holds alice's server credential."""

    def use(user: str) -> dict[str, str]:
        env = server_envs[user]
        monkeypatch.setenv("ASSAY_SESSION_TOKEN", env["ASSAY_SESSION_TOKEN"])
        monkeypatch.setenv("ASSAY_BROKER_URL", env["ASSAY_BROKER_URL"])
        return env

    return use
