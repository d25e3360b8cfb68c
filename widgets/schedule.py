"""``ScheduleNotebook()``: schedule the notebook you are in as an Assay job (ipywidgets 8).

In a notebook::

    from assay.widgets import ScheduleNotebook
    ScheduleNotebook()

The form shows the notebook's path (the kernel's ``$JPY_SESSION_NAME``, which
jupyter_server sets), a job name, the profiles you may use (``GET profiles``), a cron
schedule (empty: run once now), time zone, timeout, retries, and one field per
parameter of the notebook's ``parameters`` cell with its default. "Schedule this
notebook" submits the notebook *as saved on disk* and shows the job, its first run and a
link to the job's page, or the service's message with each problem — never a traceback.
"""

from __future__ import annotations

import ast
import html
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ipywidgets as w

from ..errors import InvalidParameters
from ..jobs.client import JobsApiError, JobsClient, job_name
from ..jobs.model import MAX_TIMEOUT_S
from ..jobs.params import (
    SECRET_SCHEME,
    Parameter,
    from_text,
    notebook_parameters,
    read_notebook,
)

SESSION_NAME_ENV = "JPY_SESSION_NAME"
PROFILE_ENV = "ASSAY_PROFILE"
_STYLE = {"description_width": "9em"}
_WIDE = w.Layout(width="36em")


def _field(param: Parameter) -> tuple[w.Widget, Any]:
    """An input for one parameter, and the value it starts with (unchanged fields are
    not sent: the notebook's own default applies)."""
    tip = f"declared as `{param.source}`"
    common: dict[str, Any] = {"description": param.name, "tooltip": tip,
                              "style": _STYLE}
    default = param.default
    if param.type == "bool" and isinstance(default, bool):
        widget: w.Widget = w.Checkbox(value=default, indent=False, **common)
    elif param.type == "int" and type(default) is int:
        widget = w.IntText(value=default, **common)
    elif param.type == "float" and isinstance(default, int | float):
        widget = w.FloatText(value=float(default), **common)
    elif param.type == "str" and isinstance(default, str):
        widget = w.Text(value=default, layout=_WIDE, **common)
    else:
        shown = "" if default is None and not param.nullable else _literal(default)
        holder = "computed in the notebook" if shown == "" else f"JSON ({param.describe()})"
        widget = w.Text(value=shown, placeholder=holder, layout=_WIDE, **common)
    return widget, widget.value


def _literal(value: Any) -> str:
    """A default as a person would type it: Python's spelling of JSON-like data."""
    return repr(value) if value is None or isinstance(value, bool | list | dict) else \
        json.dumps(value)


def _value(widget: w.Widget, param: Parameter) -> Any:
    """The field's value as the parameter's type: JSON, or a Python literal
    (``None``, ``[True, 2]``), else the text for the service to judge."""
    value = widget.value
    if not isinstance(widget, w.Text) or param.type == "str":
        return value
    typed = from_text(value, param)
    if isinstance(typed, str) and not typed.startswith(SECRET_SCHEME):
        try:
            return ast.literal_eval(value.strip())
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            return typed
    return typed


def _problems(items: list[str]) -> str:
    return "<ul>" + "".join(f"<li>{html.escape(p)}</li>" for p in items) + "</ul>"


