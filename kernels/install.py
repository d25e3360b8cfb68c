"""Assay's kernelspecs, how they are installed, and who sees the GPU one.

Two specs live in ``kernelspecs/`` beside this module: ``assay-python3`` ("Python 3 (Assay)")
and ``assay-python3-gpu`` ("Python 3 (Assay, GPU)"); both start ipykernel with ``import assay``
already run. A regular install (the images) puts them in ``<prefix>/share/jupyter/kernels``
through ``data_files`` in setup.cfg; an editable install (``pip install -e .``) installs no
data files, so ``assay kernels install`` copies them there (``make install`` runs it).

``AssayKernelSpecManager`` hides every spec whose ``metadata.assay.requires_gpu`` is true on a
server whose profile has no GPUs (``ASSAY_GPUS``, set by the spawners, unset or ``0``): the
GPU kernel is listed, and can be started, on GPU profiles only. ``assay kernels install``
makes Jupyter Server use it by setting ``ServerApp.kernel_spec_manager_class`` in
``<prefix>/etc/jupyter/jupyter_server_config.json`` (Jupyter Server reads only the extension
switches from ``jupyter_server_config.d``, so that file cannot be a data file of the package).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from jupyter_client.kernelspec import KernelSpec, KernelSpecManager, NoSuchKernel

from ..errors import KernelSetupError

SPECS_DIR = Path(__file__).resolve().parent / "kernelspecs"
SERVER_CONFIG = "jupyter_server_config.json"
MANAGER = "assay.kernels.install.AssayKernelSpecManager"
KERNEL_NAMES = ("assay-python3", "assay-python3-gpu")
GPUS_ENV = "ASSAY_GPUS"


def server_has_gpus(environ: Mapping[str, str] | None = None) -> bool:
    """True when the server's profile has GPUs (``ASSAY_GPUS`` > 0)."""
    value = (os.environ if environ is None else environ).get(GPUS_ENV, "").strip()
    return value.isdigit() and int(value) > 0


def requires_gpu(spec: KernelSpec | Path) -> bool:
    """Whether a kernelspec (or its folder) is marked ``metadata.assay.requires_gpu``."""
    if isinstance(spec, Path):
        try:
            metadata = json.loads((spec / "kernel.json").read_text()).get("metadata") or {}
        except (OSError, ValueError):
            return False
    else:
        metadata = spec.metadata or {}
    return bool((metadata.get("assay") or {}).get("requires_gpu"))


class AssayKernelSpecManager(KernelSpecManager):
    """Jupyter's kernelspec manager, without GPU-only kernels on servers without GPUs."""

    def find_kernel_specs(self) -> dict[str, str]:
        specs = super().find_kernel_specs()
        if server_has_gpus():
            return specs
        return {name: where for name, where in specs.items() if not requires_gpu(Path(where))}

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        spec = super().get_kernel_spec(kernel_name)
        if requires_gpu(spec) and not server_has_gpus():
            raise NoSuchKernel(kernel_name)
        return spec


def _config_dir(prefix: str | None, user: bool) -> Path:
    if user:
        from jupyter_core.paths import jupyter_config_dir

        return Path(jupyter_config_dir())
    return Path(prefix or sys.prefix) / "etc" / "jupyter"


def enable_manager(config_dir: Path) -> Path:
    """Set ``ServerApp.kernel_spec_manager_class`` in ``config_dir``'s server config,
    keeping everything else in it; refuse to replace another manager."""
    path = config_dir / SERVER_CONFIG
    data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    server = data.setdefault("ServerApp", {})
    current = server.get("kernel_spec_manager_class")
    if current not in (None, MANAGER):
        raise KernelSetupError(
            f"{path}: ServerApp.kernel_spec_manager_class is {current!r}; Assay needs "
            f"{MANAGER!r} (a subclass may replace it) to list the GPU kernel on GPU profiles "
            "only. Remove the setting, or ask whoever set it, then install again.")
    server["kernel_spec_manager_class"] = MANAGER
    config_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path


def install(prefix: str | None = None, user: bool = False) -> list[Path]:
    """Install both kernelspecs and enable ``AssayKernelSpecManager`` for Jupyter Server.

    ``prefix`` (default ``sys.prefix``) or ``user``: where, as ``jupyter kernelspec install``.
    Returns the paths written. Installing again replaces the specs.
    """
    if prefix is None and not user:
        prefix = sys.prefix
    manager = KernelSpecManager()
    written = [Path(manager.install_kernel_spec(str(SPECS_DIR / name), name, user=user,
                                                prefix=None if user else prefix))
               for name in KERNEL_NAMES]
    return [*written, enable_manager(_config_dir(prefix, user))]
