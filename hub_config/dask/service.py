"""The Assay service's side of ``assay.dask`` in Kubernetes mode: it creates, lists and
deletes notebook Dask clusters on the user's behalf (the notebook pods have no Kubernetes
API rights).

Nothing about the cluster is taken from the request but the sizing overrides: the profile
is the one the caller's session credential was minted for, the owner is the caller's
notebook pod as the Kubernetes API has it (KubeSpawner's name for the user's server,
checked against the pod's ``hub.jupyter.org/username``/``servername`` annotations), the
image is the one that pod runs, the workers' credential is the caller's own. One cluster
per session credential (a name derived from the session, so a second create collides even
when two race). The HTTP handler (``assay.broker.api_dask``) only identifies, audits and
answers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from ..config.schema import AssayConfig
from ..errors import (
    DaskConflict,
    DaskForbidden,
    DaskLimitExceeded,
    DaskNotFound,
    DaskRefused,
    DaskUnavailable,
)
from ..locks import KeyedLocks
from ..profiles import usable
from .backend import ClusterBackend
from .kube import (
    DASHBOARD_PORT,
    SESSION_LABEL,
    USER_ANNOTATION,
    PodIdentity,
    cluster_name,
    kube_resources,
    label,
    scheduler_address,
    scheduler_host,
)
from .spec import OPTIONS, DaskProfile, Sizing, size

SERVER_ANNOTATION = "assay/server"
DASHBOARD_ANNOTATION = "assay/dashboard"
NOTEBOOK_CONTAINER = "notebook"  # KubeSpawner's container name
POD_NAME_TEMPLATE = "jupyter-{user_server}"  # KubeSpawner's default pod_name_template


@dataclass(frozen=True)
class Caller:
    """Who asks, as the broker established it (never from the request body)."""

    user: str
    groups: frozenset[str]
    server: str | None  # None: not a notebook server's session credential
    profile: str | None
    session_id: str | None
    token: str | None  # the caller's own session credential (the workers read with it)
    kernel_id: str | None = None
    server_url: str | None = None  # the server's URL prefix, from the hub (/user/NAME/)
    admin: bool = False  # an Assay admin lists and deletes every user's clusters


def session_tag(session_id: str) -> str:
    """16 hex digits naming a session in labels and names (not the session id itself)."""
    return hashlib.sha256(session_id.encode()).hexdigest()[:16]


def notebook_pod_name(user: str, server: str = "") -> str:
    """The pod KubeSpawner runs ``user``'s ``server`` in (its 'safe' slug scheme)."""
    from kubespawner.slugs import multi_slug, safe_slug

    limit = 48
    safe_user = safe_slug(user, max_length=limit)
    safe_server = safe_slug(server, max_length=limit) if server else ""
    if len(safe_user) + len(safe_server) + 2 > limit:
        user_server = multi_slug([user, server], max_length=limit)
    else:
        user_server = f"{safe_user}--{safe_server}" if server else safe_user
    return POD_NAME_TEMPLATE.format(user_server=user_server)


def owner_pod(pod: Mapping[str, Any] | None, caller: Caller, namespace: str, name: str
              ) -> tuple[PodIdentity, str]:
    """The caller's running notebook pod and its image; refused if it is not theirs."""
    meta = (pod or {}).get("metadata") or {}
    notes = meta.get("annotations") or {}
    server = caller.server or ""
    problem = None
    if pod is None:
        problem = "no such pod"
    elif notes.get("hub.jupyter.org/username") != caller.user or \
            notes.get("hub.jupyter.org/servername", "") != server:
        problem = "the pod's hub.jupyter.org annotations name another server"
    elif ((pod.get("status") or {}).get("phase")) != "Running" or not meta.get("uid"):
        problem = f"pod phase {((pod.get('status') or {}).get('phase'))!r}"
    containers = ((pod or {}).get("spec") or {}).get("containers") or []
    image = next((c.get("image") for c in containers if c.get("name") == NOTEBOOK_CONTAINER),
                 None)
    if problem is None and not image:
        problem = f"no {NOTEBOOK_CONTAINER!r} container with an image"
    if problem is not None:
        raise DaskForbidden(
            "Your notebook server's pod was not found running in Kubernetes, so no Dask "
            "cluster can be owned by it. Restart your server from the hub; if it persists, "
            "ask an Assay admin.", f"notebook pod {namespace}/{name} for {caller.user}:"
            f"{server}: {problem}", field="server", value=repr(server))
    return PodIdentity(name, meta["uid"], namespace), image


