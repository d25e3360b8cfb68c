"""Wires the extension into a running Jupyter server."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import guard
from .client import ServerBroker
from .handlers import handlers
from .taint import TaintTracker


@dataclass
class AssayExtension:
    """What the handlers reach through ``settings["assay_extension"]``."""

    broker: ServerBroker
    tracker: TaintTracker


def load(serverapp: Any) -> AssayExtension:
    web_app = serverapp.web_app
    broker = ServerBroker()
    tracker = TaintTracker(broker, serverapp.contents_manager, serverapp.session_manager)
    extension = AssayExtension(broker, tracker)
    web_app.settings[guard.SETTINGS_KEY] = extension
    web_app.add_handlers(".*$", handlers(web_app.settings["base_url"]))
    tracker.install()
    patterns = guard.install(web_app)
    # extensions loaded after this one may add download routes too: guard again once
    # everything is loaded, before the first request is served
    serverapp.io_loop.add_callback(guard.install, web_app)
    if broker.creds is None:
        serverapp.log.warning("[Assay] %s Data catalog and taint tracking are off.",
                              broker.problem)
    serverapp.log.info("[Assay] extension loaded: catalog at %sassay/datasets, taint-on-save, "
                       "export guard on %d routes", web_app.settings["base_url"], len(patterns))
    return extension
