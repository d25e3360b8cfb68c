"""The Kubernetes backend of the service's Dask clusters against the loopback stand-in
of the API server, in process (its ``api_client`` factory pointed at it): all or nothing,
API refusals reported without their details, deletes that find nothing are fine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubeapi import NAMESPACE, KubeAPI

from assay.config import parse
from assay.config.schema import Profile
from assay.dask.backend import KubernetesBackend
from assay.dask.kube import PodIdentity, kube_resources
from assay.dask.spec import DaskProfile, size
from assay.errors import DaskBackendError, DaskConflict

DEMO = parse((Path(__file__).resolve().parents[2] / "hub_config" / "assay.yaml").read_text())
IMAGE = "registry.example.org/assay-singleuser:0.1.0"
TOKEN = "assay-s-" + "t" * 43


@pytest.fixture(scope="module")
def api() -> Iterator[KubeAPI]:
    server = KubeAPI().start()
    yield server
    server.stop()


@pytest.fixture
def backend(api: KubeAPI) -> Iterator[KubernetesBackend]:
    async def factory() -> Any:
        from kubernetes_asyncio import client

        config = client.Configuration()
        config.host = api.url
        config.api_key = {"BearerToken": f"Bearer {api.token}"}
        return client.ApiClient(config)

    yield KubernetesBackend(factory)
    with api.lock:
        api.store.clear()


def resources(api: KubeAPI, gpus: int = 0, name: str = "dask-alice-0123abcd"):
    pod = api.add_pod(NAMESPACE, "jupyter-alice", "alice", IMAGE)["metadata"]
    data = DEMO.profile("dask").model_dump() | {"gpus": gpus}
    profile = DaskProfile.from_profile(Profile.model_validate(data), "kubernetes", IMAGE)
    return kube_resources(profile, size(profile), user="alice", token=TOKEN,
                          broker_url="http://hub:8002/services/assay/",
                          pod=PodIdentity("jupyter-alice", pod["uid"], NAMESPACE),
                          kube=DEMO.kubernetes, name=name, session="0123abcd0123abcd")


async def test_create_find_and_delete(api: KubeAPI, backend: KubernetesBackend) -> None:
    built = resources(api, gpus=1)
    created = await backend.create(built)

    assert created["metadata"]["uid"]
    assert [(k, n) for (k, _, n) in api.store if k != "pods"] == [
        ("secrets", "dask-alice-0123abcd-session"), ("daskclusters", "dask-alice-0123abcd"),
        ("daskworkergroups", "dask-alice-0123abcd-gpu")]
    pod = await backend.notebook_pod(NAMESPACE, "jupyter-alice")
    assert pod["metadata"]["annotations"]["hub.jupyter.org/username"] == "alice"
    assert await backend.notebook_pod(NAMESPACE, "jupyter-nobody") is None
    found = await backend.clusters(NAMESPACE, {"assay/session": "0123abcd0123abcd"})
    assert [c["metadata"]["name"] for c in found] == ["dask-alice-0123abcd"]
    assert await backend.clusters(NAMESPACE, {"assay/session": "ffff"}) == []

    await backend.delete(NAMESPACE, "dask-alice-0123abcd")
    assert [k for (k, _, _) in api.store] == ["pods"]
    assert await backend.cluster(NAMESPACE, "dask-alice-0123abcd") is None
    await backend.delete(NAMESPACE, "dask-alice-0123abcd")  # nothing left: fine


async def test_a_refused_object_leaves_nothing_behind(api: KubeAPI,
                                                      backend: KubernetesBackend) -> None:
    built = resources(api, gpus=1)
    built.worker_groups[0]["spec"]["worker"]["spec"]["containers"][0]["resource"] = {}

    with pytest.raises(DaskBackendError) as caught:
        await backend.create(built)

    assert "422" in caught.value.log_detail
    assert "resource" not in caught.value.user_message  # no API details for the user
    assert [k for (k, _, _) in api.store] == ["pods"]  # secret and cluster undone
    assert api.refused[-1][2] == 422


async def test_an_existing_cluster_is_a_conflict(api: KubeAPI,
                                                 backend: KubernetesBackend) -> None:
    await backend.create(resources(api))
    with pytest.raises(DaskConflict, match="still exists"):
        await backend.create(resources(api))
    # the first cluster and its Secret are intact
    assert api.get("daskclusters", NAMESPACE, "dask-alice-0123abcd") is not None
    assert api.get("secrets", NAMESPACE, "dask-alice-0123abcd-session") is not None


async def test_a_wrong_credential_is_a_backend_error(api: KubeAPI) -> None:
    async def stranger() -> Any:
        from kubernetes_asyncio import client

        config = client.Configuration()
        config.host = api.url
        return client.ApiClient(config)

    with pytest.raises(DaskBackendError, match="Kubernetes API"):
        await KubernetesBackend(stranger).clusters(NAMESPACE, {})
