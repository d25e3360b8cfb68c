"""Fixtures for spawner tests: a dummy kubeconfig, the demo config, minimal users."""

from __future__ import annotations

import zlib
from pathlib import Path
from types import SimpleNamespace

import pytest

REPO = Path(__file__).resolve().parents[2]
DEMO_CONFIG = REPO / "hub_config" / "assay.yaml"

DUMMY_KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- name: dummy
  cluster: {server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true}
users:
- name: dummy
  user: {token: dummy-token-never-sent}
contexts:
- name: dummy
  context: {cluster: dummy, user: dummy, namespace: assay}
current-context: dummy
"""


@pytest.fixture(scope="session")
def dummy_kubeconfig(tmp_path_factory: pytest.TempPathFactory):
    """KubeSpawner parses a kubeconfig when built; this one names a server never contacted.

    ``kubernetes_asyncio`` reads ``$KUBECONFIG`` once, at import (collection may have
    imported it already), so its default location is pointed at the file as well.
    """
    from kubernetes_asyncio.config import kube_config

    path = tmp_path_factory.mktemp("kube") / "config"
    path.write_text(DUMMY_KUBECONFIG)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KUBECONFIG", str(path))
        patch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(path))
        yield path


@pytest.fixture
def kube_config_file(tmp_path: Path) -> Path:
    """A copy of the shipped demo ``assay.yaml`` switched to ``mode: kubernetes``."""
    text = DEMO_CONFIG.read_text()
    assert "\nmode: local " in text
    path = tmp_path / "assay.yaml"
    path.write_text(text.replace("\nmode: local ", "\nmode: kubernetes ", 1))
    return path


def _user(name: str, groups: list[str], admin: bool = False) -> SimpleNamespace:
    return SimpleNamespace(
        name=name,
        id=zlib.crc32(name.encode()) % 10_000,
        admin=admin,
        groups=[SimpleNamespace(name=g) for g in groups],
        escaped_name=name,
        url=f"/user/{name}/",
        progress_url=f"/hub/api/users/{name}/server/progress",
        server=None,
    )


@pytest.fixture
def make_user():
    """``make_user(name, groups, admin=False)``: what spawners read of a JupyterHub ``User``."""
    return _user
