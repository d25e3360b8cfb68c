"""The Assay service process: ``python -m assay.broker``, started and proxied by the hub.

It is the data broker and the home of jobs: the job store, the secret store, the output
store (``storage.url``), the executor (a local subprocess, or Kubernetes Jobs in
Kubernetes mode) and the scheduler, which runs in a daemon thread until SIGTERM.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import signal
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from jupyterhub.services.auth import HubAuth, HubOAuth
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from tornado import web
from tornado.httputil import HTTPServerRequest
from tornado.ioloop import IOLoop

from ..config import AssayConfig, ConfigSource, default_path
from ..config.catalog import Dataset
from ..db.engine import make_engine, upgrade
from ..db.models import AuditRecord
from ..errors import AssayError
from ..jobs.executors.base import Executor, RunResult
from ..jobs.model import Run
from ..jobs.notify import Notifier
from ..jobs.scheduler import Scheduler
from ..jobs.secrets import SecretStore, load_key
from ..jobs.store import JobStore
from ..objects import ObjectStore as OutputStore
from ..objects import open_objects
from ..registry import expiry
from . import (
    api_admin,
    api_dask,
    api_data,
    api_jobs,
    api_models,
    api_models_aliases,
    api_models_files,
    api_runs,
    jobs_page,
    models_page,
)
from .audit import AuditLog
from .identity import HubUsers, IdentityResolver
from .sessions import SessionStore
from .storage import open_store
from .storage.base import ObjectStore

log = logging.getLogger("assay.broker")
READ_ACTIONS = ("read", "read-signed", "sign")


class Broker:
    """The service's state: config, audit log, sessions, identity, stores."""

    def __init__(self, source: ConfigSource, engine: Engine, *, api_url: str, token: str,
                 prefix: str):
        self.source = source
        self.engine = engine
        self.prefix = prefix if prefix.endswith("/") else prefix + "/"
        self.audit = AuditLog(engine)
        self.sessions = SessionStore(engine)
        hub_auth = HubAuth(api_url=api_url, api_token=token, cache_max_age=2)
        self.jobs = JobStore(engine)
        self.resolver = IdentityResolver(self.sessions, HubUsers(api_url, token), hub_auth,
                                         token, run_status=self.run_status)
        # browsers on the jobs page: the hub's OAuth (client id, callback from the env)
        self.hub_oauth = HubOAuth(api_url=api_url, api_token=token, cache_max_age=2)
        self.secret = secrets.token_bytes(32)  # signed URLs die with the process (TTL <= 60 s)
        self.service_url = ""  # scheme://host:port the service listens on (set by main)
        # jobs (set by start_jobs): outputs, secrets, executor, scheduler
        self.objects: OutputStore | None = None
        self.secret_store: SecretStore | None = None
        self.executor: Executor | None = None
        self.scheduler: Scheduler | None = None

    def run_status(self, run_id: int) -> str | None:
        run = self.jobs.run(run_id)
        return run.status.value if run is not None else None

    def config(self) -> AssayConfig:
        return self.source.current()

    def store(self, dataset: Dataset) -> ObjectStore:
        data = self.config().data
        return open_store(dataset, data, data_root=Path(data.root).resolve())

    def public_url(self, request: HTTPServerRequest, suffix: str) -> str:
        """An URL of this service; from its configured address, never the Host header."""
        base = self.service_url or f"{request.protocol}://{request.host}"
        return f"{base}{self.prefix}{suffix}"

    def datasets_read(self, session_id: str, kernel_id: str | None) -> set[str]:
        query = select(AuditRecord.dataset).where(
            AuditRecord.session_id == session_id, AuditRecord.decision == "allow",
            AuditRecord.action.in_(READ_ACTIONS))
        if kernel_id:
            query = query.where(AuditRecord.kernel_id == kernel_id)
        with Session(self.engine) as db:
            return set(db.scalars(query.distinct()))


def publisher(objects: OutputStore) -> Any:
    """The scheduler's publish hook: each output to ``jobs/<job>/runs/<run>/<file>``.
    Local runs give absolute file paths; Kubernetes runs, keys in the output store."""

    def publish(run: Run, result: RunResult) -> dict[str, str]:
        keys = {}
        for name, source in result.outputs.items():
            source = Path(source)
            key = f"jobs/{run.job_id}/runs/{run.id}/{source.name}"
            objects.put(key, source if source.is_absolute() else objects.get(str(source)))
            keys[name] = key
        return keys

    return publish


