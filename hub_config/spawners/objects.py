"""Assay profiles as KubeSpawner ``profile_list`` entries: pure data, no cluster, no I/O.

Each entry's ``kubespawner_override`` fully describes one profile, so applying the
entries of two profiles one after the other on the same spawner leaves nothing of
the first one behind *provided* the spawner resets every trait in
``OVERRIDDEN_TRAITS`` before applying (``AssayKubeSpawner`` does). As a second line
of defence a CPU profile also deletes, through KubeSpawner's ``None`` merge rule,
the GPU keys a previous GPU profile could have merged into dict traits.
"""

from __future__ import annotations

import base64
from typing import Any

from ..config.schema import Kubernetes, Profile, Toleration
from ..profiles import summary

#: Every spawner trait an Assay ``kubespawner_override`` may set.
OVERRIDDEN_TRAITS: tuple[str, ...] = (
    "cpu_limit",
    "cpu_guarantee",
    "mem_limit",
    "mem_guarantee",
    "image",
    "environment",
    "extra_labels",
    "extra_resource_limits",
    "extra_resource_guarantees",
    "node_selector",
    "tolerations",
)

PROFILE_LABEL = "assay/profile"
ZONE_LABEL = "assay/zone"


def environment(profile: Profile) -> dict[str, str]:
    """What the single-user server learns about its profile (same names as local mode)."""
    return {
        "ASSAY_PROFILE": profile.slug,
        "ASSAY_ZONE": profile.zone,
        "ASSAY_DASK_WORKERS": str(profile.dask_workers),
        "ASSAY_GPUS": str(profile.gpus),
    }


#: The notebook pod's own identity, as env names → downward-API field paths: the owner
#: of its Dask cluster (``assay.dask``), so that deleting the pod deletes the cluster.
POD_IDENTITY_ENV = {"ASSAY_POD_NAME": "metadata.name", "ASSAY_POD_UID": "metadata.uid",
                    "ASSAY_POD_NAMESPACE": "metadata.namespace"}


def pod_identity_environment() -> dict[str, dict[str, Any]]:
    """``POD_IDENTITY_ENV`` as KubeSpawner ``environment`` entries (fresh dicts)."""
    return {name: {"valueFrom": {"fieldRef": {"fieldPath": path}}}
            for name, path in POD_IDENTITY_ENV.items()}


#: GPU profiles: how GPU pods are scheduled (resource name, node selector, tolerations), as
#: base64 JSON (KubeSpawner would expand braces), for the notebook's Dask GPU workers.
GPU_SCHEDULING_ENV = "ASSAY_GPU_SCHEDULING"
GPU_SCHEDULING_FIELDS = {"gpu_resource", "gpu_node_selector", "gpu_tolerations"}


def gpu_scheduling_environment(profile: Profile, kube: Kubernetes) -> dict[str, str]:
    if not profile.gpus:
        return {}
    raw = kube.model_dump_json(include=GPU_SCHEDULING_FIELDS, exclude_none=True)
    return {GPU_SCHEDULING_ENV: base64.b64encode(raw.encode()).decode()}


def toleration(item: Toleration) -> dict[str, str]:
    """A Kubernetes ``Toleration`` object (camelCase keys, no nulls)."""
    return item.model_dump(exclude_none=True)


def _gpu_overrides(profile: Profile, kube: Kubernetes) -> dict[str, Any]:
    if profile.gpus:
        return {
            "extra_resource_limits": {kube.gpu_resource: str(profile.gpus)},
            "node_selector": dict(kube.gpu_node_selector),
            "tolerations": [toleration(t) for t in kube.gpu_tolerations],
        }
    # None deletes a key when KubeSpawner merges a dict override into a dict trait.
    return {
        "extra_resource_limits": {kube.gpu_resource: None},
        "extra_resource_guarantees": {kube.gpu_resource: None},
        "node_selector": dict.fromkeys(kube.gpu_node_selector),
    }


def overrides(profile: Profile, kube: Kubernetes) -> dict[str, Any]:
    """``kubespawner_override`` for one profile."""
    return {
        "cpu_limit": float(profile.cpu.limit),
        "cpu_guarantee": (float(profile.cpu.guarantee)
                          if profile.cpu.guarantee is not None else None),
        "mem_limit": profile.memory.limit,
        "mem_guarantee": profile.memory.guarantee,
        "image": profile.image or kube.image,
        "environment": {**environment(profile), **pod_identity_environment(),
                        **gpu_scheduling_environment(profile, kube)},
        "extra_labels": {PROFILE_LABEL: profile.slug, ZONE_LABEL: profile.zone},
        **_gpu_overrides(profile, kube),
    }


def profile_entry(profile: Profile, kube: Kubernetes) -> dict[str, Any]:
    """One KubeSpawner ``profile_list`` entry."""
    return {
        "display_name": profile.display_name,
        "slug": profile.slug,
        "description": profile.description or summary(profile),
        "default": profile.default,
        "kubespawner_override": overrides(profile, kube),
    }


def profile_list(profiles: list[Profile], kube_settings: Kubernetes) -> list[dict[str, Any]]:
    """KubeSpawner ``profile_list`` for ``profiles`` (already filtered for the user).

    The default is the first profile marked ``default``, else the first one, as
    ``assay.profiles.choose`` picks it; exactly one entry carries ``default: True``.
    """
    entries = [profile_entry(p, kube_settings) for p in profiles]
    chosen = next((e for e in entries if e["default"]), entries[0] if entries else None)
    for entry in entries:
        entry["default"] = entry is chosen
    return entries
