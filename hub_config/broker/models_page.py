"""The models pages: ``models`` (every model with a ready version; ``?q=`` searches) and
``models/{name}`` (its versions with lineage, metrics, class, hashes, aliases and
pending approvals; each version has the anchor ``#v{N}``).

Like the jobs page: server-rendered, every string escaped, no script (strict CSP), the
hub's OAuth for browsers or an ``Authorization`` token for API clients.
"""

from __future__ import annotations

from typing import Any

from ..errors import RegistryNotFound
from ..registry.rules import UNSAFE_FLAVORS, check_name
from ..registry.store import ModelSummary, VersionRecord
from .api_models import registry_of
from .jobs_page import PageHandler, e, when

VERSIONS_SHOWN = 200
MODELS_SHOWN = 500
STYLE = (".class{font-weight:600}.restricted{color:#b71c1c}.confidential{color:#e65100}"
         ".internal{color:#1565c0}.public{color:#2e7d32}.warn{color:#e65100}"
         "code.hash{font-size:.75em;word-break:break-all}")


def badge(classification: str | None) -> str:
    text = e(classification or "")
    return f'<span class="class {text}">{text}</span>'


def aliases_text(aliases: dict[str, int] | list[str]) -> str:
    if isinstance(aliases, dict):
        return ", ".join(f"{e(a)} → v{n}" for a, n in aliases.items())
    return ", ".join(e(a) for a in aliases)


class ModelsPageBase(PageHandler):
    def initialize(self, broker: Any) -> None:
        super().initialize(broker)
        self.registry = registry_of(broker)

    def page(self, title: str, body: str, *, refresh: bool = False) -> str:
        html = super().page(title, f"<style>{STYLE}</style>{body}", refresh=refresh)
        jobs = f'<a href="{e(self.url("ui", "jobs"))}">All jobs</a>'
        models = f'<a href="{e(self.url("models"))}">All models</a>'
        return html.replace(jobs, f"{models} · {jobs}", 1)


class ModelsPage(ModelsPageBase):
    async def get(self) -> None:
        q = self.get_query_argument("q", "")[:200] or None
        models, total = self.registry.models.list_models(q, MODELS_SHOWN, 0)
        rows = "".join(self.row(m) for m in models)
        found = f"<p>{total} models" + (f" matching {e(repr(q))}" if q else "") + ".</p>"
        table = (found + "<table><tr><th>Model</th><th>Latest</th><th>Versions</th>"
                 "<th>Class</th><th>Aliases</th><th>Updated</th><th>Description</th></tr>"
                 + rows + "</table>") if rows else \
            "<p>No models yet. Register one with <code>assay.models.register</code>.</p>"
        self.finish(self.page("Assay models", table))

    def row(self, m: ModelSummary) -> str:
        return (f'<tr><td><a href="{e(self.url("models", m.name))}">{e(m.name)}</a></td>'
                f"<td>v{e(m.latest_version)}</td><td>{m.versions}</td>"
                f"<td>{badge(m.classification)}</td><td>{aliases_text(m.aliases)}</td>"
                f"<td>{e(when(m.updated_at))}</td><td>{e(m.description[:200])}</td></tr>")


class ModelPage(ModelsPageBase):
    async def get(self, name: str) -> None:
        check_name(name)
        model = self.registry.models.model(name)
        if model is None:
            raise RegistryNotFound(f"No model named {name!r}.")
        versions = self.registry.models.versions(model.id, VERSIONS_SHOWN, 0)
        pending = self.registry.aliases.pending(model.id)
        head = (f"<dl><dt>Latest</dt><dd>v{e(model.latest_version)}</dd>"
                f"<dt>Class</dt><dd>{badge(model.classification)}</dd>"
                f"<dt>Aliases</dt><dd>{aliases_text(model.aliases) or 'none'}</dd>"
                f"<dt>Created by</dt><dd>{e(model.created_by)}</dd></dl>")
        if pending:
            head += "<h2>Pending approvals</h2><ul>" + "".join(
                f"<li>{e(a.alias)} → "
                f"{('v' + str(a.version)) if a.version is not None else 'removal'}, "
                f"requested by {e(a.requested_by)} at {e(when(a.requested_at))}</li>"
                for a in pending) + "</ul>"
        body = head + "<h2>Versions</h2>" + "".join(self.version(v) for v in versions)
        self.finish(self.page(f"Model {name}", body))

    def version(self, v: VersionRecord) -> str:
        lineage = ", ".join(f"{e(i.dataset)} ({badge(i.classification)})"
                            for i in v.inputs) or "no recorded inputs"
        if v.run_id is not None:
            run = self.url("ui", "runs", v.run_id, "html")
            lineage += f'; job run <a href="{e(run)}">{v.run_id}</a>'
        metrics = ", ".join(f"{e(k)} = {e(f'{x:g}')}" for k, x in v.metrics.items())
        flavor = e(v.flavor) + (' <span class="warn">(pickle-based: loading runs code; '
                                "prefer skops or a state dict)</span>"
                                if v.flavor in UNSAFE_FLAVORS else "")
        files = "".join(f"<li>{e(f.path)} ({f.size} bytes) sha256 "
                        f'<code class="hash">{e(f.sha256 or "not uploaded")}</code></li>'
                        for f in v.files)
        notebook = v.notebook or {}
        items = [("Status", e(v.status)), ("Class", badge(v.classification)),
                 ("Registered", f"{e(v.registrant)}, {e(when(v.created_at))}"),
                 ("Lineage", lineage), ("Metrics", metrics or "none"),
                 ("Description", e(v.description) or "none"), ("Format", flavor),
                 ("Notebook", e(notebook.get("path") or "unknown")),
                 ("Git commit", e(v.git_commit or "none")),
                 ("Aliases", aliases_text(v.aliases) or "none"),
                 ("Files", f"<ul>{files}</ul>")]
        rows = "".join(f"<dt>{e(k)}</dt><dd>{val}</dd>" for k, val in items)
        return f'<section id="v{v.version}"><h3>Version {v.version}</h3><dl>{rows}</dl></section>'