def start_jobs(broker: Broker, stop: threading.Event, base: Path | None = None
               ) -> threading.Thread:
    """Open the output and secret stores, make the executor and run the scheduler's
    ``serve`` in a daemon thread until ``stop`` is set. Paths are relative to ``base``
    (default: the working folder, which the hub gives its managed service)."""
    config = broker.config()
    base = Path(base or Path.cwd())
    state = (base / config.hub.state_dir).resolve()
    s3 = config.data.s3
    broker.objects = open_objects(config.storage.url, base=base,
                                  endpoint_url=s3.endpoint_url, region=s3.region)
    try:
        broker.secret_store = SecretStore(broker.engine,
                                          load_key(state / "secret.key", create=True))
    except AssayError as exc:
        log.error("job secrets are unavailable: %s", exc.log_detail)
    if config.mode == "kubernetes":
        from ..jobs.executors.kubernetes import KubernetesExecutor

        broker.executor = KubernetesExecutor(config.kubernetes, broker.objects,
                                             config.storage.url,
                                             s3_endpoint_url=s3.endpoint_url)
    else:
        from ..jobs.executors.local import LocalExecutor

        broker.executor = LocalExecutor()
    notifier = Notifier(lambda: broker.config().jobs.webhook_hosts)
    broker.scheduler = Scheduler(
        broker.engine, broker.executor, config=broker.config, fetch=broker.objects.get,
        publish=publisher(broker.objects), workdir_root=state / "jobs" / "runs",
        broker_url=_runs_broker_url(broker, config),
        secrets=broker.secret_store, notifier=notifier)
    thread = threading.Thread(target=broker.scheduler.serve, args=(stop,),
                              name="assay-scheduler", daemon=True)
    thread.start()
    log.info("jobs: %s executor, outputs in %s", config.mode, config.storage.url)
    return thread


def start_model_expiry(broker: Broker) -> None:
    """Remove model versions left pending past ``models.pending_hours``, now and then
    every ``expiry.interval`` of the current setting, on this loop."""
    loop = IOLoop.current()

    async def sweep() -> None:
        hours = broker.config().models.pending_hours
        try:
            await expiry.expire_pending(api_models.registry_of(broker), broker.audit, hours,
                                        broker.objects)
        except Exception:  # a failed pass must not end the sweeps
            log.exception("model expiry pass failed")
        loop.call_later(expiry.interval(hours), lambda: loop.spawn_callback(sweep))

    loop.spawn_callback(sweep)


def _runs_broker_url(broker: Broker, config: AssayConfig) -> str | None:
    """The service's URL as runs reach it: ``kubernetes.broker_url`` for pods."""
    base = config.broker_url_for_pods() or broker.service_url
    return base + broker.prefix if base else None


def routes(broker: Broker) -> list:
    api = re.escape(broker.prefix) + "api/v1/"
    name, path, num = r"([^/]+)", r"(.+?)", r"(\d{1,18})"
    table = [
        ("openapi.json", api_admin.OpenAPIHandler),
        ("whoami", api_data.WhoAmIHandler),
        ("datasets", api_data.DatasetsHandler),
        (f"datasets/{name}", api_data.DatasetHandler),
        (f"datasets/{name}/files", api_data.FilesHandler),
        (f"datasets/{name}/files/{path}/signed-url", api_data.SignedUrlHandler),
        (f"datasets/{name}/files/{path}", api_data.FileHandler),
        (r"signed/([A-Za-z0-9_.=-]+)", api_data.SignedFileHandler),
        ("audit", api_admin.AuditHandler),
        ("audit/verify", api_admin.AuditVerifyHandler),
        ("sessions", api_admin.SessionsHandler),
        ("sessions/current/taint", api_admin.TaintHandler),
        (r"sessions/([0-9a-f]{1,64})", api_admin.SessionHandler),
        ("jobs", api_jobs.JobsHandler),
        (f"jobs/{num}", api_jobs.JobHandler),
        (f"jobs/{num}/runs", api_jobs.JobRunsHandler),
        (f"jobs/{num}/(pause|resume)", api_jobs.JobPauseHandler),
        (f"runs/{num}", api_runs.RunHandler),
        (f"runs/{num}/(log|notebook|html)", api_runs.RunFileHandler),
        (f"runs/{num}/cancel", api_runs.RunCancelHandler),
        (f"runs/{num}/metrics", api_runs.RunMetricsHandler),
        ("secrets", api_runs.SecretsHandler),
        (f"secrets/{name}", api_runs.SecretHandler),
        ("profiles", api_runs.ProfilesHandler),
        ("dask/clusters", api_dask.ClustersHandler),
        (f"dask/clusters/{name}", api_dask.ClusterHandler),
        *model_routes(),
    ]
    out = [(api + pattern + "$", handler, {"broker": broker}) for pattern, handler in table]
    ui = re.escape(broker.prefix)
    pages = [("ui/jobs/?", jobs_page.JobsPage), (f"ui/jobs/{num}", jobs_page.JobPage),
             (f"ui/runs/{num}/(log|notebook|html)", jobs_page.RunFilePage),
             ("oauth_callback", jobs_page.OAuthCallback),
             ("models/?", models_page.ModelsPage), (f"models/{name}", models_page.ModelPage)]
    return out + [(ui + pattern + "$", handler, {"broker": broker})
                  for pattern, handler in pages]


