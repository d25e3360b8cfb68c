"""``assay dask list`` / ``assay dask delete``: the installed console script against the
Kubernetes-mode service (conftest.py) and, for the refusal, the local-mode demo hub."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from kubeapi import NAMESPACE, KubeService

from hubprocess import HubProcess

ASSAY = Path(sys.executable).parent / "assay"


def assay(*args: str, url: str, token: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASSAY_", "JUPYTERHUB_"))}
    env.update(ASSAY_BROKER_URL=url, JUPYTERHUB_API_TOKEN=token)
    return subprocess.run([str(ASSAY), "dask", *args], capture_output=True, text=True,
                          timeout=120, env=env)


def test_users_list_theirs_and_an_admin_removes_anyones(service: KubeService) -> None:
    r = service.call("POST", "dask/clusters", service.tokens["alice"], json={"n_workers": 1},
                     headers={"X-Assay-Kernel": "kernel-of-alice"})
    assert r.status_code == 201, r.text
    name = r.json()["name"]
    hub = service.hub
    as_alice = {"url": service.url, "token": hub.user_token("alice")}
    as_bob = {"url": service.url, "token": hub.user_token("bob")}
    as_admin = {"url": service.url, "token": hub.user_token("admin")}

    mine = assay("list", **as_alice)
    assert mine.returncode == 0, mine.stderr
    header, row = mine.stdout.splitlines()
    assert header.split()[:3] == ["NAME", "USER", "SERVER"]
    assert row.split()[:4] == [name, "alice", "(default)", "dask"] and "1 x" in row
    assert "No Dask clusters" in assay("list", **as_bob).stdout

    refused = assay("delete", name, **as_bob)
    assert refused.returncode == 1 and f"You have no Dask cluster named {name!r}" \
        in refused.stderr
    assert service.api.get("daskclusters", NAMESPACE, name) is not None

    everyone = assay("list", "--json", **as_admin)
    assert [c["user"] for c in json.loads(everyone.stdout)] == ["alice"]
    gone = assay("delete", name, **as_admin)
    assert gone.returncode == 0, gone.stderr
    assert f"Deleted Dask cluster {name} of alice" in gone.stdout
    assert service.api.get("daskclusters", NAMESPACE, name) is None


def test_local_mode_says_clusters_live_in_kernels(demo_hub: HubProcess) -> None:
    r = assay("list", url=demo_hub.broker_url, token=demo_hub.user_token("alice"))
    assert r.returncode == 1
    assert "Kubernetes mode only" in r.stderr and "LocalCluster inside the kernel" in r.stderr
