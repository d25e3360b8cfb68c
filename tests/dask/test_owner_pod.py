"""The owner of a cluster is the caller's running notebook pod as the Kubernetes API has
it, never what the client says: ``DaskClusters`` on the real backend and the loopback
stand-in, in process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubeapi import NAMESPACE, KubeAPI

from assay.config import parse
from assay.dask.backend import KubernetesBackend
from assay.dask.service import Caller, DaskClusters, notebook_pod_name
from assay.errors import DaskForbidden

TEXT = (Path(__file__).resolve().parents[2] / "hub_config" / "assay.yaml").read_text()
CONFIG = parse(TEXT.replace("mode: local", "mode: kubernetes", 1))
IMAGE = "registry.example.org/assay-singleuser:0.1.0"
ALICE = Caller(user="alice", groups=frozenset({"oncology"}), server="", profile="dask",
               session_id="a" * 32, token="assay-s-" + "t" * 43, kernel_id="k-1",
               server_url="/user/alice/")


@pytest.fixture
def standin() -> Iterator[tuple[KubeAPI, DaskClusters]]:
    api = KubeAPI().start()

    async def factory() -> Any:
        from kubernetes_asyncio import client

        config = client.Configuration()
        config.host = api.url
        config.api_key = {"BearerToken": f"Bearer {api.token}"}
        return client.ApiClient(config)

    yield api, DaskClusters(KubernetesBackend(factory))
    api.stop()


def test_kubespawners_pod_names() -> None:
    assert notebook_pod_name("alice") == "jupyter-alice"
    assert notebook_pod_name("alice", "gpu") == "jupyter-alice--gpu"
    assert notebook_pod_name("Alice.Smith@x.org").startswith("jupyter-")


@pytest.mark.parametrize(("pod", "problem"), [
    (None, "no such pod"),
    ({"user": "mallory"}, "annotations name another server"),
    ({"server": "other"}, "annotations name another server"),
    ({"phase": "Pending"}, "pod phase 'Pending'"),
])
async def test_no_cluster_without_the_callers_running_pod(
        standin: tuple[KubeAPI, DaskClusters], pod: dict | None, problem: str) -> None:
    api, clusters = standin
    if pod is not None:
        api.add_pod(NAMESPACE, "jupyter-alice", pod.get("user", "alice"), IMAGE,
                    server=pod.get("server", ""), phase=pod.get("phase", "Running"))

    with pytest.raises(DaskForbidden) as caught:
        await clusters.create(CONFIG, ALICE, {}, "http://hub:8002/services/assay/")

    assert caught.value.field == "server" and "Restart your server" in caught.value.user_message
    assert problem in caught.value.log_detail
    assert api.objects("daskclusters") == [] and api.objects("secrets") == []


async def test_the_pod_of_a_named_server(standin: tuple[KubeAPI, DaskClusters]) -> None:
    api, clusters = standin
    pod = api.add_pod(NAMESPACE, "jupyter-alice--gpu", "alice", IMAGE, server="gpu")
    named = Caller(**{**ALICE.__dict__, "server": "gpu"})

    made = await clusters.create(CONFIG, named, {"n_workers": 1}, "http://hub:8002/")

    assert made["owner"] == {"kind": "Pod", "name": "jupyter-alice--gpu",
                             "uid": pod["metadata"]["uid"]}
    assert made["server"] == "gpu"