def _dask_profiles(config: AssayConfig, caller: Caller) -> list[str]:
    return [p.slug for p in usable(config, sorted(caller.groups)) if p.dask_workers]


def _option_of(message: str) -> str | None:
    return next((o for o in OPTIONS if message.startswith(o + "=")), None)


def sized(config: AssayConfig, caller: Caller, overrides: Mapping[str, Any]
          ) -> tuple[DaskProfile, Sizing]:
    """The caller's profile (from their session) and the sizing within it."""
    profile = config.profile(caller.profile or "")
    capable = _dask_profiles(config, caller)
    offered = ", ".join(capable) or "none (ask an Assay admin)"
    if profile is None or not profile.dask_workers:
        raise DaskForbidden(
            f"Profile '{caller.profile}' has no Dask workers. Start your server on a Dask "
            f"profile; those you may use: {offered}.", field="profile",
            value=repr(caller.profile), rule=f"one of: {offered}", dask_profiles=capable)
    dask_profile = DaskProfile.from_profile(profile, mode="kubernetes")
    try:
        return dask_profile, size(dask_profile, overrides)
    except DaskLimitExceeded as exc:
        field = _option_of(str(exc))
        unknown = sorted(set(overrides) - set(OPTIONS))
        field = field or (unknown[0] if unknown else None)
        value = repr(overrides.get(field)) if field in overrides else None
        rule = None if field in OPTIONS else "options: " + ", ".join(OPTIONS)
        raise DaskRefused(str(exc), field=field, value=value, rule=rule) from None
    except DaskUnavailable as exc:
        raise DaskForbidden(str(exc), field="profile", value=repr(caller.profile)) from None


def _args_value(args: list[str], flag: str) -> str | None:
    return args[args.index(flag) + 1] if flag in args and args.index(flag) + 1 < len(args) \
        else None


def describe(cluster: Mapping[str, Any]) -> dict[str, Any]:
    """What a user sees of one of their clusters."""
    meta = cluster.get("metadata") or {}
    name, namespace = meta.get("name", ""), meta.get("namespace", "")
    notes, tags = meta.get("annotations") or {}, meta.get("labels") or {}
    worker = ((cluster.get("spec") or {}).get("worker")) or {}
    containers = (worker.get("spec") or {}).get("containers") or [{}]
    args = [str(a) for a in containers[0].get("args") or []]
    owner = next(iter(meta.get("ownerReferences") or []), {})
    threads, memory = _args_value(args, "--nthreads"), _args_value(args, "--memory-limit")
    return {
        "name": name, "namespace": namespace, "user": notes.get(USER_ANNOTATION),
        "status": ((cluster.get("status") or {}).get("phase")) or "Pending",
        "scheduler_address": scheduler_address(name, namespace),
        "dashboard_link": notes.get(DASHBOARD_ANNOTATION),
        "profile": tags.get("assay/profile"), "server": notes.get(SERVER_ANNOTATION),
        "n_workers": worker.get("replicas"),
        "threads_per_worker": int(threads) if threads and threads.isdigit() else None,
        "memory_limit": int(memory) if memory and memory.isdigit() else None,
        "idle_timeout": (cluster.get("spec") or {}).get("idleTimeout"),
        "owner": {"kind": owner.get("kind"), "name": owner.get("name"),
                  "uid": owner.get("uid")},
        "created": meta.get("creationTimestamp"),
    }


