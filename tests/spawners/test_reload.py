"""Profile edits in assay.yaml apply at the next spawn without a hub restart;
an invalid edit keeps the last good profiles and is logged."""

from __future__ import annotations

import pytest

from hubfixtures import demo_config, write_config
from hubprocess import HubProcess
from serverenv import server_env

TINY = {"slug": "cpu-tiny", "display_name": "CPU tiny", "cpu": {"limit": 0.5},
        "memory": {"limit": "512M"}}


@pytest.fixture(scope="module")
def reload_hub(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("reload-hub")
    write_config(workdir / "assay.yaml", demo_config())
    hub = HubProcess(workdir)
    hub.start()
    yield hub
    hub.stop()


def usable(hub: HubProcess, user: str) -> str:
    return hub.request_spawn(user, "no-such-profile").json()["message"]


def test_edits_apply_at_next_spawn_and_bad_edits_keep_last_good(reload_hub):
    hub = reload_hub
    config = demo_config()
    config["profiles"].append(TINY)
    config["profiles"][0]["memory"] = {"limit": "3G"}
    write_config(hub.config_path, config)

    assert usable(hub, "bob").endswith("cpu-small, cpu-large, dask, cpu-tiny")
    hub.spawn("bob", "cpu-tiny")
    assert server_env("bob", hub.hub_port)["MEM_LIMIT"] == str(512 * 1024**2)
    hub.stop_server("bob")
    hub.spawn("bob", "cpu-small")
    assert server_env("bob", hub.hub_port)["MEM_LIMIT"] == str(3 * 1024**3)
    hub.stop_server("bob")

    broken = demo_config()
    broken["profiles"][1]["gpus"] = -1
    write_config(hub.config_path, broken)
    assert usable(hub, "bob").endswith("cpu-small, cpu-large, dask, cpu-tiny")
    hub.spawn("bob", "cpu-tiny")
    hub.stop_server("bob")
    assert "Ignoring invalid edit" in hub.log()
    assert "profiles[1].gpus: must be >= 0, got -1" in hub.log()

    write_config(hub.config_path, demo_config())
    assert usable(hub, "bob").endswith("cpu-small, cpu-large, dask")
