"""Hub start-up: users and groups from the YAML, admin token, and refusing to start
on a broken config or a non-loopback address."""

from __future__ import annotations

import subprocess

import pytest

from hubfixtures import DEMO_YAML, demo_config, write_config
from hubprocess import HubProcess


@pytest.fixture(scope="module")
def fresh_hub(tmp_path_factory):
    hub = HubProcess(tmp_path_factory.mktemp("fresh-hub"), DEMO_YAML.read_text())
    hub.start()
    yield hub
    hub.stop()


def test_users_and_groups_exist_before_first_login(fresh_hub):
    users = {u["name"]: u for u in fresh_hub.api("GET", "users").json()}
    assert set(users) >= {"admin", "alice", "bob"}
    assert users["admin"]["admin"] is True
    assert sorted(users["alice"]["groups"]) == ["gpu-users", "oncology"]
    assert users["bob"]["groups"] == ["analytics"]
    assert all(u["last_activity"] is None for u in users.values())


def test_admin_token_drives_the_rest_api(fresh_hub):
    r = fresh_hub.api("GET", "groups")
    assert r.status_code == 200
    assert {g["name"] for g in r.json()} == {"oncology", "gpu-users", "analytics"}
    assert fresh_hub.api("GET", "users", token="not-a-token").status_code == 403


def run_until_exit(hub: HubProcess, timeout: float = 60) -> str:
    proc = hub.launch()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        hub.stop()
        pytest.fail(f"hub kept running:\n{hub.log()[-3000:]}")
    assert proc.returncode != 0
    return hub.log()


def test_invalid_config_stops_the_hub(tmp_path):
    config = demo_config()
    config["profiles"][2]["gpus"] = -1
    config["mode"] = "cloud"
    write_config(tmp_path / "assay.yaml", config)
    log = run_until_exit(HubProcess(tmp_path))
    assert "profiles[2].gpus: must be >= 0, got -1" in log
    assert "mode: must be one of 'local' or 'kubernetes', got 'cloud'" in log
    assert "The hub will not start." in log


def test_demo_login_refuses_a_non_loopback_address(tmp_path):
    hub = HubProcess(tmp_path, DEMO_YAML.read_text(), bind_host="0.0.0.0")
    log = run_until_exit(hub)
    assert "The demo authenticator only serves loopback" in log
    assert "'0.0.0.0'" in log
