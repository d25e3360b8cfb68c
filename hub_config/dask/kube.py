"""A notebook's Dask cluster as Kubernetes resources for the dask-kubernetes operator:
pure data, no cluster, no I/O.

- a ``Secret`` holding the server's session credential (so it is not in the
  ``DaskCluster`` spec, which more people may read), given to the workers as
  ``ASSAY_SESSION_TOKEN`` with ``ASSAY_BROKER_URL`` and ``ASSAY_KERNEL_ID``, so their reads
  go through the broker as the notebook's reads do;
- a ``DaskCluster`` (``kubernetes.dask.org/v1``): scheduler and workers run the notebook's
  own image (no version drift), workers sized by the profile, ``idleTimeout`` on;
- for a GPU profile a ``DaskWorkerGroup`` of ``gpus`` workers with one GPU each, on the GPU
  nodes (node selector, tolerations) and with the Dask resource ``GPU=1``.

Every resource has an ``ownerReference`` to the notebook pod (which the Assay service
reads from the Kubernetes API, ``service.py``), so deleting the pod deletes the cluster;
owners must be in the same namespace. Labels carry the user, profile, zone and a digest of
the session (one cluster per session); annotations the exact user and server names.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..config.schema import Kubernetes
from ..errors import DaskUnavailable
from ..spawners.objects import GPU_SCHEDULING_ENV
from .spec import DEATH_TIMEOUT, DaskProfile, Sizing

API_VERSION = "kubernetes.dask.org/v1"
SECRET_KEY = "ASSAY_SESSION_TOKEN"
SESSION_LABEL = "assay/session"
USER_ANNOTATION = "assay/user"
SCHEDULER_PORT = 8786
DASHBOARD_PORT = 8787
SCHEDULER_RESOURCES = {"requests": {"cpu": "250m", "memory": "512Mi"},
                       "limits": {"cpu": "1", "memory": "2Gi"}}
_LABEL_VALUE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class PodIdentity:
    """The notebook pod: owner of its Dask cluster."""

    name: str
    uid: str
    namespace: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> PodIdentity:
        missing = [n for n in ("ASSAY_POD_NAME", "ASSAY_POD_UID", "ASSAY_POD_NAMESPACE")
                   if not environ.get(n)]
        if missing:
            raise DaskUnavailable(
                f"{', '.join(missing)} not set: the notebook pod must expose its name, uid and "
                "namespace (downward API, set by Assay's KubeSpawner profiles) so that its Dask "
                "cluster is deleted with it. Ask an Assay admin to redeploy with Assay's "
                "spawner.")
        return cls(environ["ASSAY_POD_NAME"], environ["ASSAY_POD_UID"],
                   environ["ASSAY_POD_NAMESPACE"])

    def owner_reference(self) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Pod", "name": self.name, "uid": self.uid,
                "blockOwnerDeletion": False, "controller": False}


@dataclass(frozen=True)
class KubeResources:
    """What ``assay.dask.cluster()`` creates in Kubernetes mode, in that order."""

    secret: dict[str, Any] | None  # None: the server has no session credential
    cluster: dict[str, Any]
    worker_groups: list[dict[str, Any]] = field(default_factory=list)


def cluster_name(user: str, suffix: str | None = None) -> str:
    """``dask-<user>-<random>``: a DNS label (≤ 40 characters, room for the operator's
    suffixes)."""
    base = re.sub(r"[^a-z0-9-]+", "-", user.lower()).strip("-")[:20].strip("-") or "user"
    return f"dask-{base}-{suffix or secrets.token_hex(4)}"


def label(value: str) -> str:
    """A valid label value (≤ 63 of ``A-Za-z0-9._-``, alphanumeric at both ends)."""
    return _LABEL_VALUE.sub("-", value)[:63].strip("._-")


def labels(profile: DaskProfile, user: str, pod: PodIdentity,
           session: str | None = None) -> dict[str, str]:
    """``session``: a digest of the session credential's id (one cluster per session)."""
    tags = {"app.kubernetes.io/managed-by": "assay", "assay/user": label(user),
            "assay/profile": profile.slug, "assay/zone": profile.zone,
            "assay/notebook-pod": label(pod.name)}
    if session:
        tags[SESSION_LABEL] = label(session)
    return tags


