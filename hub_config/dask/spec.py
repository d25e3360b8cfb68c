"""How big a notebook's Dask cluster may be: pure functions, no cluster, no I/O.

The profile reaches the kernel as the environment the spawner set (``ASSAY_PROFILE``,
``ASSAY_MODE``, ``ASSAY_DASK_WORKERS``, ``ASSAY_GPUS``, ``ASSAY_ZONE``, and JupyterHub's
``CPU_LIMIT``/``MEM_LIMIT``); ``DaskProfile.from_env`` reads it, ``DaskProfile.from_profile``
builds the same from ``assay.yaml``. ``size`` applies the user's overrides within the
profile's bounds, ``local_cluster_kwargs`` turns the result into ``LocalCluster`` arguments.
The Kubernetes resources are built in ``kube.py``.

Bounds: **local mode** — the workers share the server's machine and limits, so all
workers together get at most ``floor(cpu.limit)`` threads (at least one per worker) and
``memory.limit`` bytes (by default ``WORKER_MEMORY_SHARE`` of it: the rest stays for the
kernel and the server). **Kubernetes mode** — each worker is a pod of the profile's size:
at most ``floor(cpu.limit)`` threads and ``memory.limit`` bytes per worker. Always at most
``dask_workers`` workers.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..config.schema import MEMORY, Profile, memory_bytes
from ..errors import DaskLimitExceeded, DaskUnavailable

MODES = ("local", "kubernetes")
OPTIONS = ("n_workers", "threads_per_worker", "memory_limit", "idle_timeout")
DEFAULT_IDLE_TIMEOUT = 1800.0  # seconds: 30 minutes without tasks closes the cluster
MAX_IDLE_TIMEOUT = 24 * 3600.0
IDLE_TIMEOUT_ENV = "ASSAY_DASK_IDLE_TIMEOUT"
WORKER_MEMORY_SHARE = 0.75  # local mode: the workers' default share of memory.limit
DEATH_TIMEOUT = "60s"  # a worker whose scheduler is gone this long stops
ASK = "ask an Assay admin for a profile with more"


@dataclass(frozen=True)
class DaskProfile:
    """What ``assay.dask`` needs to know about the server's profile."""

    slug: str
    mode: str
    cpu_limit: float
    memory_limit: int  # bytes
    workers: int
    gpus: int = 0
    zone: str = "standard"
    cpu_guarantee: float | None = None
    memory_guarantee: int | None = None
    image: str | None = None
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT

    @classmethod
    def from_profile(cls, profile: Profile, mode: str = "local",
                     image: str | None = None) -> DaskProfile:
        guarantee = profile.memory.guarantee
        return cls(slug=profile.slug, mode=mode, cpu_limit=float(profile.cpu.limit),
                   memory_limit=memory_bytes(profile.memory.limit), workers=profile.dask_workers,
                   gpus=profile.gpus, zone=profile.zone, cpu_guarantee=profile.cpu.guarantee,
                   memory_guarantee=memory_bytes(guarantee) if guarantee else None,
                   image=image or profile.image)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> DaskProfile:
        """The profile of this server, from the environment its spawner set."""
        env = os.environ if environ is None else environ
        slug = env.get("ASSAY_PROFILE", "")
        if not slug:
            raise DaskUnavailable(
                "Not in an Assay server session: ASSAY_PROFILE is not set. A Dask cluster "
                "can only be started from a notebook on a server started from the Assay hub "
                "with a Dask profile (e.g. 'dask').")
        mode = env.get("ASSAY_MODE", "local")
        if mode not in MODES:
            raise DaskUnavailable(f"ASSAY_MODE={mode!r} is not a mode assay.dask knows "
                                  f"(valid: {', '.join(MODES)}); ask an Assay admin.")
        idle = env.get(IDLE_TIMEOUT_ENV)
        return cls(slug=slug, mode=mode, cpu_limit=_number(env, "CPU_LIMIT", float),
                   memory_limit=_number(env, "MEM_LIMIT", int),
                   workers=_number(env, "ASSAY_DASK_WORKERS", int),
                   gpus=_number(env, "ASSAY_GPUS", int, 0), zone=env.get("ASSAY_ZONE", "standard"),
                   cpu_guarantee=_number(env, "CPU_GUARANTEE", float, None),
                   memory_guarantee=_number(env, "MEM_GUARANTEE", int, None),
                   image=env.get("JUPYTER_IMAGE_SPEC") or env.get("JUPYTER_IMAGE") or None,
                   idle_timeout=(idle_timeout_seconds(idle, IDLE_TIMEOUT_ENV) if idle
                                 else DEFAULT_IDLE_TIMEOUT))


