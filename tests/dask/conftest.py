"""Kubernetes-mode Dask through the Assay service, without Kubernetes.

A real hub (local mode: its servers are processes, their session credentials real) with
three servers -- alice on ``dask``, bob on ``cpu-small``, admin on ``gpu-dask`` (a GPU
profile with Dask workers) -- and, beside the hub's own service, a second real Assay
service process (``python -m assay.broker``, the same environment and hub token the hub
gave its service) whose ``assay.yaml`` says ``mode: kubernetes`` and whose kubeconfig
points at the loopback stand-in of the Kubernetes API (``tests/support/kubeapi.py``).
Both services share the database, so the servers' credentials are good on both. The
stand-in has a notebook pod for each server, as KubeSpawner would have made it.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest
import yaml
from kubeapi import NAMESPACE, SERVERS, KubeAPI, KubeService, configs, start_kube_service

from hubprocess import HubProcess
from serverenv import server_env


@pytest.fixture(scope="package")
def kube_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeService]:
    local, kube = configs()
    workdir = tmp_path_factory.mktemp("dask-kube-hub")
    hub = HubProcess(workdir, yaml.safe_dump(local, sort_keys=False))
    api = KubeAPI().start()
    proc = None
    try:
        hub.start()
        tokens, pods = {}, {}
        for user, (profile, image) in SERVERS.items():
            hub.spawn(user, profile)
            tokens[user] = server_env(user, hub.hub_port)["ASSAY_SESSION_TOKEN"]
            pods[user] = api.add_pod(NAMESPACE, f"jupyter-{user}", user, image)
        proc, url, log = start_kube_service(hub, kube, api)
        yield KubeService(hub, api, url, tokens, pods, log)
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
        hub.stop()
        api.stop()


@pytest.fixture
def service(kube_service: KubeService) -> Iterator[KubeService]:
    kube_service.clear()
    yield kube_service
    kube_service.clear()
