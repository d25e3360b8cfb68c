"""Fixtures that start real hubs (a pytest plugin, loaded by tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from assay.config import parse
from assay.demo_data import generate
from hubprocess import REPO, HubProcess

DEMO_YAML = REPO / "hub_config" / "assay.yaml"


def demo_config(**changes: object) -> dict:
    """The shipped demo config as a dict, with top-level keys replaced."""
    data = yaml.safe_load(DEMO_YAML.read_text())
    data.update(changes)
    return data


def write_config(path: Path, data: dict) -> None:
    path.write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.fixture(scope="session")
def demo_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    """The demo config on an awkward base URL; shared by tests that restore what they change."""
    workdir = tmp_path_factory.mktemp("demo-hub")
    generate(parse(DEMO_YAML.read_text()), base=workdir)
    hub = HubProcess(workdir, DEMO_YAML.read_text())
    hub.start()
    yield hub
    hub.stop()


@pytest.fixture
def stopped_servers(demo_hub: HubProcess) -> Iterator[HubProcess]:
    """The demo hub, with every server stopped again after the test."""
    yield demo_hub
    for user in demo_hub.api("GET", "users").json():
        if user.get("servers"):
            demo_hub.stop_server(user["name"])
