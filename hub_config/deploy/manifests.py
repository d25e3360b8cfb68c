"""The Kubernetes objects Assay needs beside the chart: pure data, no cluster, no I/O.

* the namespace (``kubernetes.namespace``);
* a ConfigMap holding ``assay.yaml`` as written (the hub and the Assay service read it);
* a PersistentVolumeClaim for the Assay service's local folders (datasets under
  ``data.root``, a ``file://`` output store) when the config has any; S3 credentials are
  not objects here but a Secret referenced by name from the values;
* the hub's ServiceAccount (the chart binds its own Role to it too) with a Role for what
  the Assay service does in the namespace: job runs as ``batch/v1`` Jobs with a per-run
  Secret, reading their pods and logs, and the notebooks' Dask clusters
  (``kubernetes.dask.org``: the service reads the caller's pod and creates the cluster's
  Secret, ``DaskCluster`` and GPU ``DaskWorkerGroup`` for them, see ``assay.dask.service``).

Notebook pods get no Role: with Kubernetes API rights a user could read other users'
Secrets or mount any Secret of the namespace in a DaskCluster's pods.
"""

from __future__ import annotations

from typing import Any

from ..config.schema import AssayConfig
from .values import CONFIG_MAP, HUB_SERVICE_ACCOUNT, STORAGE_CLAIM, DeployOptions, local_storage

LABELS = {"app.kubernetes.io/part-of": "assay"}
ROLE = "assay-hub"

#: What the Assay service does with the Kubernetes API (jobs/executors/kubernetes.py:
#: Jobs, their Secrets, pods and logs; dask/backend.py: the caller's pod, each cluster's
#: Secret, DaskCluster and DaskWorkerGroup). Secrets are never read back: no ``get``.
RULES: list[dict[str, Any]] = [
    {"apiGroups": ["batch"], "resources": ["jobs"],
     "verbs": ["create", "get", "list", "watch", "delete"]},
    {"apiGroups": ["batch"], "resources": ["jobs/status"], "verbs": ["get"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create", "delete"]},
    {"apiGroups": ["kubernetes.dask.org"], "resources": ["daskclusters"],
     "verbs": ["create", "get", "list", "delete"]},
    {"apiGroups": ["kubernetes.dask.org"], "resources": ["daskworkergroups"],
     "verbs": ["create", "delete"]},
]


def _metadata(name: str, namespace: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": dict(LABELS)}
    if namespace:
        meta["namespace"] = namespace
    return meta


def namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": _metadata(name)}


def config_map(name_space: str, yaml_text: str) -> dict[str, Any]:
    """``assay.yaml`` exactly as the admin wrote it (comments included)."""
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": _metadata(CONFIG_MAP, name_space), "data": {"assay.yaml": yaml_text}}


def storage_claim(name_space: str, options: DeployOptions) -> dict[str, Any]:
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": options.storage_size}}}
    if options.storage_class is not None:
        spec["storageClassName"] = options.storage_class
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": _metadata(STORAGE_CLAIM, name_space), "spec": spec}


def service_account(name_space: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": _metadata(HUB_SERVICE_ACCOUNT, name_space)}


def role(name_space: str) -> dict[str, Any]:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": _metadata(ROLE, name_space),
            "rules": [dict(rule) for rule in RULES]}


def role_binding(name_space: str) -> dict[str, Any]:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": _metadata(ROLE, name_space),
            "subjects": [{"kind": "ServiceAccount", "name": HUB_SERVICE_ACCOUNT,
                          "namespace": name_space}],
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                        "name": ROLE}}


def manifests(config: AssayConfig, yaml_text: str,
              options: DeployOptions | None = None) -> list[dict[str, Any]]:
    """Every object, in the order ``kubectl apply`` should create them."""
    options = options or DeployOptions()
    ns = config.kubernetes.namespace
    objects = [namespace(ns), config_map(ns, yaml_text)]
    if local_storage(config):
        objects.append(storage_claim(ns, options))
    return objects + [service_account(ns), role(ns), role_binding(ns)]
