"""Where the Assay service's Dask clusters live: a small interface and its Kubernetes
implementation (``kubernetes_asyncio``, with the *service's* service account).

The notebook pods have no Kubernetes API rights; the service reads the caller's pod and
creates the ``Secret``, ``DaskCluster`` and ``DaskWorkerGroup`` built by ``kube.py`` on
their behalf. ``api_client`` is an async factory of a ``kubernetes_asyncio`` ``ApiClient``
(default: in-cluster config, else the kubeconfig), as in ``jobs/executors/kubernetes.py``,
so tests can point the service at a loopback stand-in of the API server.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from ..errors import DaskBackendError, DaskConflict
from ..kubeclient import default_api_client, deleted, found
from .kube import API_VERSION, KubeResources

log = logging.getLogger("assay.dask")

GROUP, VERSION = API_VERSION.split("/")
CLUSTERS, WORKER_GROUPS = "daskclusters", "daskworkergroups"
ApiClientFactory = Callable[[], Awaitable[Any]]


class ClusterBackend(ABC):
    """The few calls the Assay service makes for notebook Dask clusters."""

    @abstractmethod
    async def notebook_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The pod (as JSON), or None when there is none."""

    @abstractmethod
    async def create(self, resources: KubeResources) -> dict[str, Any]:
        """Secret, DaskCluster, worker groups, in that order; all or nothing. The
        created DaskCluster; ``DaskConflict`` when one of that name exists."""

    @abstractmethod
    async def clusters(self, namespace: str, selector: Mapping[str, str]
                       ) -> list[dict[str, Any]]:
        """The DaskClusters whose labels match ``selector``."""

    @abstractmethod
    async def cluster(self, namespace: str, name: str) -> dict[str, Any] | None:
        """One DaskCluster, or None."""

    @abstractmethod
    async def delete(self, namespace: str, name: str) -> None:
        """The cluster's worker groups, the DaskCluster and its session Secret (the
        operator removes the scheduler and worker pods)."""


