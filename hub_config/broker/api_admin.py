"""Hub-only session endpoints, the taint query, admin audit endpoints, OpenAPI."""

from __future__ import annotations

import json
import re

from ..config.catalog import CLASSES, rank
from ..errors import AccessDenied, BadRequest, NotFound, Unauthorized
from .api_base import ANONYMOUS, BrokerHandler
from .openapi import document

NAME = re.compile(r"^[A-Za-z0-9._@+-]{1,255}$")
SERVER = re.compile(r"^[A-Za-z0-9._~-]{0,255}$")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _field(body: dict, key: str, pattern: re.Pattern, *, required: bool = True) -> str:
    value = body.get(key, "")
    if not isinstance(value, str) or (required and not value) or not pattern.match(value):
        raise BadRequest(f"Field '{key}' is missing or invalid.")
    return value


def purpose_of(body: dict) -> str:
    value = body.get("purpose") or ""
    if not isinstance(value, str) or len(value) > 500 or CONTROL.search(value):
        raise BadRequest("Field 'purpose' must be text of at most 500 characters "
                         "without control characters.")
    return value.strip()


class HubOnly(BrokerHandler):
    async def prepare_hub(self, action: str) -> None:
        """Only the hub's own token passes; anyone else's attempt is audited as a denial."""
        if self.broker.resolver.is_hub(self.request.headers):
            return
        try:
            who = await self.broker.resolver.resolve(self.request.headers)
        except Unauthorized:
            who = ANONYMOUS
        self.record(action=action, allowed=False, reason="not-hub", who=who)
        raise Unauthorized("Only the hub may manage session credentials.")


class SessionsHandler(HubOnly):
    async def post(self) -> None:
        await self.prepare_hub("mint-session")
        body = self.json_body()
        zone = body.get("zone")
        if zone not in ("standard", "secure"):
            raise BadRequest("Field 'zone' must be 'standard' or 'secure'.")
        session_id, token = self.broker.sessions.mint(
            user=_field(body, "user", NAME), server=_field(body, "server", SERVER,
                                                          required=False),
            profile=_field(body, "profile", NAME), zone=zone, purpose=purpose_of(body),
            kind=body.get("kind") if body.get("kind") in ("server", "job") else "server")
        self.write_json({"id": session_id, "token": token}, status=201)


class SessionHandler(HubOnly):
    async def delete(self, session_id: str) -> None:
        await self.prepare_hub("revoke-session")
        if not self.broker.sessions.revoke(session_id):
            raise NotFound("No such session.")
        self.set_status(204)
        self.finish()


class TaintHandler(BrokerHandler):
    """The highest class this session's kernel has read: the server extension marks
    notebooks with it on save."""

    async def get(self) -> None:
        who = await self.identify("taint")
        if not who.session_id:
            raise BadRequest("Taint is tracked per server session; use the session credential.")
        kernel = self.get_query_argument("kernel", None)
        names = self.broker.datasets_read(who.session_id, kernel)
        catalog = self.broker.config().data
        classes = [d.classification for n in names if (d := catalog.dataset(n))]
        top = CLASSES[max(map(rank, classes))] if classes else None
        self.write_json({"classification": top, "datasets": sorted(names)})


class AdminHandler(BrokerHandler):
    async def require_admin(self, action: str) -> None:
        who = await self.identify(action)
        if not who.admin:
            self.record(action=action, allowed=False, reason="not-admin")
            raise AccessDenied(f"{who.user} is not an Assay admin; the audit log is for admins.",
                               dataset="", missing=["the hub's admin role"],
                               ask="an Assay admin")


class AuditHandler(AdminHandler):
    async def get(self) -> None:
        await self.require_admin("audit")
        arg = self.get_query_argument
        try:
            after, limit = int(arg("after", "0")), int(arg("limit", "100"))
        except ValueError:
            raise BadRequest("'after' and 'limit' must be whole numbers.") from None
        records = self.broker.audit.query(user=arg("user", None), dataset=arg("dataset", None),
                                          decision=arg("decision", None), after=after,
                                          limit=max(1, min(limit, 1000)))
        self.write_json({"records": records})


class AuditVerifyHandler(AdminHandler):
    async def get(self) -> None:
        await self.require_admin("audit")
        result = self.broker.audit.verify()
        self.write_json({"ok": result.ok, "checked": result.checked,
                         "first_bad": result.first_bad, "problem": result.problem})


class OpenAPIHandler(BrokerHandler):
    async def get(self) -> None:
        self.finish(json.dumps(document(self.broker.prefix)))
