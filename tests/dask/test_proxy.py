"""The dashboard's host allow-list for jupyter-server-proxy: loopback, and in Kubernetes
mode only the scheduler Services of the user's own clusters."""

from __future__ import annotations

import pytest

from assay.dask.kube import cluster_name, scheduler_host
from assay.dask.proxy import host_allowed
from assay.dask.service import session_tag

ENV = {"JUPYTERHUB_USER": "Alice.Smith", "ASSAY_POD_NAMESPACE": "assay",
       "ASSAY_MODE": "kubernetes"}
MINE = cluster_name("Alice.Smith", session_tag("0" * 32)[:8])


@pytest.mark.parametrize("host", [
    "localhost", "127.0.0.1", scheduler_host(MINE, "assay"), f"{MINE}-scheduler.assay",
    f"{MINE}-scheduler.assay.svc"])
def test_loopback_and_the_users_own_schedulers_are_allowed(host: str) -> None:
    assert host_allowed(host, ENV)


@pytest.mark.parametrize("host", [
    scheduler_host(cluster_name("bob", "0123abcd"), "assay"),  # someone else's
    scheduler_host(MINE, "other"),  # another namespace
    f"{MINE}-scheduler.assay.svc.cluster.local.evil.example",
    "hub", "kubernetes.default.svc", "169.254.169.254", f"{MINE}.assay"])
def test_anything_else_is_refused(host: str) -> None:
    assert not host_allowed(host, ENV)


def test_local_mode_allows_loopback_only() -> None:
    local = ENV | {"ASSAY_MODE": "local"}
    assert host_allowed("127.0.0.1", local)
    assert not host_allowed(scheduler_host(MINE, "assay"), local)
