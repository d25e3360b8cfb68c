"""Notebook widgets of Assay (``assay.widgets``).

``ScheduleNotebook()``: a form that submits the current notebook as a papermill job.
Importing this package does not import ipywidgets; the widget module is loaded on the
first use of its name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .schedule import ScheduleNotebook

__all__ = ["ScheduleNotebook"]


def __getattr__(name: str) -> Any:
    if name == "ScheduleNotebook":
        from .schedule import ScheduleNotebook

        return ScheduleNotebook
    raise AttributeError(f"module 'assay.widgets' has no attribute {name!r}")
