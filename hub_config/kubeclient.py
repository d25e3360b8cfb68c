"""The service's Kubernetes API client (kubernetes_asyncio), shared by the job executor
and the Dask clusters: its credentials, and the 404 a read or a delete may meet. Importing
this module imports no Kubernetes library."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any


async def default_api_client() -> Any:
    """In the hub pod: its service account; elsewhere the kubeconfig (``KUBECONFIG``)."""
    from kubernetes_asyncio import client, config

    try:
        config.load_incluster_config()
    except config.ConfigException:
        await config.load_kube_config()
    return client.ApiClient()


async def found(call: Awaitable[Any]) -> Any | None:
    """Await a read; None when the object does not exist (404)."""
    from kubernetes_asyncio.client.exceptions import ApiException

    try:
        return await call
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


async def deleted(call: Awaitable[Any]) -> None:
    """Await a delete; one that finds nothing (404) is fine."""
    from kubernetes_asyncio.client.exceptions import ApiException

    try:
        await call
    except ApiException as exc:
        if exc.status != 404:
            raise