class DaskClusters:
    """Create, list and delete the callers' clusters through ``backend``."""

    def __init__(self, backend: ClusterBackend):
        self.backend = backend
        # one create at a time per session (the service is one process): the existence
        # check and the create are not separated by another request of the same session
        self._lock = KeyedLocks()

    async def create(self, config: AssayConfig, caller: Caller, overrides: Mapping[str, Any],
                     broker_url: str) -> dict[str, Any]:
        _kubernetes_only(config)
        if not (caller.session_id and caller.token and caller.server is not None):
            raise DaskForbidden(
                "Dask clusters are created for notebook servers: call assay.dask.cluster() "
                "in a notebook (its kernel sends the server's session credential), not with "
                "a hub API token or a job run's credential.", field="credential")
        tag = session_tag(caller.session_id)
        lock = self._lock(tag)
        async with lock:
            return await self._create(config, caller, tag, overrides, broker_url)

    async def _create(self, config: AssayConfig, caller: Caller, tag: str,
                      overrides: Mapping[str, Any], broker_url: str) -> dict[str, Any]:
        profile, sizing = sized(config, caller, overrides)  # refusals need no API call
        namespace = config.kubernetes.namespace
        existing = await self.backend.clusters(namespace, {SESSION_LABEL: tag})
        if existing:
            found = existing[0]["metadata"]["name"]
            raise DaskConflict(
                f"This server already has a Dask cluster, {found}: one per server session. "
                f"Use it, or delete it first (cluster.close(), or DELETE dask/clusters/"
                f"{found}).", field="name", value=found, cluster=found)
        pod_name = notebook_pod_name(caller.user, caller.server or "")
        pod, image = owner_pod(await self.backend.notebook_pod(namespace, pod_name), caller,
                               namespace, pod_name)
        profile = replace(profile, image=image)  # the image the notebook runs
        name = cluster_name(caller.user, tag[:8])
        notes = {SERVER_ANNOTATION: caller.server or ""}
        if caller.server_url:
            notes[DASHBOARD_ANNOTATION] = (f"{caller.server_url.rstrip('/')}/proxy/"
                                           f"{scheduler_host(name, namespace)}:"
                                           f"{DASHBOARD_PORT}/status")
        resources = kube_resources(profile, sizing, user=caller.user, token=caller.token,
                                   broker_url=broker_url, pod=pod, kernel_id=caller.kernel_id,
                                   kube=config.kubernetes, name=name, session=tag,
                                   annotations=notes)
        created = await self.backend.create(resources)
        answer = describe(created)
        answer["gpu_workers"] = sum(g["spec"]["worker"]["replicas"]
                                    for g in resources.worker_groups)
        return answer

    async def mine(self, config: AssayConfig, caller: Caller) -> list[dict[str, Any]]:
        """The caller's clusters (all of their servers); an admin's: everyone's."""
        _kubernetes_only(config)
        selector = {"app.kubernetes.io/managed-by": "assay"}
        if not caller.admin:
            selector["assay/user"] = label(caller.user)
        found = await self.backend.clusters(config.kubernetes.namespace, selector)
        return [describe(c) for c in found if _owned(c, caller)]

    async def delete(self, config: AssayConfig, caller: Caller, name: str) -> dict[str, Any]:
        _kubernetes_only(config)
        namespace = config.kubernetes.namespace
        cluster = await self.backend.cluster(namespace, name) if _plausible(name) else None
        if cluster is None or not _owned(cluster, caller):
            # someone else's cluster answers as a missing one: names are not disclosed
            raise DaskNotFound(f"You have no Dask cluster named {name[:80]!r}. GET "
                               "dask/clusters lists yours.", field="name", value=repr(name[:80]))
        await self.backend.delete(namespace, name)
        return describe(cluster)


def _kubernetes_only(config: AssayConfig) -> None:
    if config.mode != "kubernetes":
        raise DaskRefused(
            "The Assay service manages Dask clusters in Kubernetes mode only; on this hub "
            "assay.dask.cluster() starts a LocalCluster inside the kernel, which ends with "
            "the kernel or its idle timeout.", field="mode", value=repr(config.mode),
            rule="kubernetes")


def _owned(cluster: Mapping[str, Any], caller: Caller) -> bool:
    """Assay made it, for the caller (or the caller is an admin)."""
    meta = cluster.get("metadata") or {}
    return ((meta.get("labels") or {}).get("app.kubernetes.io/managed-by") == "assay"
            and (caller.admin or (meta.get("annotations") or {}).get(USER_ANNOTATION)
                 == caller.user))


def _plausible(name: str) -> bool:
    """A DNS label that ``cluster_name`` could have made."""
    return (0 < len(name) <= 63 and name.startswith("dask-") and name.isascii()
            and all(c.isalnum() and not c.isupper() or c == "-" for c in name))
