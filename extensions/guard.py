"""Export guard: notebooks marked above ``internal`` are not downloaded or converted.

Jupyter Server serves downloads from ``/files/<path>`` (a notebook always as an
attachment) and exports from ``/nbconvert/<format>/<path>`` (GET) and
``/nbconvert/<format>`` (POST with the notebook in the body). Rather than add
look-alike routes that another extension could shadow, every route whose handler is
(a subclass of) one of those handlers is given a subclass that checks first, in place,
in every router of the web application — same pattern, same arguments, same order.

This is a guardrail against accidents, not a boundary: code in the kernel can still
write files. The boundary is the broker, which decides every read.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import AuthenticatedFileHandler
from jupyter_server.files.handlers import FilesHandler
from jupyter_server.nbconvert.handlers import NbconvertFileHandler, NbconvertPostHandler
from tornado import web
from tornado.routing import RuleRouter

from ..kernels.broker import AssayDataError
from .marking import EXPORT_LIMIT, Marking, rank

PATH_HANDLERS = (AuthenticatedFileHandler, FilesHandler, NbconvertFileHandler)
SETTINGS_KEY = "assay_extension"

PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Export blocked by Assay</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto">
<h1>Export blocked</h1><p id="assay-export-blocked">{message}</p></body></html>
"""


async def refusal_message(handler: Any, marking: Marking) -> str:
    """Why ``marking`` blocks an export and whom to ask, naming the sensitive datasets."""
    extension = handler.settings[SETTINGS_KEY]
    names, approvers = list(marking.datasets), []
    try:
        catalog = {d["name"]: d for d in await extension.broker.catalog()}
    except AssayDataError:
        catalog = {}
    sensitive = [n for n in names if n in catalog
                 and rank(catalog[n]["classification"]) > rank(EXPORT_LIMIT)]
    names = sensitive or names
    for name in names:
        approver = catalog.get(name, {}).get("approver")
        if approver and approver not in approvers:
            approvers.append(approver)
    ask = " or ".join(approvers) or "the data's approver (see assay.data.datasets())"
    read = f" ({', '.join(names)})" if names else ""
    return (f"This notebook read {marking.classification} data{read}; exporting it is "
            f"blocked by Assay's guardrail. Ask {ask} before anything from it leaves the "
            "workbench; meanwhile keep working on it in Assay.")


async def refuse(handler: Any, marking: Marking, what: str) -> None:
    message = await refusal_message(handler, marking)
    handler.log.warning("[Assay] refused %s for %s: %s", what, handler.current_user.username,
                        message)
    handler.clear_header("Content-Disposition")
    handler.set_status(403)
    accept = handler.request.headers.get("Accept", "")
    if handler.request.method == "HEAD":
        handler.finish()
    elif isinstance(handler, NbconvertPostHandler) or (
            "application/json" in accept and "text/html" not in accept):
        handler.set_header("Content-Type", "application/json; charset=utf-8")
        handler.finish(json.dumps({"error": "export_blocked", "message": message,
                                   "classification": marking.classification,
                                   "datasets": list(marking.datasets)}))
    else:
        handler.set_header("Content-Type", "text/html; charset=utf-8")
        handler.finish(PAGE.format(message=escape(message)))


async def blocking_marking(handler: Any, path: str) -> Marking | None:
    """The marking of the notebook at ``path`` if it blocks exports, else None."""
    if not path.lower().endswith(".ipynb"):
        return None
    marking = await handler.settings[SETTINGS_KEY].tracker.marking_for(path)
    return marking if marking.blocks_export else None


def _path_of(args: tuple, kwargs: dict) -> str:
    path = kwargs.get("path", args[-1] if args else "")
    return (path or "").strip("/")


class GuardedPath:
    """Mixed in before a download/export handler of a path."""

    @web.authenticated
    @authorized
    async def get(self, *args: Any, **kwargs: Any) -> Any:
        path = _path_of(args, kwargs)
        marking = await blocking_marking(self, path)
        if marking is not None:
            return await refuse(self, marking, f"download/export of {path}")
        return await ensure_async(super().get(*args, **kwargs))  # type: ignore[misc]

    @web.authenticated
    @authorized
    async def head(self, *args: Any, **kwargs: Any) -> Any:
        path = _path_of(args, kwargs)
        marking = await blocking_marking(self, path)
        if marking is not None:
            return await refuse(self, marking, f"download of {path}")
        return await ensure_async(super().head(*args, **kwargs))  # type: ignore[misc]


class GuardedConvert:
    """Mixed in before nbconvert's POST handler: the notebook comes in the body."""

    @web.authenticated
    @authorized
    async def post(self, *args: Any, **kwargs: Any) -> Any:
        body = self.get_json_body() or {}  # type: ignore[attr-defined]
        content = body.get("content") if isinstance(body, dict) else None
        marking = Marking.from_metadata(content.get("metadata")
                                        if isinstance(content, dict) else None)
        if marking.blocks_export:
            return await refuse(self, marking, "nbconvert of a posted notebook")
        return await ensure_async(super().post(*args, **kwargs))  # type: ignore[misc]


_guarded: dict[type, type] = {}


def guarded(handler: type) -> type:
    """The checking subclass of a download/export handler class."""
    if handler not in _guarded:
        mixin = GuardedConvert if issubclass(handler, NbconvertPostHandler) else GuardedPath
        _guarded[handler] = type(f"AssayGuarded{handler.__name__}", (mixin, handler),
                                 {"_assay_guarded": True, "__module__": __name__})
    return _guarded[handler]


def _routers(router: Any) -> list[RuleRouter]:
    found = [router]
    for rule in getattr(router, "rules", []):
        if isinstance(rule.target, RuleRouter):
            found += _routers(rule.target)
    return found


def install(web_app: web.Application) -> list[str]:
    """Guard every download/export route of ``web_app`` (idempotent); returns the patterns."""
    guarded_patterns = []
    for router in _routers(web_app.default_router):
        for rule in router.rules:
            target = rule.target
            if not isinstance(target, type) or getattr(target, "_assay_guarded", False):
                continue
            if issubclass(target, (*PATH_HANDLERS, NbconvertPostHandler)):
                rule.target = guarded(target)
                regex = getattr(rule.matcher, "regex", None)
                guarded_patterns.append(regex.pattern if regex else repr(rule.matcher))
    return guarded_patterns
