"""Assay: a JupyterHub-based data-science workbench for sensitive R&D data.

The repository's folders map into this one namespace (see ``setup.cfg``):
``hub_config/`` is the hub side (``assay``), ``extensions/`` the single-user
server extension, ``kernels/`` the kernel side, ``widgets/`` the notebook widgets.
Importing ``assay`` has no side effects.
"""

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    """``assay.data``, ``assay.models`` and ``assay.dask`` are imported on first use, so
    ``import assay`` stays light."""
    if name in ("data", "models", "dask"):
        import importlib

        return importlib.import_module(f"assay.{name}")
    raise AttributeError(f"module 'assay' has no attribute {name!r}")
