"""Notebook Dask clusters under ``api/v1/dask/clusters`` (Kubernetes mode).

``POST dask/clusters`` (body: optional ``n_workers``, ``threads_per_worker``,
``memory_limit``, ``idle_timeout``) creates the caller's cluster, ``GET dask/clusters``
lists theirs, ``DELETE dask/clusters/{name}`` deletes one; an Assay admin lists and deletes
every user's (a runaway cluster), but creates only for their own server. The caller is a kernel's
session credential (as for data reads); what may be created is decided in
``assay.dask.service`` from the session, the hub and the Kubernetes API, never from the
body. Every create, delete and refusal is committed to the audit log (``dataset`` =
``dask:<cluster>``).
"""

from __future__ import annotations

from typing import Any

from ..dask.backend import KubernetesBackend
from ..dask.service import Caller, DaskClusters
from ..errors import BrokerError
from .api_base import BrokerHandler
from .identity import bearer
from .policy import Identity


def clusters_of(broker: Any) -> DaskClusters:
    """The service's cluster manager (made once per process)."""
    found = getattr(broker, "dask_clusters", None)
    if found is None:
        found = broker.dask_clusters = DaskClusters(KubernetesBackend())
    return found


class DaskHandler(BrokerHandler):
    """Identity, the caller as the service sees it, audit of every refusal."""

    def initialize(self, broker: Any) -> None:
        super().initialize(broker)
        self.clusters = clusters_of(broker)
        self.action = ""
        self.subject = "dask:"
        self.audited = False

    async def caller(self, action: str) -> Caller:
        self.action = action
        who = await self.identify(action, self.subject)
        return Caller(user=who.user, groups=who.groups,
                      server=who.server if who.session_id and who.run_id is None else None,
                      profile=who.profile, session_id=who.session_id,
                      token=bearer(self.request.headers) if who.session_id else None,
                      kernel_id=who.kernel_id, server_url=await self._server_url(who),
                      admin=who.admin)

    async def _server_url(self, who: Identity) -> str | None:
        if who.server is None or who.run_id is not None:
            return None
        model = await self.broker.resolver.users.get(who.user) or {}
        return ((model.get("servers") or {}).get(who.server) or {}).get("url")

    def audit(self, allowed: bool, reason: str, name: str = "") -> None:
        self.audited = True
        self.record(action=self.action, allowed=allowed, reason=reason[:500],
                    dataset=f"dask:{name}" if name else self.subject)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, BrokerError) and not self.audited and self.action \
                and self.who.user != "-":
            field = getattr(exc, "field", None)
            try:
                self.audit(False, f"{exc.error}" + (f" ({field})" if field else "")
                           + f": {exc.user_message}", getattr(exc, "extra", {}).get(
                               "cluster", ""))
            except BrokerError:  # the audit log itself failed: answer the first error
                pass
        super().write_error(status_code, **kwargs)


class ClustersHandler(DaskHandler):
    """``POST dask/clusters``, ``GET dask/clusters``"""

    async def post(self) -> None:
        caller = await self.caller("dask.create")
        overrides = self.json_body()
        config = self.broker.config()
        base = config.broker_url_for_pods() or self.broker.service_url
        created = await self.clusters.create(config, caller, overrides,
                                             base + self.broker.prefix if base else "")
        self.audit(True, f"created; profile {created['profile']}; {created['n_workers']} "
                         f"workers x {created['threads_per_worker']} threads, "
                         f"{created['memory_limit']} bytes; {created['gpu_workers']} GPU "
                         f"workers; owner pod {created['owner']['name']}", created["name"])
        self.write_json(created, status=201)

    async def get(self) -> None:
        caller = await self.caller("dask.list")
        found = await self.clusters.mine(self.broker.config(), caller)
        self.write_json({"clusters": found})


class ClusterHandler(DaskHandler):
    """``DELETE dask/clusters/{name}``"""

    async def delete(self, name: str) -> None:
        self.subject = f"dask:{name[:200]}"
        caller = await self.caller("dask.delete")
        gone = await self.clusters.delete(self.broker.config(), caller, name)
        by_admin = gone.get("user") != caller.user
        self.audit(True, f"deleted (admin; {gone.get('user')}'s cluster)" if by_admin
                   else "deleted", gone["name"])
        self.write_json(gone)