def scheduler_host(name: str, namespace: str) -> str:
    """The scheduler's Service as the operator names it (``<cluster>-scheduler``)."""
    return f"{name}-scheduler.{namespace}.svc.cluster.local"


def scheduler_address(name: str, namespace: str) -> str:
    return f"tcp://{scheduler_host(name, namespace)}:{SCHEDULER_PORT}"


def _metadata(name: str, pod: PodIdentity, tags: dict[str, str],
              notes: Mapping[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": pod.namespace, "labels": dict(tags),
                            "ownerReferences": [pod.owner_reference()]}
    if notes:  # labels are cut to a label's alphabet: exact values go in annotations
        meta["annotations"] = dict(notes)
    return meta


def session_secret(name: str, token: str, pod: PodIdentity, tags: dict[str, str],
                   notes: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The ``Secret`` the workers read the session credential from."""
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": _metadata(name, pod, tags, notes), "stringData": {SECRET_KEY: token}}


def worker_env(secret: str | None, broker_url: str, kernel_id: str | None,
               profile: DaskProfile) -> list[dict[str, Any]]:
    """The workers' environment: the notebook's credential (from the Secret), broker, kernel."""
    env: list[dict[str, Any]] = [
        {"name": "ASSAY_PROFILE", "value": profile.slug},
        {"name": "ASSAY_ZONE", "value": profile.zone},
        {"name": "ASSAY_MODE", "value": "kubernetes"},
    ]
    if secret:
        env += [{"name": SECRET_KEY,
                 "valueFrom": {"secretKeyRef": {"name": secret, "key": SECRET_KEY}}},
                {"name": "ASSAY_BROKER_URL", "value": broker_url}]
    if kernel_id:
        env.append({"name": "ASSAY_KERNEL_ID", "value": kernel_id})
    return env


def gpu_scheduling(environ: Mapping[str, str]) -> Kubernetes:
    """How GPU pods are scheduled, from ``ASSAY_GPU_SCHEDULING`` (set for GPU profiles by
    ``assay.spawners.objects``); the defaults of ``kubernetes:`` in ``assay.yaml`` without."""
    raw = environ.get(GPU_SCHEDULING_ENV, "")
    if not raw:
        return Kubernetes()
    try:
        return Kubernetes.model_validate_json(base64.b64decode(raw, validate=True))
    except (ValueError, binascii.Error) as exc:
        raise DaskUnavailable(f"{GPU_SCHEDULING_ENV} in this server's environment is not "
                              "what the spawner sets; restart the server from the hub, and if "
                              f"it persists ask an Assay admin ({type(exc).__name__}).") from None


def _quantity(cpus: float) -> str:
    return f"{cpus:g}"


def worker_resources(profile: DaskProfile, sizing: Sizing) -> dict[str, dict[str, str]]:
    """Limits: the worker's threads and memory; requests: the profile's guarantees, capped."""
    cpu_request = min(profile.cpu_guarantee or sizing.threads_per_worker,
                      sizing.threads_per_worker)
    memory_request = min(profile.memory_guarantee or sizing.memory_limit, sizing.memory_limit)
    return {"limits": {"cpu": _quantity(sizing.threads_per_worker),
                       "memory": str(sizing.memory_limit)},
            "requests": {"cpu": _quantity(cpu_request), "memory": str(memory_request)}}


def worker_container(image: str, sizing: Sizing, env: list[dict[str, Any]],
                     resources: dict[str, dict[str, str]],
                     dask_resources: str | None = None) -> dict[str, Any]:
    args = ["dask", "worker", "--name", "$(DASK_WORKER_NAME)", "--dashboard",
            "--dashboard-address", "8788", "--nthreads", str(sizing.threads_per_worker),
            "--memory-limit", str(sizing.memory_limit), "--death-timeout", DEATH_TIMEOUT]
    if dask_resources:
        args += ["--resources", dask_resources]
    return {"name": "worker", "image": image, "args": args, "env": env,
            "resources": resources,
            "ports": [{"name": "http-dashboard", "containerPort": 8788, "protocol": "TCP"}]}


def scheduler_spec(name: str, image: str) -> dict[str, Any]:
    """The scheduler pod and service, as dask-kubernetes' ``make_scheduler_spec`` has them."""
    probe = {"httpGet": {"port": "http-dashboard", "path": "/health"}}
    container = {
        "name": "scheduler", "image": image, "args": ["dask", "scheduler", "--host", "0.0.0.0"],
        "resources": SCHEDULER_RESOURCES,
        "ports": [{"name": "tcp-comm", "containerPort": 8786, "protocol": "TCP"},
                  {"name": "http-dashboard", "containerPort": 8787, "protocol": "TCP"}],
        "readinessProbe": {**probe, "initialDelaySeconds": 0, "periodSeconds": 1,
                           "timeoutSeconds": 300},
        "livenessProbe": {**probe, "initialDelaySeconds": 15, "periodSeconds": 20},
    }
    service = {
        "type": "ClusterIP",
        "selector": {"dask.org/cluster-name": name, "dask.org/component": "scheduler"},
        "ports": [{"name": "tcp-comm", "protocol": "TCP", "port": 8786, "targetPort": "tcp-comm"},
                  {"name": "http-dashboard", "protocol": "TCP", "port": 8787,
                   "targetPort": "http-dashboard"}],
    }
    return {"spec": {"containers": [container]}, "service": service}


def gpu_worker_group(name: str, profile: DaskProfile, sizing: Sizing, image: str,
                     env: list[dict[str, Any]], pod: PodIdentity, tags: dict[str, str],
                     kube: Kubernetes, notes: Mapping[str, str] | None = None
                     ) -> dict[str, Any]:
    """``profile.gpus`` workers with one GPU each, on the GPU nodes."""
    resources = worker_resources(profile, sizing)
    resources["limits"][kube.gpu_resource] = "1"
    container = worker_container(image, sizing, env, resources, dask_resources="GPU=1")
    spec: dict[str, Any] = {"containers": [container]}
    if kube.gpu_node_selector:
        spec["nodeSelector"] = dict(kube.gpu_node_selector)
    if kube.gpu_tolerations:
        spec["tolerations"] = [t.model_dump(exclude_none=True) for t in kube.gpu_tolerations]
    return {"apiVersion": API_VERSION, "kind": "DaskWorkerGroup",
            "metadata": _metadata(f"{name}-gpu", pod, tags, notes),
            "spec": {"cluster": name, "worker": {"replicas": profile.gpus, "spec": spec}}}


def kube_resources(profile: DaskProfile, sizing: Sizing, *, user: str, token: str | None,
                   broker_url: str, pod: PodIdentity, kernel_id: str | None = None,
                   kube: Kubernetes | None = None, name: str | None = None,
                   session: str | None = None,
                   annotations: Mapping[str, str] | None = None) -> KubeResources:
    """Secret, DaskCluster and (GPU profiles) DaskWorkerGroup for this notebook; each
    labelled with ``session`` (when given) and annotated with the exact user name (and
    ``annotations``)."""
    kube = kube or Kubernetes()
    if not profile.image:
        raise DaskUnavailable(
            "JUPYTER_IMAGE_SPEC is not set, so the notebook's image is unknown and the Dask "
            "workers cannot run the same one. KubeSpawner sets it; ask an Assay admin.")
    name = name or cluster_name(user)
    tags = labels(profile, user, pod, session)
    notes = {USER_ANNOTATION: user, **(annotations or {})}
    secret_name = f"{name}-session" if token else None
    env = worker_env(secret_name, broker_url, kernel_id, profile)
    worker = worker_container(profile.image, sizing, env, worker_resources(profile, sizing))
    cluster = {
        "apiVersion": API_VERSION, "kind": "DaskCluster",
        "metadata": _metadata(name, pod, tags, notes),
        "spec": {
            "idleTimeout": int(sizing.idle_timeout),
            "worker": {"replicas": sizing.n_workers, "spec": {"containers": [worker]}},
            "scheduler": scheduler_spec(name, profile.image),
        },
    }
    groups = ([gpu_worker_group(name, profile, sizing, profile.image, env, pod, tags, kube,
                                notes)] if profile.gpus else [])
    secret = session_secret(secret_name, token, pod, tags, notes) if secret_name else None
    return KubeResources(secret, cluster, groups)
