"""What every broker handler shares: JSON errors, size limits, identity, auditing."""

from __future__ import annotations

import json
import logging
import re
from typing import TYPE_CHECKING, Any

from tornado import web

from ..errors import BadRequest, BrokerError, NotFound, PayloadTooLarge, Unauthorized
from .policy import Identity

if TYPE_CHECKING:
    from ..config.catalog import Dataset
    from .app import Broker

log = logging.getLogger("assay.broker")

MAX_BODY = 64 * 1024
MAX_DEPTH = 32
KERNEL_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")
ANONYMOUS = Identity(user="-", groups=frozenset())


def _depth(value: Any, level: int = 0) -> int:
    if level > MAX_DEPTH:
        return level
    if isinstance(value, dict):
        return max([_depth(v, level + 1) for v in value.values()], default=level + 1)
    if isinstance(value, list):
        return max([_depth(v, level + 1) for v in value], default=level + 1)
    return level


def safe(text: str, limit: int = 120) -> str:
    """A client-supplied string made safe to echo: printable, truncated, quoted."""
    return repr(text[:limit] + ("…" if len(text) > limit else ""))


class BrokerHandler(web.RequestHandler):
    """Base: JSON in and out, errors as ``{"error", "message"}``, every denial audited."""

    def initialize(self, broker: Broker) -> None:
        self.broker = broker
        self.who: Identity = ANONYMOUS

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Cache-Control", "no-store")

    def check_xsrf_cookie(self) -> None:
        """Token-authenticated API: no cookies are used, so no XSRF."""

    max_body = MAX_BODY  # a route that takes more (a job's notebook) raises it

    async def prepare(self) -> None:
        length = self.request.headers.get("Content-Length")
        if (length and length.isdigit() and int(length) > self.max_body) or \
                len(self.request.body or b"") > self.max_body:
            try:  # audited under the caller's name when the credential is good
                who = await self.broker.resolver.resolve(self.request.headers)
            except Unauthorized:
                who = ANONYMOUS
            self.record(action="oversize", allowed=False, reason="payload-too-large", who=who)
            raise PayloadTooLarge(f"Request body larger than {self.max_body} bytes.")

    def json_body(self) -> dict:
        try:
            body = json.loads(self.request.body or b"{}")
        except ValueError:
            raise BadRequest("Request body is not valid JSON.") from None
        except RecursionError:  # the parser gives up long before 64 KiB of '['
            raise BadRequest(f"Request body nested deeper than {MAX_DEPTH} levels.") from None
        if not isinstance(body, dict):
            raise BadRequest("Request body must be a JSON object.")
        if _depth(body) > MAX_DEPTH:
            raise BadRequest(f"Request body nested deeper than {MAX_DEPTH} levels.")
        return body

    def decode_argument(self, value: bytes, name: str | None = None) -> str:
        """URL path parts that are not UTF-8 keep their bytes as lone surrogates, which
        the dataset lookup and ``clean_path`` refuse like any bad name or path -- audited,
        instead of tornado's bare 400 before any handler code runs."""
        if name is None:
            return value.decode("utf-8", "surrogateescape")
        return super().decode_argument(value, name)

    def kernel_id(self) -> str | None:
        value = self.request.headers.get("X-Assay-Kernel")
        return value if value and KERNEL_ID.match(value) else None

    async def identify(self, action: str, dataset: str = "", path: str = "") -> Identity:
        """The caller, from the hub; a refused credential is audited as a denial."""
        try:
            self.who = await self.broker.resolver.resolve(self.request.headers,
                                                          self.kernel_id())
        except Unauthorized as exc:
            self.record(action=action, allowed=False, reason="unauthenticated",
                        dataset=dataset, path=path, who=ANONYMOUS)
            raise exc
        return self.who

    def record(self, *, action: str, allowed: bool, reason: str, dataset: str = "",
               path: str = "", nbytes: int = 0, who: Identity | None = None) -> dict:
        """Commit one audit record (before any byte of the answer flows)."""
        who = who or self.who
        return self.broker.audit.append(
            user=who.user, server=who.server or "", profile=who.profile or "",
            zone=who.zone or "", purpose=who.purpose or "", session_id=who.session_id or "",
            kernel_id=who.kernel_id or "", dataset=dataset[:200], path=path[:1024],
            action=action, bytes=nbytes, decision="allow" if allowed else "deny",
            reason=reason[:500])

    def find_dataset(self, name: str, action: str, path: str = "") -> Dataset:
        dataset = self.broker.config().data.dataset(name)
        if dataset is None:
            self.record(action=action, allowed=False, reason="unknown-dataset",
                        dataset=name, path=path)
            raise NotFound(f"No such dataset: {safe(name)}. "
                           "GET datasets lists the ones you can see.")
        return dataset

    def write_json(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.finish(json.dumps(data))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, BrokerError):
            self.set_status(exc.status_code)
            if isinstance(exc, Unauthorized):
                self.set_header("WWW-Authenticate", 'token realm="assay"')
            body = exc.body()
        elif isinstance(exc, web.HTTPError):
            body = {"error": "http_error", "message": exc.reason or self._reason}
        else:
            body = {"error": "internal", "message": "Internal error in the Assay broker."}
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(body))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, BrokerError):
            log.info("%s %s -> %s %s (%s)", self.request.method, self.request.path,
                     value.status_code, value.error, value.log_detail)
        else:
            super().log_exception(typ, value, tb)
