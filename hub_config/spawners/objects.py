"""Assay profiles as KubeSpawner ``profile_list`` entries: pure data, no cluster, no I/O.

Each entry's ``kubespawner_override`` fully describes one profile, so applying the
entries of two profiles one after the other on the same spawner leaves nothing of
the first one behind *provided* the spawner resets every trait in
``OVERRIDDEN_TRAITS`` before applying (``AssayKubeSpawner`` does). As a second line
of defence a CPU profile also deletes, through KubeSpawner's ``None`` merge rule,
the GPU keys a previous GPU profile could have merged into dict traits.
"""

from __future__ import annotations

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
    }


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
        "environment": environment(profile),
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
