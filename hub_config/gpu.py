"""The GPU ledger of local mode: which GPUs exist and who holds them.

Holdings live in the spawners' state (JupyterHub persists it in its database),
so after a hub restart ``claim`` puts every running server's GPUs back and the
ledger is right again. Allocation is synchronous, so in the hub's single event
loop two spawns can never be handed the same GPU.
"""

from __future__ import annotations

import logging
import shutil
import subprocess

from .config.schema import Gpus

log = logging.getLogger("assay.gpu")


def discover(settings: Gpus) -> list[str]:
    """GPU ids from the inventory in the YAML, or from ``nvidia-smi`` when present."""
    if settings.source == "inventory":
        return list(settings.inventory)
    found = _nvidia_smi()
    if settings.source == "nvidia-smi" or found:
        return found
    return list(settings.inventory)


def _nvidia_smi() -> list[str]:
    exe = shutil.which("nvidia-smi")
    if not exe:
        return []
    try:
        out = subprocess.run(
            [exe, "--query-gpu=index", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("nvidia-smi failed, assuming no GPUs: %s", exc)
        return []
    return [line.strip() for line in out.splitlines() if line.strip()]


class NotEnoughGPUs(Exception):
    def __init__(self, wanted: int, free: int, total: int, holders: dict[str, list[str]]):
        super().__init__(f"wanted {wanted}, {free} of {total} free")
        self.wanted, self.free, self.total, self.holders = wanted, free, total, holders

    def describe_holders(self) -> str:
        return "; ".join(f"{h}: {','.join(ids)}" for h, ids in sorted(self.holders.items()))


class GPULedger:
    """Exclusive assignment of GPU ids to holders (``user`` or ``user:server``)."""

    _shared: dict[str, GPULedger] = {}

    def __init__(self, devices: list[str]):
        self.devices = list(devices)
        self._held: dict[str, list[str]] = {}

    @classmethod
    def shared(cls, name: str = "default") -> GPULedger:
        """The process-wide ledger (one per hub)."""
        if name not in cls._shared:
            cls._shared[name] = cls([])
        return cls._shared[name]

    def set_devices(self, devices: list[str]) -> None:
        """Apply an inventory change; GPUs already held stay with their holders."""
        self.devices = list(devices)

    def holdings(self) -> dict[str, list[str]]:
        return {holder: list(ids) for holder, ids in self._held.items()}

    def free(self) -> list[str]:
        taken = {gpu for ids in self._held.values() for gpu in ids}
        return [gpu for gpu in self.devices if gpu not in taken]

    def allocate(self, holder: str, count: int) -> list[str]:
        """Give ``holder`` ``count`` free GPUs (replacing what it held), or raise.

        A refusal changes nothing: the holder keeps what it held.
        """
        previous = self._held.pop(holder, None)
        free = self.free()
        if len(free) < max(count, 0):
            if previous:
                self._held[holder] = previous
            raise NotEnoughGPUs(count, len(free), len(self.devices), self.holdings())
        if previous:
            log.info("GPUs %s released by %s", ",".join(previous), holder)
        if count <= 0:
            return []
        self._held[holder] = free[:count]
        log.info("GPUs %s assigned to %s", ",".join(free[:count]), holder)
        return list(self._held[holder])

    def claim(self, holder: str, ids: list[str]) -> None:
        """Restore a holding recorded before a hub restart."""
        if not ids:
            return
        clash = {g for h, held in self._held.items() if h != holder for g in held} & set(ids)
        if clash:
            log.error("GPUs %s of %s are already held; not restoring them", clash, holder)
            ids = [g for g in ids if g not in clash]
        self._held[holder] = list(ids)

    def release(self, holder: str) -> None:
        ids = self._held.pop(holder, None)
        if ids:
            log.info("GPUs %s released by %s", ",".join(ids), holder)