_MISSING = object()


def _number(env: Mapping[str, str], name: str, kind: type, default: Any = _MISSING) -> Any:
    raw = env.get(name, "")
    if raw == "" and default is not _MISSING:
        return default
    try:
        value = kind(float(raw)) if kind is int else kind(raw)
    except ValueError:
        value = None
    if value is None or value < 0 or (value == 0 and name in ("CPU_LIMIT", "MEM_LIMIT")):
        raise DaskUnavailable(
            f"{name}={raw!r} in this server's environment is not a valid "
            f"{'count' if kind is int else 'number'}; the hub's spawner sets it from the "
            "profile. Restart the server from the hub; if it persists, ask an Assay admin.")
    return value


@dataclass(frozen=True)
class Sizing:
    """The cluster to start: per-worker threads and memory (bytes), idle timeout (s)."""

    n_workers: int
    threads_per_worker: int
    memory_limit: int
    idle_timeout: float


def cpu_threads(profile: DaskProfile) -> int:
    """Whole CPUs of the profile (at least one)."""
    return max(1, math.floor(profile.cpu_limit))


def size(profile: DaskProfile, overrides: Mapping[str, Any] | None = None) -> Sizing:
    """The profile's cluster with ``overrides`` applied; refuses anything beyond bounds."""
    options = dict(overrides or {})
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise DaskLimitExceeded(
            f"assay.dask.cluster() has no option {', '.join(map(repr, unknown))}. "
            f"Options: {', '.join(OPTIONS)}.")
    if profile.workers < 1:
        raise DaskUnavailable(
            f"Profile '{profile.slug}' has no Dask workers (dask_workers: 0). Start your server "
            "on a profile with Dask workers, e.g. 'dask' (File > Hub Control Panel); if none "
            "is offered to you, ask an Assay admin.")
    n = _count(options, "n_workers", profile.workers)
    if n > profile.workers:
        raise DaskLimitExceeded(
            f"n_workers={n} is more than profile '{profile.slug}' allows: at most "
            f"{profile.workers} (dask_workers). Choose 1 to {profile.workers}, or {ASK} "
            "Dask workers.")
    threads = _count(options, "threads_per_worker", _default_threads(profile, n))
    _check_threads(profile, n, threads)
    memory = _memory(options, profile, n)
    _check_memory(profile, n, memory)
    idle = options.get("idle_timeout")
    timeout = (profile.idle_timeout if idle is None
               else idle_timeout_seconds(idle, "idle_timeout"))
    return Sizing(n, threads, memory, timeout)


def _count(options: Mapping[str, Any], name: str, default: int) -> int:
    value = options.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DaskLimitExceeded(f"{name}={value!r} is not valid: give a whole number ≥ 1.")
    return value


