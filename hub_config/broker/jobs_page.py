"""The jobs web page: ``ui/jobs`` (the list) and ``ui/jobs/{id}`` (one job, its runs,
charts of run durations and of each metric's history with drift-flagged runs marked).

Server-rendered, every string escaped, no script and no external resource (a strict
Content-Security-Policy says so). A browser signs in through the hub (JupyterHub
service OAuth, ``HubOAuthenticated``: no confirmation page); API clients may send
``Authorization: token …`` instead. Owners see their jobs, admins every job.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from typing import Any
from urllib.parse import quote

from jupyterhub.services.auth import HubOAuthCallbackHandler, HubOAuthenticated, UserNotAllowed

from ..errors import BrokerError, JobForbidden, Unauthorized
from ..jobs.model import FINAL, Job, Run
from .api_base import BrokerHandler
from .api_jobs import JobsBase, next_run_at
from .api_runs import serve_run_file
from .identity import bearer
from .jobs_chart import Point, line_chart, sparkline

PAGE_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
            "frame-ancestors 'none'; form-action 'none'; base-uri 'none'")
CHART_RUNS = 50
STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#212121}
table{border-collapse:collapse;margin:1rem 0}th,td{padding:.3rem .6rem;text-align:left;
border-bottom:1px solid #e0e0e0;vertical-align:top}th{background:#f5f5f5}
.status{font-weight:600}.succeeded{color:#2e7d32}.failed,.timed_out{color:#c62828}
.running{color:#1565c0}.interrupted{color:#6a1b9a}.cancelled,.queued{color:#757575}
.drift{color:#d50000;font-weight:600}code{font-size:.85em}.charts svg{display:block;
margin:.5rem 0}dl{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem}
dt{font-weight:600}.error{max-width:40rem;white-space:pre-wrap;font-size:.85em}
"""


def e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes} min {secs:02d} s" if minutes < 60 else \
        f"{minutes // 60} h {minutes % 60:02d} min"


def when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else ""


def progress(run: Run, live: tuple[int, int] | None = None) -> str:
    done, total = live or (run.cells_done, run.cells_total)
    if not total:
        return ""
    return (f'<progress max="{total}" value="{done}"></progress> '
            f"{done}/{total} cells")


def run_duration(run: Run) -> float | None:
    if run.duration_s is not None:
        return run.duration_s
    if run.started_at is not None and run.status not in FINAL:
        return (datetime.now(UTC) - run.started_at).total_seconds()
    return None


class PageHandler(HubOAuthenticated, JobsBase):
    """HTML pages: hub OAuth cookie for browsers, or an ``Authorization`` token."""

    def initialize(self, broker: Any) -> None:
        JobsBase.initialize(self, broker)
        self.hub_auth = broker.hub_oauth

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Content-Security-Policy", PAGE_CSP)
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("X-Frame-Options", "DENY")
        self.set_header("Referrer-Policy", "no-referrer")
        self.set_header("Cache-Control", "no-store")

    async def prepare(self) -> None:
        await BrokerHandler.prepare(self)
        if bearer(self.request.headers):
            self.who = await self.caller("jobs-page")
            return
        model = await self.hub_auth.get_user(self, sync=False)
        try:
            model = self.check_hub_user(model) if model else None
        except UserNotAllowed:
            raise JobForbidden("The hub does not let you use the Assay service.") from None
        self._hub_auth_user_cache = model
        if not model:
            if self.request.method in ("GET", "HEAD"):
                self.redirect(self.get_login_url())
                return
            raise Unauthorized("Sign in through the hub first.")
        if model.get("kind") != "user":
            raise JobForbidden("The jobs page is for users.")
        self.who = await self.broker.resolver.for_user(model["name"])

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, BrokerError):
            self.set_status(exc.status_code)
            message = exc.user_message
        else:
            message = self._reason
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(self.page("Assay jobs", f"<p>{e(message)}</p>"))

    def url(self, *parts: object) -> str:
        return self.broker.prefix + "/".join(quote(str(p), safe="") for p in parts)

    def page(self, title: str, body: str, *, refresh: bool = False) -> str:
        meta = '<meta http-equiv="refresh" content="10">' if refresh else ""
        user = e(self.who.user) if self.who.user != "-" else ""
        return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">{meta}'
                f"<title>{e(title)}</title><style>{STYLE}</style></head><body>"
                f'<p><a href="{e(self.url("ui", "jobs"))}">All jobs</a> · {user}</p>'
                f"<h1>{e(title)}</h1>{body}</body></html>")


class JobsPage(PageHandler):
    async def get(self) -> None:
        store = self.broker.jobs
        jobs = store.jobs(None if self.who.admin else self.who.user)
        rows, busy = [], False
        for job in jobs:
            runs = store.runs(job.id, limit=20)
            last = runs[0] if runs else None
            busy |= bool(last and last.status not in FINAL)
            live = await self.live_progress(last) if last else None
            chron = list(reversed(runs))
            spark = sparkline([r.duration_s for r in chron], [r.status.value for r in chron])
            status = last.status.value if last else ""
            rows.append(
                f'<tr><td><a href="{e(self.url("ui", "jobs", job.id))}">{e(job.name)}</a>'
                f"</td><td>{e(job.owner)}</td><td>{e(job.schedule or 'on demand')}"
                f"{' (paused)' if job.paused else ''}</td><td>{e(job.profile)}</td>"
                f"<td>{e(when(next_run_at(job)))}</td>"
                f'<td class="status {e(status)}">{e(status)}</td>'
                f"<td>{e(duration(run_duration(last)) if last else '')}</td>"
                f"<td>{progress(last, live) if last else ''}</td><td>{spark}</td></tr>")
        table = ("<table><tr><th>Job</th><th>Owner</th><th>Schedule</th><th>Profile</th>"
                 "<th>Next run</th><th>Last run</th><th>Duration</th><th>Progress</th>"
                 "<th>Durations</th></tr>" + "".join(rows) + "</table>") if rows else \
            "<p>No jobs yet. Submit one with <code>assay jobs submit</code>.</p>"
        self.finish(self.page("Assay jobs", table, refresh=busy))


