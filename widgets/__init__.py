"""Notebook widgets of Assay (``assay.widgets``).

``ScheduleNotebook()``: a form that submits the current notebook as a papermill job.
``RegisterModel(model)``: a form that registers a trained model in the model registry.
Importing this package does not import ipywidgets; a widget module is loaded on the
first use of its name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .register import RegisterModel
    from .schedule import ScheduleNotebook

__all__ = ["RegisterModel", "ScheduleNotebook"]


def __getattr__(name: str) -> Any:
    if name == "ScheduleNotebook":
        from .schedule import ScheduleNotebook

        return ScheduleNotebook
    if name == "RegisterModel":
        from .register import RegisterModel

        return RegisterModel
    raise AttributeError(f"module 'assay.widgets' has no attribute {name!r}")
