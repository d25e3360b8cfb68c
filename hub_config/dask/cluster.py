"""Start the notebook's Dask cluster (kernel side): ``assay.dask.cluster(**overrides)``.

Local mode: a ``distributed.LocalCluster`` of worker processes, children of the kernel
(in its process group, so the kernel's end ends them: the kernel manager kills the group,
and each worker also exits when its parent's pipe closes). Kubernetes mode: the Assay
service creates the ``DaskCluster`` for this server (``remote.py``; the kernel has no
Kubernetes credentials) and the kernel gets a handle ``distributed.Client`` accepts.

Both close when idle (``idle_timeout``, 30 min by default), when the kernel exits
(``atexit``) and, in Kubernetes, when the notebook pod is deleted (``ownerReferences``).
The dashboard link goes through jupyter-server-proxy on the user's server.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Mapping
from typing import Any

from ..errors import DaskLimitExceeded
from ..kernels.broker import kernel_id
from .remote import RemoteCluster, request_cluster
from .spec import (
    IDLE_TIMEOUT_ENV,
    DaskProfile,
    Sizing,
    dashboard_link_template,
    local_cluster_kwargs,
    size,
)

_lock = threading.Lock()
_current: Any = None
_atexit_registered = False


def cluster(**overrides: Any) -> Any:
    """A Dask cluster sized by this server's profile; ``overrides`` (``n_workers``,
    ``threads_per_worker``, ``memory_limit``, ``idle_timeout``) within its bounds.

    >>> import assay.dask
    >>> from dask.distributed import Client
    >>> cluster = assay.dask.cluster()            # the profile's workers
    >>> client = Client(cluster)
    >>> cluster.dashboard_link                     # through this server's proxy

    One cluster per kernel: close it (``cluster.close()``) before asking for another.
    """
    global _current
    environ = os.environ
    profile = DaskProfile.from_env(environ)
    sizing = size(profile, overrides)
    with _lock:
        if _running(_current):
            raise DaskLimitExceeded(
                "This kernel already runs a Dask cluster (assay.dask.current() returns it); "
                "a second one would go beyond the profile's bounds. Use it, or close it first "
                "with cluster.close().")
        _configure_dashboard(profile.mode, environ)
        started = (_start_local(sizing) if profile.mode == "local"
                   else _start_kubernetes(profile, overrides, environ))
        _current = started
        _register_cleanup()
        return started


def current() -> Any:
    """The running cluster of this kernel, or None."""
    with _lock:
        return _current if _running(_current) else None


def close() -> None:
    """Close this kernel's cluster (also done at kernel exit)."""
    global _current
    with _lock:
        found, _current = _current, None
    if found is not None:
        try:
            found.close()
        except Exception:  # noqa: BLE001 - closing at exit: nothing more to do
            pass


def _running(found: Any) -> bool:
    """Started and not closed (a scheduler that hit its idle timeout counts as closed)."""
    if found is None:
        return False
    if isinstance(found, RemoteCluster):  # Kubernetes mode: the service knows
        return found.alive()
    status = getattr(getattr(found, "status", None), "name", "")
    scheduler = getattr(found, "scheduler", None)
    scheduler_status = getattr(getattr(scheduler, "status", None), "name", "running")
    return status == "running" and scheduler_status == "running"


def _configure_dashboard(mode: str, environ: Mapping[str, str]) -> None:
    template = dashboard_link_template(mode, environ)
    if template:
        import dask

        dask.config.set({"distributed.dashboard.link": template})


def _register_cleanup() -> None:
    global _atexit_registered
    if not _atexit_registered:
        atexit.register(close)
        _atexit_registered = True


def _start_local(sizing: Sizing) -> Any:
    from distributed import LocalCluster

    return LocalCluster(**local_cluster_kwargs(sizing, kernel_id()))


def _start_kubernetes(profile: DaskProfile, overrides: Mapping[str, Any],
                      environ: Mapping[str, str]) -> Any:
    """Asks the Assay service, which sizes, creates and owns it (no Kubernetes API here)."""
    asked = dict(overrides)
    if environ.get(IDLE_TIMEOUT_ENV) and "idle_timeout" not in asked:
        asked["idle_timeout"] = profile.idle_timeout
    return request_cluster(asked, environ)