def _selector(labels: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def _exists(namespace: str, name: str, detail: str) -> DaskConflict:
    return DaskConflict(f"A Dask cluster named {name} still exists (it may be shutting "
                        "down); try again in a few seconds.",
                        f"kubernetes create {namespace}/{name}: {detail}", field="name",
                        value=name, cluster=name)


def backend_error(action: str, exc: BaseException) -> DaskBackendError:
    """What the caller sees (no API details) and what the log keeps."""
    status = getattr(exc, "status", None)
    reason = getattr(exc, "reason", None) or type(exc).__name__
    return DaskBackendError(
        "The Kubernetes API did not accept the Dask cluster request; try again in a minute. "
        "If it persists, ask an Assay admin (the Assay service's log says why).",
        f"kubernetes {action}: {status or '-'} {reason}")


class KubernetesBackend(ClusterBackend):
    """The interface on the Kubernetes API, with the service's own credentials."""

    def __init__(self, api_client: ApiClientFactory | None = None):
        self._api_client = api_client or default_api_client

    async def notebook_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        from kubernetes_asyncio import client
        from kubernetes_asyncio.client.exceptions import ApiException

        async with await self._api_client() as api:
            try:
                pod = await found(client.CoreV1Api(api).read_namespaced_pod(name, namespace))
            except ApiException as exc:
                raise backend_error(f"get pod {namespace}/{name}", exc) from None
            return None if pod is None else api.sanitize_for_serialization(pod)

    async def create(self, resources: KubeResources) -> dict[str, Any]:
        from kubernetes_asyncio import client
        from kubernetes_asyncio.client.exceptions import ApiException

        namespace = resources.cluster["metadata"]["namespace"]
        name = resources.cluster["metadata"]["name"]
        if await self.cluster(namespace, name) is not None:  # touch nothing of it
            raise _exists(namespace, name, "found before creating")
        async with await self._api_client() as api:
            core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
            made: list[tuple[str, str]] = []
            try:
                if resources.secret is not None:
                    await _create_secret(core, namespace, resources.secret)
                    made.append(("secret", resources.secret["metadata"]["name"]))
                created = await custom.create_namespaced_custom_object(
                    GROUP, VERSION, namespace, CLUSTERS, resources.cluster)
                made.append((CLUSTERS, name))
                for group in resources.worker_groups:
                    await custom.create_namespaced_custom_object(
                        GROUP, VERSION, namespace, WORKER_GROUPS, group)
                    made.append((WORKER_GROUPS, group["metadata"]["name"]))
            except ApiException as exc:
                await self._undo(api, namespace, made)
                if exc.status == 409:
                    raise _exists(namespace, name, f"409 {exc.reason}") from None
                raise backend_error(f"create {namespace}/{name}", exc) from None
            except BaseException:
                await self._undo(api, namespace, made)
                raise
            return created

    async def _undo(self, api: Any, namespace: str, made: list[tuple[str, str]]) -> None:
        """Remove what a failed create left behind (newest first); log, never raise."""
        from kubernetes_asyncio import client

        for kind, name in reversed(made):
            try:
                if kind == "secret":
                    await client.CoreV1Api(api).delete_namespaced_secret(name, namespace)
                else:
                    await client.CustomObjectsApi(api).delete_namespaced_custom_object(
                        GROUP, VERSION, namespace, kind, name)
            except Exception as exc:  # noqa: BLE001 - best effort; the owner pod remains
                log.warning("could not remove %s %s/%s after a failed create: %s", kind,
                            namespace, name, type(exc).__name__)

    async def clusters(self, namespace: str, selector: Mapping[str, str]
                       ) -> list[dict[str, Any]]:
        from kubernetes_asyncio import client
        from kubernetes_asyncio.client.exceptions import ApiException

        async with await self._api_client() as api:
            try:
                found = await client.CustomObjectsApi(api).list_namespaced_custom_object(
                    GROUP, VERSION, namespace, CLUSTERS, label_selector=_selector(selector))
            except ApiException as exc:
                raise backend_error(f"list {namespace}/{CLUSTERS}", exc) from None
            return list(found.get("items") or [])

    async def cluster(self, namespace: str, name: str) -> dict[str, Any] | None:
        from kubernetes_asyncio import client
        from kubernetes_asyncio.client.exceptions import ApiException

        async with await self._api_client() as api:
            try:
                return await found(client.CustomObjectsApi(api).get_namespaced_custom_object(
                    GROUP, VERSION, namespace, CLUSTERS, name))
            except ApiException as exc:
                raise backend_error(f"get {namespace}/{name}", exc) from None

    async def delete(self, namespace: str, name: str) -> None:
        from kubernetes_asyncio import client
        from kubernetes_asyncio.client.exceptions import ApiException

        async with await self._api_client() as api:
            custom = client.CustomObjectsApi(api)
            try:  # the GPU group (kube.gpu_worker_group) is owned by the pod, not the cluster
                for plural, item in ((WORKER_GROUPS, f"{name}-gpu"), (CLUSTERS, name)):
                    await deleted(custom.delete_namespaced_custom_object(
                        GROUP, VERSION, namespace, plural, item))
                await deleted(client.CoreV1Api(api).delete_namespaced_secret(
                    f"{name}-session", namespace))
            except ApiException as exc:
                raise backend_error(f"delete {namespace}/{name}", exc) from None


async def _create_secret(core: Any, namespace: str, secret: dict[str, Any]) -> None:
    """Create the session Secret. One of the same name is a leftover of this session's
    earlier cluster (the operator deletes an idle ``DaskCluster``, not the Secret, which
    the pod owns): it is replaced."""
    from kubernetes_asyncio.client.exceptions import ApiException

    try:
        await core.create_namespaced_secret(namespace, secret)
    except ApiException as exc:
        if exc.status != 409:
            raise
        await deleted(core.delete_namespaced_secret(secret["metadata"]["name"], namespace))
        await core.create_namespaced_secret(namespace, secret)
