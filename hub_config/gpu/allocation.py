"""The allocation rules, pure: given the inventory and the current holdings, which GPUs a
holder gets, which it may restore, and how holdings are shown. No database, no clock.

A holder is a name plus a kind: ``server`` (``user`` or ``user:server``, held by the
hub's spawners) or ``run`` (``job-run:<id>``, held by the jobs scheduler).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import NamedTuple

SERVER = "server"
RUN = "run"
KINDS = (SERVER, RUN)


class Holding(NamedTuple):
    """One held GPU (a row of ``assay_gpu_holdings``)."""

    gpu_id: str
    holder: str
    kind: str


class NotEnoughGPUs(Exception):
    def __init__(self, wanted: int, free: int, total: int, holders: dict[str, list[str]]):
        super().__init__(f"wanted {wanted}, {free} of {total} free")
        self.wanted, self.free, self.total, self.holders = wanted, free, total, holders

    def describe_holders(self) -> str:
        return "; ".join(f"{h}: {','.join(ids)}" for h, ids in sorted(self.holders.items()))


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"GPU holder kind must be one of {', '.join(KINDS)}, got {kind!r}")
    return kind


def device_order(devices: list[str]) -> Callable[[str], tuple]:
    """Sort key: inventory order; ids no longer in the inventory after, in natural order."""
    position = {gpu: i for i, gpu in enumerate(devices)}

    def key(gpu: str) -> tuple:
        if gpu in position:
            return (0, position[gpu], ())
        parts = re.split(r"(\d+)", gpu)
        return (1, 0, tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts))

    return key


def by_holder(rows: Iterable[Holding], devices: list[str]) -> dict[str, list[str]]:
    """``{holder: [gpu ids in inventory order]}``."""
    held: dict[str, list[str]] = {}
    for row in rows:
        held.setdefault(row.holder, []).append(row.gpu_id)
    key = device_order(devices)
    return {holder: sorted(ids, key=key) for holder, ids in held.items()}


def own(rows: Iterable[Holding], holder: str, kind: str) -> list[str]:
    return [r.gpu_id for r in rows if (r.holder, r.kind) == (holder, kind)]


def free(devices: list[str], rows: Iterable[Holding]) -> list[str]:
    taken = {r.gpu_id for r in rows}
    return [gpu for gpu in devices if gpu not in taken]


def choose(devices: list[str], rows: list[Holding], holder: str, kind: str,
           count: int) -> list[str]:
    """The GPUs ``holder`` gets for ``count`` (its own count as free: a new allocation
    replaces what it held); ``NotEnoughGPUs`` naming every holder otherwise."""
    others = [r for r in rows if (r.holder, r.kind) != (holder, kind)]
    available = free(devices, others)
    if len(available) < max(count, 0):
        raise NotEnoughGPUs(count, len(available), len(devices), by_holder(rows, devices))
    return available[:max(count, 0)]


def restorable(rows: Iterable[Holding], holder: str, kind: str,
               ids: list[str]) -> tuple[list[str], list[str]]:
    """(ids ``holder`` may take back, ids someone else holds meanwhile)."""
    others = {r.gpu_id for r in rows if (r.holder, r.kind) != (holder, kind)}
    return [g for g in ids if g not in others], [g for g in ids if g in others]
