"""``RegisterModel(model)``: register a trained model from the notebook (ipywidgets 8).

In a notebook::

    from assay.widgets import RegisterModel
    RegisterModel(clf)                      # or RegisterModel(clf, name="churn")

The form offers the model names that already exist (``assay.models.list()``), a
description and metrics (``auc=0.91, f1=0.8``). "Register" calls
``assay.models.register`` and shows the new version, its classification, its lineage
(the datasets this kernel read, the job run) and a link to its page — or the registry's
message, never a traceback. The form keeps what was typed, so a refusal can be fixed and
registered again.
"""

from __future__ import annotations

import html
import warnings
from typing import Any

import ipywidgets as w

from ..errors import ModelError
from ..kernels import models
from ..kernels.models_meta import name_problem, parse_metrics

_STYLE = {"description_width": "9em"}
_WIDE = w.Layout(width="36em")
_LINK = ("color: var(--jp-content-link-color, #1976d2); text-decoration: underline")


def _escape(value: object) -> str:
    return html.escape(str(value), quote=True)


class RegisterModel(w.VBox):
    """The form. ``model``: the object to register; ``name``: preselected model name."""

    def __init__(self, model: object, name: str | None = None, **kwargs: Any):
        self.model = model
        self.last_version: models.ModelVersion | None = None
        self.last_error: Exception | None = None
        self.name = w.Combobox(value=name or "", options=[], description="Model name",
                               placeholder="e.g. churn (lowercase, digits, . _ -)",
                               ensure_option=False, style=_STYLE, layout=_WIDE)
        self.description = w.Textarea(description="Description", style=_STYLE,
                                      placeholder="what it predicts, how it was trained",
                                      layout=w.Layout(width="36em", height="4.5em"))
        self.metrics = w.Text(description="Metrics", placeholder="auc=0.91, f1=0.8",
                              style=_STYLE, layout=_WIDE)
        self.hint = w.HTML()
        self.button = w.Button(description="Register", button_style="primary",
                               icon="cube", tooltip="registers the next version",
                               layout=w.Layout(width="auto", align_self="flex-start",
                                               margin="6px 0 2px 9.5em"))
        self.result = w.HTML()
        self.button.on_click(self._clicked)
        self.name.observe(self._name_changed, names="value")
        heading = w.HTML(f"<b>Register this model in Assay</b> "
                         f"<small>({_escape(type(model).__name__)})</small>")
        super().__init__(children=[heading, self.name, self.hint, self.description,
                                   self.metrics, self.button, self.result], **kwargs)
        self._load_names()
        self._name_changed()

    # -- choices and hints --------------------------------------------------------------

    def _load_names(self) -> None:
        try:
            found = models.list()
        except Exception as exc:  # noqa: BLE001 - shown; the form still works
            self._show(f"Could not load the existing model names: {exc}", error=True)
            return
        self.name.options = sorted({str(m.get("name")) for m in found if m.get("name")})

    def _name_changed(self, _change: dict[str, Any] | None = None) -> None:
        """An advisory hint as the name is typed (the registry decides)."""
        value = self.name.value
        if not value:
            self.hint.value = ""
            return
        problem = name_problem(value)
        if problem:
            self.hint.value = (f'<small style="margin-left: 11.4em; color: '
                               f'var(--jp-warn-color1, #e65100)">{_escape(problem)}</small>')
        elif value in self.name.options:
            self.hint.value = ('<small style="margin-left: 11.4em">registers the next version '
                               "of this model</small>")
        else:
            self.hint.value = '<small style="margin-left: 11.4em">a new model</small>'

    # -- register -------------------------------------------------------------------------

    def register(self) -> models.ModelVersion | None:
        """Register with the form's values; the version, or None with the reason shown."""
        self.last_version, self.last_error = None, None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                metrics = parse_metrics(self.metrics.value)
                version = models.register(
                    self.model, self.name.value.strip(), metrics=metrics,
                    description=self.description.value.strip() or None, progress=False)
            except ModelError as exc:
                self.last_error = exc
                self._show(f"Not registered. {exc}", error=True)
                return None
            except Exception as exc:  # noqa: BLE001 - shown, never a traceback
                self.last_error = exc
                self._show(f"Not registered: {type(exc).__name__}: {exc}", error=True)
                return None
        self.last_version = version
        notes = [str(c.message) for c in caught
                 if issubclass(c.category, models.ModelFormatWarning)]
        self._show_registered(version, notes)
        if version.name not in self.name.options:
            self.name.options = sorted({*self.name.options, version.name})
            self._name_changed()
        return version

    def _clicked(self, _button: w.Button | None = None) -> None:
        self.button.disabled = True
        self._show("Registering…")
        try:
            self.register()
        finally:
            self.button.disabled = False

    # -- messages -------------------------------------------------------------------------

    def _show(self, text: str, *, error: bool = False, raw: bool = False) -> None:
        body = text if raw else _escape(text)
        colour = "var(--jp-error-color1, #c62828)" if error else "inherit"
        self.result.value = (f'<div class="assay-register-result" style="color: {colour}; '
                             f'white-space: pre-wrap">{body}</div>')

    def _show_registered(self, version: models.ModelVersion, notes: list[str]) -> None:
        datasets = [d for d in version.lineage.get("datasets") or [] if isinstance(d, dict)]
        inputs = ", ".join(f"<code>{_escape(d.get('name'))}</code> "
                           f"({_escape(d.get('classification'))})" for d in datasets)
        lines = [f"<b>{_escape(version.name)} version {_escape(version.version)}</b> "
                 f"registered ({_escape(version.status)}).",
                 f"Classification: <b>{_escape(version.classification)}</b>",
                 f"Lineage: {inputs or 'no datasets read by this kernel'}"]
        if version.run:
            lines[-1] += f"; job run {_escape(version.run)}"
        if version.metrics:
            lines.append("Metrics: " + ", ".join(f"{_escape(k)}={_escape(v)}"
                                                 for k, v in version.metrics.items()))
        if version.url:
            lines.append(f'<a href="{_escape(version.url)}" target="_blank" rel="noopener" '
                         f'style="{_LINK}">Open the model page</a>')
        lines += [f'<span style="color: var(--jp-warn-color1, #e65100)">Note: '
                  f"{_escape(note)}</span>" for note in notes]
        self._show("<br>".join(lines), raw=True)