def model_routes() -> list:
    """The model registry's API (issue 5), under ``api/v1/``. Name segments may be
    empty so that an empty name is refused naming the field, not a bare 404."""
    name = r"([^/]*)"
    versions = f"models/{name}/versions"
    return [("models", api_models.ModelsHandler), (f"models/{name}", api_models.ModelHandler),
            (versions, api_models.VersionsHandler),
            (f"{versions}/{name}", api_models.VersionHandler),
            (f"{versions}/{name}/commit", api_models.CommitHandler),
            (f"{versions}/{name}/files/(.+)", api_models_files.ModelFileHandler),
            (f"models/{name}/aliases/{name}", api_models_aliases.AliasHandler),
            (f"models/{name}/aliases/{name}/approve", api_models_aliases.ApproveHandler)]


def make_app(broker: Broker) -> web.Application:
    # the cookie secret signs the OAuth state and token cookies of the jobs page; a new
    # process makes a new one (a browser then signs in again, without a prompt)
    return web.Application(routes(broker), default_handler_class=api_data.NotFoundHandler,
                           default_handler_args={"broker": broker},
                           cookie_secret=secrets.token_bytes(32))


LISTEN_IP_ENV = "ASSAY_BROKER_LISTEN_IP"


def build_from_env() -> tuple[Broker, str, int]:
    """The broker as the hub starts it: settings from JupyterHub's service environment."""
    config_path = os.environ.get("ASSAY_CONFIG") or str(default_path())
    source = ConfigSource(config_path)
    engine = make_engine(source.current().database.url)
    upgrade(engine)
    url = urlparse(os.environ["JUPYTERHUB_SERVICE_URL"])
    broker = Broker(source, engine, api_url=os.environ["JUPYTERHUB_API_URL"],
                    token=os.environ["JUPYTERHUB_API_TOKEN"],
                    prefix=os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/assay/"))
    broker.service_url = f"{url.scheme}://{url.netloc}"
    # in a cluster the advertised host is a Service name the pod cannot bind: listen on
    # the address ASSAY_BROKER_LISTEN_IP gives (e.g. 0.0.0.0) at the advertised port
    host = os.environ.get(LISTEN_IP_ENV) or url.hostname or "127.0.0.1"
    return broker, host, url.port or 80


def main() -> None:
    logging.basicConfig(level=logging.INFO,
                        format="[%(levelname).1s %(asctime)s %(name)s] %(message)s")
    broker, host, port = build_from_env()
    # bodies beyond 1 MiB are cut off while reading (POST jobs raises it for its notebook);
    # the API itself allows 64 KiB
    make_app(broker).listen(port, address=host, xheaders=False, max_body_size=1024 * 1024)
    log.info("Assay broker listening on http://%s:%d%s", host, port, broker.prefix)
    stop = threading.Event()
    scheduler = start_jobs(broker, stop)
    start_model_expiry(broker)
    loop = IOLoop.current()

    def terminate(*_: Any) -> None:
        stop.set()  # runs go on in their own processes; the next service adopts them
        loop.add_callback_from_signal(loop.stop)

    signal.signal(signal.SIGTERM, terminate)
    try:
        loop.start()
    except KeyboardInterrupt:
        stop.set()
    scheduler.join(10)
    log.info("Assay broker stopped")