class ScheduleNotebook(w.VBox):
    """The form. ``path``: the notebook (default: this kernel's notebook). ``url`` and
    ``token`` override ``$ASSAY_BROKER_URL`` and the token variables."""

    def __init__(self, path: str | os.PathLike[str] | None = None, *, url: str | None = None,
                 token: str | None = None, environ: Mapping[str, str] | None = None,
                 **kwargs: Any):
        self._env = dict(os.environ if environ is None else environ)
        self._url, self._token = url, token
        self._client: JobsClient | None = None
        self._parameters: dict[str, tuple[Parameter, w.Widget, Any]] = {}
        self._named_from = ""
        self.last_answer: dict[str, Any] | None = None
        self.last_error: JobsApiError | None = None

        start = str(path) if path is not None else self._env.get(SESSION_NAME_ENV, "")
        self.path_text = w.Text(value=start, description="Notebook", style=_STYLE,
                                layout=_WIDE, continuous_update=False,
                                placeholder="path of the .ipynb file")
        self.name_text = w.Text(description="Job name", style=_STYLE, layout=_WIDE)
        self.profile = w.Dropdown(description="Profile", options=[], style=_STYLE,
                                  layout=_WIDE)
        self.schedule = w.Text(description="Schedule", style=_STYLE, layout=_WIDE,
                               placeholder="cron, e.g. 30 6 * * 1-5 (empty: run once now)")
        self.timezone = w.Text(value="UTC", description="Time zone", style=_STYLE,
                               placeholder="IANA zone, e.g. Europe/Berlin")
        self.timeout = w.BoundedIntText(value=3600, min=1, max=MAX_TIMEOUT_S,
                                        description="Timeout (s)", style=_STYLE)
        self.retries = w.BoundedIntText(value=0, min=0, max=10, description="Retries",
                                        style=_STYLE)
        self.parameters_box = w.VBox()
        self.button = w.Button(description="Schedule this notebook", button_style="primary",
                               icon="clock", tooltip="submits the notebook as saved on disk",
                               layout=w.Layout(width="auto", align_self="flex-start",
                                               margin="6px 0 2px 9.5em"))
        hint = w.HTML('<small style="margin-left: 11.4em">The notebook is submitted as '
                      "saved on disk: save it first.</small>")
        self.result = w.HTML()
        self.button.on_click(self._clicked)
        self.path_text.observe(self._path_changed, names="value")
        heading = w.HTML("<b>Schedule this notebook as an Assay job</b>")
        super().__init__(children=[
            heading, self.path_text, self.name_text, self.profile, self.schedule,
            self.timezone, self.timeout, self.retries, self.parameters_box, self.button,
            hint, self.result], **kwargs)
        self._load_notebook()
        first = self.result.value  # a problem with the notebook stays in view
        if not self._load_profiles() and first and self.result.value != first:
            self.result.value = first + self.result.value

    # -- connection and choices -----------------------------------------------------

    def client(self) -> JobsClient:
        if self._client is None:
            self._client = JobsClient.connect(self._url, self._token, self._env)
        return self._client

    def _load_profiles(self) -> bool:
        try:
            found = self.client().profiles()
        except JobsApiError as exc:
            self._show_error("Could not load your profiles.", exc)
            return False
        options = [(f"{p.get('display_name') or p['slug']} ({p['slug']})", p["slug"])
                   for p in found if isinstance(p, dict) and p.get("slug")]
        slugs = [slug for _, slug in options]
        preferred = [self._env.get(PROFILE_ENV)] + [
            p.get("slug") for p in found if isinstance(p, dict) and p.get("default")]
        self.profile.options = options
        self.profile.value = next((s for s in preferred if s in slugs),
                                  slugs[0] if slugs else None)
        if not options:
            self._show("No profile is open to you, so nothing can be scheduled; ask an "
                       "Assay admin.", error=True)
        return bool(options)

    def _path_changed(self, change: dict[str, Any]) -> None:
        self._load_notebook()

    def _load_notebook(self) -> bytes | None:
        """Read the notebook: default job name and the parameter fields."""
        path = self.path_text.value.strip()
        if not path:
            self._show("Which notebook? Type its path in the Notebook field.", error=True)
            return None
        if self.name_text.value in ("", self._named_from):
            self._named_from = job_name(path)
            self.name_text.value = self._named_from
        try:
            data = Path(path).expanduser().read_bytes()
            declared = notebook_parameters(data) or {}
        except OSError as exc:
            self._show(f"Cannot read the notebook {path}: {exc.strerror}.", error=True)
            return None
        except InvalidParameters as exc:
            self._show(f"{path}: " + "; ".join(exc.problems), error=True)
            return None
        if set(declared) != set(self._parameters):
            self._parameters = {}
            for name, param in declared.items():
                widget, start = _field(param)
                self._parameters[name] = (param, widget, start)
            title = [w.HTML("<i>Parameters (from the cell tagged 'parameters'; unchanged "
                            "fields keep the notebook's defaults)</i>")] if declared else []
            self.parameters_box.children = title + [f for _, f, _ in self._parameters.values()]
        return data

    # -- submit ---------------------------------------------------------------------

    def parameter_values(self) -> dict[str, Any]:
        """The parameters changed from the notebook's defaults, typed."""
        return {name: _value(widget, param)
                for name, (param, widget, start) in self._parameters.items()
                if widget.value != start}

    def job(self, notebook: dict[str, Any]) -> dict[str, Any]:
        """The ``POST jobs`` body the form describes."""
        schedule = self.schedule.value.strip() or None
        return {"name": self.name_text.value.strip(),
                "notebook_path": self.path_text.value.strip(), "notebook": notebook,
                "parameters": self.parameter_values(), "profile": self.profile.value or "",
                "schedule": schedule, "timezone": self.timezone.value.strip() or "UTC",
                "timeout_s": int(self.timeout.value), "retries": int(self.retries.value)}

    def submit(self) -> dict[str, Any] | None:
        """Submit; the answer, or None with the reason shown."""
        self.last_answer, self.last_error = None, None
        try:
            data = self._load_notebook()
            if data is None:
                return None
            if not self.profile.options and not self._load_profiles():
                return None
            answer = self.client().submit(self.job(read_notebook(data)))
        except JobsApiError as exc:
            self.last_error = exc
            self._show_error("The job was not submitted.", exc)
            return None
        except InvalidParameters as exc:
            self._show("The notebook cannot be submitted:" + _problems(exc.problems),
                       error=True, raw=True)
            return None
        except Exception as exc:  # shown, never a traceback
            self._show(f"The job was not submitted: {type(exc).__name__}: {exc}", error=True)
            return None
        self.last_answer = answer
        self._show_submitted(answer)
        return answer

    def _clicked(self, _button: w.Button | None = None) -> None:
        self.button.disabled = True
        self._show("Submitting…")
        try:
            self.submit()
        finally:
            self.button.disabled = False

    # -- messages -------------------------------------------------------------------

    def _show(self, text: str, *, error: bool = False, raw: bool = False) -> None:
        body = text if raw else html.escape(text)
        colour = "var(--jp-error-color1, #c62828)" if error else "inherit"
        self.result.value = f'<div style="color: {colour}">{body}</div>'

    def _show_error(self, lead: str, exc: JobsApiError) -> None:
        head, *rest = exc.lines()
        problems = [line.removeprefix("  - ") for line in rest]
        self._show(f"{html.escape(lead)} {html.escape(head)}"
                   + (_problems(problems) if problems else ""), error=True, raw=True)

    def _show_submitted(self, answer: dict[str, Any]) -> None:
        job, run = answer.get("job") or {}, answer.get("run") or None
        when = (f"on schedule <code>{html.escape(str(job.get('schedule')))}</code> "
                f"({html.escape(str(job.get('timezone') or 'UTC'))})"
                if job.get("schedule") else "to run once now")
        text = (f"<b>Job {html.escape(str(job.get('id')))}</b> "
                f"'{html.escape(str(job.get('name')))}' submitted {when}.")
        if job.get("next_slot"):
            text += f" Next run: {html.escape(str(job['next_slot']))}."
        if run:
            text += (f" First run: <b>run {html.escape(str(run.get('id')))}</b> "
                     f"({html.escape(str(run.get('status', 'queued')))}).")
        if job.get("id") is not None:
            link = html.escape(self.client().job_page(job["id"]), quote=True)
            text += (f' <a href="{link}" target="_blank" rel="noopener" style="color: '
                     'var(--jp-content-link-color, #1976d2); text-decoration: underline">'
                     "Open the job page</a>")
        self._show(text, raw=True)
