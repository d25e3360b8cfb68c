"""``assay.dask.cluster()`` in a kernel on a Kubernetes-mode server: the kernel asks the
Assay service (no Kubernetes client, no Kubernetes credentials in the kernel) and gets a
handle ``distributed.Client`` accepts. Run in a fresh Python process with alice's real
server environment, switched to Kubernetes mode and to the Kubernetes-mode service."""

from __future__ import annotations

import json
import subprocess
import sys

from kubeapi import NAMESPACE, KubeService

from serverenv import server_env

KERNEL = """
import json, sys
import assay.dask
from assay.errors import DaskLimitExceeded
from distributed import Client

cluster = assay.dask.cluster(n_workers=1)
out = {"name": cluster.name, "address": cluster.scheduler_address,
       "link": cluster.dashboard_link, "status": cluster.status.name, "repr": repr(cluster),
       "current": assay.dask.current() is cluster, "phase": cluster.phase}
try:
    assay.dask.cluster()
except DaskLimitExceeded as exc:
    out["second"] = str(exc)
try:
    Client(cluster, timeout="1s")
except OSError as exc:
    out["connect"] = str(exc)
cluster.close()
out["closed"] = cluster.status.name
out["current_after"] = assay.dask.current()
out["modules"] = sorted(m for m in ("kr8s", "kubernetes_asyncio", "dask_kubernetes",
                                    "kubernetes") if m in sys.modules)
print(json.dumps(out))
"""

FORGED_ENV = """
import assay.dask
from assay.errors import DaskLimitExceeded
try:
    assay.dask.cluster(n_workers=8)
except DaskLimitExceeded as exc:
    print(exc)
"""


def kernel_env(service: KubeService, **extra: str) -> dict[str, str]:
    env = server_env("alice", service.hub.hub_port)
    env = {k: v for k, v in env.items() if not k.startswith(("KUBE", "JPY_"))}
    env.update(ASSAY_MODE="kubernetes", ASSAY_BROKER_URL=service.url, **extra)
    return env


def run(code: str, env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_kernel_gets_a_client_ready_handle_and_close_deletes_it(
        service: KubeService) -> None:
    out = json.loads(run(KERNEL, kernel_env(service)).strip().splitlines()[-1])
    name = out["name"]

    assert out["address"] == f"tcp://{name}-scheduler.{NAMESPACE}.svc.cluster.local:8786"
    assert out["link"].endswith(f"/user/alice/proxy/{name}-scheduler.{NAMESPACE}"
                                ".svc.cluster.local:8787/status")
    assert (out["status"], out["current"], out["phase"]) == ("running", True, "Pending")
    assert name in out["repr"] and "1 workers" in out["repr"]
    assert "already runs a Dask cluster" in out["second"]
    # distributed.Client took the handle and tried its scheduler (no cluster DNS here)
    assert f"{name}-scheduler.{NAMESPACE}.svc.cluster.local:8786" in out["connect"]
    assert (out["closed"], out["current_after"]) == ("closed", None)
    assert out["modules"] == []  # no Kubernetes client in the kernel
    assert service.api.objects("daskclusters") == []  # close() deleted it
    actions = [r["action"] for r in service.audit(dataset=f"dask:{name}", user="alice")]
    assert actions[-2:] == ["dask.create", "dask.delete"]


def test_the_service_not_the_kernel_environment_bounds_the_cluster(
        service: KubeService) -> None:
    """A kernel that claims a bigger profile in its environment is still refused."""
    env = kernel_env(service, ASSAY_DASK_WORKERS="16", CPU_LIMIT="64")
    out = run(FORGED_ENV, env)

    assert "n_workers=8 is more than profile 'dask' allows: at most 2" in out
    assert service.api.objects("daskclusters") == []
