"""Which GPUs exist: the inventory in the YAML, or what ``nvidia-smi`` reports."""

from __future__ import annotations

import logging
import shutil
import subprocess

from ..config.schema import Gpus

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
