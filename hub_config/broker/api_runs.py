"""Runs REST API (show, log, notebook, HTML, cancel, metrics), secrets and profiles.

The HTML view of a run is rendered on request from its stored (already redacted)
output notebook and served sandboxed: no script runs, nothing is fetched.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from ..errors import (
    JobForbidden,
    ObjectNotFound,
    RunNotFound,
    SecretNotFound,
    SecretsUnavailable,
)
from ..jobs.executors.base import LOG_FILE
from ..jobs.model import FINAL, Run, RunStatus
from ..jobs.secrets import SecretStore
from .api_jobs import JobsBase, in_thread, path_id

HTML_CSP = "sandbox; default-src 'none'; style-src 'unsafe-inline'"
HTML_KEY = "html"


class RunOutputs:
    """A run's log, notebook and HTML from the output store (shared by API and pages)."""

    def __init__(self, broker: Any):
        self.broker = broker

    def _get(self, run: Run, name: str, what: str) -> bytes:
        key = run.outputs.get(name)
        if not key:
            when = "" if run.status in FINAL else " yet"
            raise ObjectNotFound(f"Run {run.id} has no {what}{when}.")
        return self.broker.objects.get(key)

    def log(self, run: Run) -> bytes:
        if "log" not in run.outputs and run.status == RunStatus.RUNNING and run.workdir:
            live = Path(run.workdir) / LOG_FILE  # local mode: the log as it grows
            if live.is_file():
                return live.read_bytes()
        return self._get(run, "log", "log")

    def notebook(self, run: Run) -> bytes:
        return self._get(run, "notebook", "output notebook")

    def html(self, run: Run) -> bytes:
        """Rendered once from the stored notebook, then kept next to it."""
        objects = self.broker.objects
        if run.outputs.get(HTML_KEY):
            return objects.get(run.outputs[HTML_KEY])
        source = run.outputs.get("notebook")
        if not source:
            raise ObjectNotFound(f"Run {run.id} has no output notebook to show.")
        key = source.rsplit("/", 1)[0] + "/output.html"
        if objects.exists(key):
            return objects.get(key)
        from ..jobs.runner import render_html

        with tempfile.TemporaryDirectory(prefix="assay-html-") as folder:
            notebook, target = Path(folder) / "output.ipynb", Path(folder) / "output.html"
            notebook.write_bytes(objects.get(source))
            render_html(notebook, target)
            body = target.read_bytes()
        objects.put(key, body)
        return body


class RunHandler(JobsBase):
    async def get(self, run_id: str) -> None:
        run, job = self.visible_run(await self.caller(), run_id)
        self.write_json(await self.run_view(run, job))


class RunFileHandler(JobsBase):
    """``GET runs/{id}/log`` (text), ``notebook`` (ipynb), ``html`` (sandboxed)."""

    async def get(self, run_id: str, kind: str) -> None:
        run, _ = self.visible_run(await self.caller(), run_id)
        await serve_run_file(self, run, kind)


async def serve_run_file(handler: JobsBase, run: Run, kind: str) -> None:
    outputs = RunOutputs(handler.broker)
    body = await in_thread(getattr(outputs, kind), run)
    if kind == "log":
        handler.set_header("Content-Type", "text/plain; charset=utf-8")
    elif kind == "notebook":
        handler.set_header("Content-Type", "application/x-ipynb+json")
        handler.set_header("Content-Disposition",
                           f'attachment; filename="run-{run.id}.ipynb"')
    else:
        handler.set_header("Content-Type", "text/html; charset=utf-8")
        handler.set_header("Content-Security-Policy", HTML_CSP)
        handler.set_header("X-Frame-Options", "DENY")
    handler.finish(body)


class RunCancelHandler(JobsBase):
    async def post(self, run_id: str) -> None:
        run, job = self.visible_run(await self.caller(), run_id)
        scheduler = self.broker.scheduler
        if scheduler is None:
            raise RunNotFound(f"No run with id {run_id}.")
        run = await in_thread(scheduler.cancel, run.id)
        self.write_json({"run": await self.run_view(run, job)})


class RunMetricsHandler(JobsBase):
    """``POST runs/{id}/metrics`` ``{"name", "value"}``: only the run's own credential."""

    async def post(self, run_id: str) -> None:
        who = await self.identify("metrics")
        number = path_id(run_id, "run")
        if who.run_id is None:
            raise JobForbidden("Metrics are recorded by the run itself (assay.jobs.record "
                               "in the notebook, with the run's own credential).")
        if who.run_id != number:
            raise RunNotFound(f"No run with id {run_id}.")
        body = self.json_body()
        self.broker.jobs.record_metric(number, body.get("name"), body.get("value"))
        self.write_json({"run_id": number, "name": body.get("name"),
                         "value": float(body.get("value"))}, 201)


class SecretsHandler(JobsBase):
    """``GET secrets`` (names only), ``POST secrets`` ``{"name", "value"}``."""

    def store(self) -> SecretStore:
        if self.broker.secret_store is None:
            raise SecretsUnavailable("Secrets are not available: the service has no key.")
        return self.broker.secret_store

    async def get(self) -> None:
        who = await self.owner("secrets")
        self.write_json({"secrets": self.store().names(who.user)})

    async def post(self) -> None:
        who = await self.owner("secrets")
        body = self.json_body()
        name = body.get("name")
        self.store().put(who.user, name, body.get("value"))  # type: ignore[arg-type]
        self.write_json({"name": name}, 201)


class SecretHandler(SecretsHandler):
    async def delete(self, name: str) -> None:
        who = await self.owner("secrets")
        if not self.store().delete(who.user, name):
            raise SecretNotFound(f"No secret named {name[:64]!r} for {who.user}.")
        self.set_status(204)
        self.finish()


class ProfilesHandler(JobsBase):
    """``GET profiles``: the profiles the caller may run jobs (and servers) on."""

    async def get(self) -> None:
        who = await self.caller()
        usable = [p for p in self.broker.config().profiles
                  if not p.groups or set(p.groups) & who.groups]
        self.write_json({"profiles": [
            {"slug": p.slug, "display_name": p.display_name, "description": p.description,
             "zone": p.zone, "gpus": p.gpus, "default": p.default,
             "requires_purpose": p.requires_purpose} for p in usable]})