def _default_threads(profile: DaskProfile, n: int) -> int:
    if profile.mode == "kubernetes":
        return cpu_threads(profile)
    return max(1, cpu_threads(profile) // n)


def _check_threads(profile: DaskProfile, n: int, threads: int) -> None:
    if profile.mode == "kubernetes":
        if threads > cpu_threads(profile):
            raise DaskLimitExceeded(
                f"threads_per_worker={threads} is more than profile '{profile.slug}' allows: "
                f"at most {cpu_threads(profile)} per worker (cpu.limit: {profile.cpu_limit:g}). "
                f"Choose 1 to {cpu_threads(profile)}, or {ASK} CPUs.")
        return
    allowed = max(cpu_threads(profile), n)
    if n * threads > allowed:
        raise DaskLimitExceeded(
            f"threads_per_worker={threads} with n_workers={n} is {n * threads} threads, more "
            f"than profile '{profile.slug}' allows: {allowed} in all (cpu.limit: "
            f"{profile.cpu_limit:g}). Choose threads_per_worker ≤ {max(1, allowed // n)}, "
            f"or {ASK} CPUs.")


def _memory(options: Mapping[str, Any], profile: DaskProfile, n: int) -> int:
    value = options.get("memory_limit")
    if value is None:
        if profile.mode == "kubernetes":
            return profile.memory_limit
        return int(profile.memory_limit * WORKER_MEMORY_SHARE) // n
    return memory_value(value)


def memory_value(value: Any) -> int:
    """Bytes from an int or a size such as ``"2G"`` (GiB, as in ``assay.yaml``) or
    ``"2GB"``/``"2GiB"`` (Dask's notation)."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str) and MEMORY.match(value.strip()):
        return memory_bytes(value.strip())
    if isinstance(value, str):
        from dask.utils import parse_bytes

        try:
            parsed = parse_bytes(value)
        except ValueError:
            parsed = 0
        if parsed > 0:
            return int(parsed)
    raise DaskLimitExceeded(f"memory_limit={value!r} is not valid: give bytes (an int > 0) "
                            "or a size such as '2G', '512M' or '1.5GiB'.")


def _check_memory(profile: DaskProfile, n: int, memory: int) -> None:
    limit = profile.memory_limit
    if profile.mode == "kubernetes":
        if memory > limit:
            raise DaskLimitExceeded(
                f"memory_limit={_gib(memory)} per worker is more than profile "
                f"'{profile.slug}' allows: {_gib(limit)} per worker (memory.limit). Choose at "
                f"most {_gib(limit)}, or {ASK} memory.")
        return
    if n * memory > limit:
        raise DaskLimitExceeded(
            f"memory_limit={_gib(memory)} per worker × {n} workers is {_gib(n * memory)}, more "
            f"than profile '{profile.slug}' allows: {_gib(limit)} in all (memory.limit). "
            f"Choose at most {_gib(limit // n)} per worker, or {ASK} memory.")


def _gib(value: int) -> str:
    return f"{value / 1024**3:.2f} GiB"


def idle_timeout_seconds(value: Any, name: str) -> float:
    """Seconds from a number or a duration such as ``"30m"``; refused outside 1 s – 24 h."""
    seconds: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        from dask.utils import parse_timedelta

        try:
            seconds = float(parse_timedelta(value.strip(), default="s"))
        except (ValueError, KeyError, TypeError):
            seconds = None
    if seconds is None or not math.isfinite(seconds) or not 1 <= seconds <= MAX_IDLE_TIMEOUT:
        raise DaskLimitExceeded(
            f"{name}={value!r} is not valid: give seconds or a duration such as '30m', from "
            "1 s to 24 h. The idle timeout cannot be switched off: an idle cluster closes so "
            "that it does not hold its CPUs and memory.")
    return seconds


def local_cluster_kwargs(sizing: Sizing, kernel_id: str | None = None) -> dict[str, Any]:
    """``distributed.LocalCluster`` arguments: worker processes on loopback, the dashboard
    on a random loopback port, the scheduler's idle timeout. The workers inherit the
    kernel's environment (session credential, broker URL); ``ASSAY_KERNEL_ID`` tells them
    whose reads they do."""
    return {
        "n_workers": sizing.n_workers,
        "threads_per_worker": sizing.threads_per_worker,
        "memory_limit": sizing.memory_limit,
        "processes": True,
        "host": "127.0.0.1",
        "dashboard_address": "127.0.0.1:0",
        "scheduler_kwargs": {"idle_timeout": f"{sizing.idle_timeout:g}s"},
        "death_timeout": DEATH_TIMEOUT,
        "env": {"ASSAY_KERNEL_ID": kernel_id} if kernel_id else {},
    }


def dashboard_link_template(mode: str, environ: Mapping[str, str] | None = None) -> str | None:
    """Dask's ``distributed.dashboard.link``: through jupyter-server-proxy on this server
    (``{JUPYTERHUB_SERVICE_PREFIX}proxy/{port}/status``), or None outside a hub server."""
    env = os.environ if environ is None else environ
    if not env.get("JUPYTERHUB_SERVICE_PREFIX"):
        return None
    target = "{port}" if mode == "local" else "{host}:{port}"
    return "{JUPYTERHUB_SERVICE_PREFIX}proxy/" + target + "/status"
