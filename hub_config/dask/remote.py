"""Kernel side of Kubernetes mode: the notebook asks the Assay service for its cluster.

The kernel holds no Kubernetes credentials: ``request_cluster`` POSTs the overrides to
``api/v1/dask/clusters`` with the server's session credential; the service creates the
``DaskCluster`` and answers its name and scheduler address. ``RemoteCluster`` is what
``assay.dask.cluster()`` returns: ``distributed.Client(cluster)`` connects to its
``scheduler_address``; ``close()`` asks the service to delete it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from ..errors import AssayError, DaskError, DaskLimitExceeded, DaskUnavailable
from ..kernels.broker import Credentials, credentials, headers, http

ENDPOINT = ("dask", "clusters")


def _error(response: httpx.Response) -> DaskError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    message = str((body if isinstance(body, dict) else {}).get("message") or
                  f"the Assay service answered {response.status_code}")
    if response.status_code in (400, 409):
        return DaskLimitExceeded(message)
    if response.status_code == 401:
        return DaskUnavailable("The Assay service did not accept this server's credential: "
                               f"{message}")
    return DaskUnavailable(message)


def _call(method: str, creds: Credentials, *parts: str, **kw: Any) -> httpx.Response:
    try:
        return http().request(method, creds.endpoint(*ENDPOINT, *parts),
                              headers=headers(creds), **kw)
    except httpx.HTTPError as exc:
        raise DaskUnavailable(f"Could not reach the Assay service at {creds.url} to manage "
                              f"the Dask cluster: {type(exc).__name__}. Try again; if it "
                              "persists, ask an Assay admin.") from None


class RemoteCluster:
    """A Dask cluster the Assay service created for this notebook.

    >>> cluster = assay.dask.cluster()
    >>> client = distributed.Client(cluster)   # connects to cluster.scheduler_address
    >>> cluster.close()                        # the service deletes it
    """

    def __init__(self, info: Mapping[str, Any], creds: Credentials):
        self.info = dict(info)
        self.name: str = str(info["name"])
        self.scheduler_address: str = str(info["scheduler_address"])
        self.dashboard_link: str | None = info.get("dashboard_link")
        self._creds = creds
        self._closed = False

    @property
    def status(self) -> Any:
        """``distributed``'s ``Status``: running until ``close()``."""
        from distributed.core import Status

        return Status.closed if self._closed else Status.running

    @property
    def phase(self) -> str:
        """What the operator last reported (``Pending``, ``Running``…), from the service."""
        for found in self._list():
            if found.get("name") == self.name:
                return str(found.get("status") or "Pending")
        return "Deleted"

    def alive(self) -> bool:
        """Not closed, and not deleted meanwhile (the operator deletes an idle cluster);
        True when the service cannot be asked."""
        if self._closed:
            return False
        try:
            return self.phase != "Deleted"
        except DaskError:
            return True

    def _list(self) -> list[dict[str, Any]]:
        response = _call("GET", self._creds)
        if response.status_code >= 400:
            raise _error(response)
        return list(response.json().get("clusters") or [])

    def close(self) -> None:
        """Delete the cluster (its scheduler and workers stop); a second call does nothing."""
        if self._closed:
            return
        response = _call("DELETE", self._creds, self.name)
        if response.status_code >= 400 and response.status_code != 404:
            raise _error(response)
        self._closed = True

    def __await__(self) -> Any:  # distributed.Client awaits a cluster before connecting
        async def ready() -> RemoteCluster:
            return self
        return ready().__await__()

    def __enter__(self) -> RemoteCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "running"
        return (f"<RemoteCluster {self.name!r} {state}: {self.info.get('n_workers')} workers "
                f"x {self.info.get('threads_per_worker')} threads, "
                f"scheduler {self.scheduler_address}>")


def request_cluster(overrides: Mapping[str, Any],
                    environ: Mapping[str, str] | None = None) -> RemoteCluster:
    """Ask the Assay service for this server's cluster, sized within its profile."""
    try:
        creds = credentials(environ)
    except AssayError as exc:  # not in a server session
        raise DaskUnavailable(str(exc)) from None
    response = _call("POST", creds, json=dict(overrides))
    if response.status_code != 201:
        raise _error(response)
    return RemoteCluster(response.json(), creds)