class JobPage(PageHandler):
    async def get(self, job_id: str) -> None:
        job = self.visible_job(self.who, job_id)
        runs = self.broker.jobs.runs(job.id, limit=CHART_RUNS)
        metrics = {r.id: self.broker.jobs.metrics(r.id) for r in runs}
        busy = any(r.status not in FINAL for r in runs)
        body = (self.details(job) + '<div class="charts">' + self.charts(runs, metrics)
                + "</div>" + await self.runs_table(runs, metrics))
        self.finish(self.page(f"Job {job.name}", body, refresh=busy))

    def details(self, job: Job) -> str:
        items = [("Owner", job.owner), ("Notebook", job.notebook_path),
                 ("Notebook sha256", job.notebook_sha256), ("Profile", job.profile),
                 ("Schedule", f"{job.schedule} ({job.timezone})" if job.schedule
                  else "on demand"), ("Paused", "yes" if job.paused else "no"),
                 ("Next run", when(next_run_at(job))),
                 ("Timeout", f"{job.timeout_s} s" if job.timeout_s else "none"),
                 ("Retries", f"{job.retries} (backoff {job.retry_backoff_s:g} s)"),
                 ("Parameters", ", ".join(f"{k}={v!r}" for k, v in job.parameters.items())
                  or "none"),
                 ("Drift rules", "; ".join(_rule(r) for r in job.drift_rules) or "none")]
        return "<dl>" + "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in items) + \
            "</dl>"

    def charts(self, runs: list[Run], metrics: dict[int, dict[str, float]]) -> str:
        chron = list(reversed(runs))
        charts = [line_chart("Run duration", [
            Point(f"run {r.id} ({r.status.value})", run_duration(r), r.status.value)
            for r in chron], unit="s")]
        names = sorted({name for values in metrics.values() for name in values})
        for name in names:
            points = []
            for r in chron:
                flags = [f for f in (r.drift or []) if f.get("metric") == name]
                points.append(Point(f"run {r.id}", metrics[r.id].get(name), r.status.value,
                                    bool(flags), "; ".join(str(f.get("message", ""))
                                                           for f in flags)))
            charts.append(line_chart(f"Metric {name}", points))
        return "".join(charts)

    async def runs_table(self, runs: list[Run], metrics: dict[int, dict[str, float]]) -> str:
        if not runs:
            return "<p>No runs yet.</p>"
        rows = []
        for r in runs:
            live = await self.live_progress(r)
            links = " ".join(f'<a href="{e(self.url("ui", "runs", r.id, kind))}">{kind}</a>'
                             for kind in ("html", "notebook", "log") if kind in r.outputs
                             or (kind == "html" and "notebook" in r.outputs))
            values = ", ".join(f"{k}={v:g}" for k, v in metrics[r.id].items())
            drift = "; ".join(str(f.get("message", "")) for f in (r.drift or []))
            rows.append(
                f"<tr><td>{r.id}</td><td>{r.attempt}</td><td>{e(when(r.slot))}</td>"
                f'<td class="status {e(r.status.value)}">{e(r.status.value)}</td>'
                f"<td>{e(when(r.started_at))}</td><td>{e(duration(run_duration(r)))}</td>"
                f"<td>{progress(r, live)}</td><td>{e(values)}"
                f'{f"<div class=drift>drift: {e(drift)}</div>" if drift else ""}</td>'
                f'<td><div class="error">{e(r.error)}</div></td><td>{links}</td></tr>')
        return ("<h2>Runs</h2><table><tr><th>Run</th><th>Attempt</th><th>Slot</th>"
                "<th>Status</th><th>Started</th><th>Duration</th><th>Progress</th>"
                "<th>Metrics</th><th>Error</th><th>Outputs</th></tr>" + "".join(rows)
                + "</table>")


def _rule(rule: Any) -> str:
    if rule.kind == "bounds":
        return f"{rule.metric} within [{rule.min}, {rule.max}]"
    return f"{rule.metric} within mean ± {rule.k:g}·sd of the last {rule.window} runs"


class RunFilePage(PageHandler):
    """``ui/runs/{id}/html|notebook|log``: a run's outputs for the signed-in browser."""

    async def get(self, run_id: str, kind: str) -> None:
        run, _ = self.visible_run(self.who, run_id)
        await serve_run_file(self, run, kind)


class OAuthCallback(HubOAuthCallbackHandler):
    """``{prefix}oauth_callback``: completes the hub's OAuth and sets the cookie."""

    def initialize(self, broker: Any) -> None:
        self.hub_auth = broker.hub_oauth

