"""Where runs execute: a local subprocess or a Kubernetes Job (see ``base``).

Light to import (the runner imports ``base``); the executors themselves are imported
when named: ``from assay.jobs.executors import LocalExecutor``.
"""

from __future__ import annotations

import importlib
from typing import Any

from .base import Executor, RunResult, RunSpec

__all__ = ["Executor", "KubernetesExecutor", "LocalExecutor", "RunResult", "RunSpec"]

_LAZY = {"LocalExecutor": ".local", "KubernetesExecutor": ".kubernetes"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
