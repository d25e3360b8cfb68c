"""REST handlers under ``{base_url}assay/``: the broker's catalog, asked by the server."""

from __future__ import annotations

import json

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web

from ..kernels.broker import AssayDataError
from .guard import SETTINGS_KEY

AUTH_RESOURCE = "assay"


class DatasetsHandler(APIHandler):
    """``GET assay/datasets``: the catalog as this server's credential sees it
    (``can_read``, and if not, what is missing and whom to ask)."""

    auth_resource = AUTH_RESOURCE

    @web.authenticated
    @authorized
    async def get(self) -> None:
        broker = self.settings[SETTINGS_KEY].broker
        if broker.creds is None:
            self.set_status(503)
            self.finish(json.dumps({"error": "no_session", "message": broker.problem}))
            return
        try:
            datasets = await broker.catalog()
        except AssayDataError as exc:
            self.set_status(502)
            self.finish(json.dumps({"error": "broker_error", "message": str(exc)}))
            return
        self.finish(json.dumps({"datasets": datasets}))


def handlers(base_url: str) -> list[tuple[str, type]]:
    return [(url_path_join(base_url, "assay", "datasets"), DatasetsHandler)]
