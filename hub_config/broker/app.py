"""The broker service process: ``python -m assay.broker``, started and proxied by the hub."""

from __future__ import annotations

import logging
import os
import re
import secrets
import signal
from pathlib import Path
from urllib.parse import urlparse

from jupyterhub.services.auth import HubAuth
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
from . import api_admin, api_data
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
        self.resolver = IdentityResolver(self.sessions, HubUsers(api_url, token), hub_auth,
                                         token)
        self.secret = secrets.token_bytes(32)  # signed URLs die with the process (TTL <= 60 s)
        self.service_url = ""  # scheme://host:port the service listens on (set by main)

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


def routes(broker: Broker) -> list:
    api = re.escape(broker.prefix) + "api/v1/"
    name, path = r"([^/]+)", r"(.+?)"
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
    ]
    return [(api + pattern + "$", handler, {"broker": broker}) for pattern, handler in table]


def make_app(broker: Broker) -> web.Application:
    return web.Application(routes(broker), default_handler_class=api_data.NotFoundHandler,
                           default_handler_args={"broker": broker})


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
    return broker, url.hostname or "127.0.0.1", url.port or 80


def main() -> None:
    logging.basicConfig(level=logging.INFO,
                        format="[%(levelname).1s %(asctime)s %(name)s] %(message)s")
    broker, host, port = build_from_env()
    # bodies beyond 1 MiB are cut off while reading; the API itself allows 64 KiB
    make_app(broker).listen(port, address=host, xheaders=False, max_body_size=1024 * 1024)
    log.info("Assay broker listening on http://%s:%d%s", host, port, broker.prefix)
    loop = IOLoop.current()
    signal.signal(signal.SIGTERM, lambda *_: loop.add_callback_from_signal(loop.stop))
    try:
        loop.start()
    except KeyboardInterrupt:
        pass
    log.info("Assay broker stopped")
