"""Which hosts jupyter-server-proxy may reach for a notebook: loopback (local mode's
dashboards) and, in Kubernetes mode, the scheduler Services of *this user's* Dask clusters
(``dask-<user>-<8 hex>-scheduler.<namespace>[.svc[.cluster.local]]``, as
``assay.dask.service`` names them). Anything else -- other users' schedulers, the hub,
the Kubernetes API -- stays refused.

In the single-user image's ``jupyter_server_config.py``::

    from assay.dask.proxy import allowed_host
    c.ServerProxy.host_allowlist = allowed_host
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from .kube import cluster_name

LOOPBACK = ("localhost", "127.0.0.1")


def scheduler_pattern(user: str, namespace: str) -> re.Pattern[str]:
    """The scheduler hosts of ``user``'s clusters in ``namespace``."""
    stem = cluster_name(user, "0")[:-1]  # "dask-<user>-"
    return re.compile(rf"{re.escape(stem)}[0-9a-f]{{8}}-scheduler\.{re.escape(namespace)}"
                      r"(\.svc(\.cluster\.local)?)?")


def host_allowed(host: str, environ: Mapping[str, str] | None = None) -> bool:
    """``host`` may be proxied for the server whose environment is ``environ``."""
    env = os.environ if environ is None else environ
    if host in LOOPBACK:
        return True
    user, namespace = env.get("JUPYTERHUB_USER", ""), env.get("ASSAY_POD_NAMESPACE", "")
    if not user or not namespace or env.get("ASSAY_MODE") != "kubernetes":
        return False
    return scheduler_pattern(user, namespace).fullmatch(host) is not None


def allowed_host(handler: Any, host: str) -> bool:
    """``c.ServerProxy.host_allowlist`` (jupyter-server-proxy calls it per request)."""
    return host_allowed(host)
