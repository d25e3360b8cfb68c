"""Who is calling the broker: only the hub can say.

A request carries ``Authorization: token <T>``. ``T`` is a session credential minted
for one server (it carries the zone), or a hub API token checked by the hub (no zone).
Groups and admin status always come from the hub's current user model, cached for a
couple of seconds only, so a group removal takes effect within the 5 s promised.
Nothing the client says about itself (headers, query, body) is trusted.

A job run's credential (kind ``job``, server ``job-run:<id>``) is good while that run is
``running``; it carries the zone of the job's profile and the run's id.
"""

from __future__ import annotations

import asyncio
import hmac
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx
from jupyterhub.services.auth import HubAuth

from ..errors import Unauthorized
from .policy import Identity
from .sessions import Session, SessionStore

SESSION_PREFIX = "assay-s-"
_AUTH = re.compile(r"^(?:token|bearer)\s+(\S{1,512})$", re.IGNORECASE)
USER_TTL = 2.0
JOB_KIND = "job"
RUN_SERVER_PREFIX = "job-run:"  # as assay.jobs.store.run_server


def run_of(session: Session) -> int | None:
    """The run a job credential was issued to (``job-run:42`` → 42), else None."""
    if session.kind != JOB_KIND or not session.server.startswith(RUN_SERVER_PREFIX):
        return None
    number = session.server[len(RUN_SERVER_PREFIX):]
    return int(number) if number.isdigit() else None


def bearer(headers: Any) -> str | None:
    """The token of an ``Authorization`` header, or None."""
    match = _AUTH.match(headers.get("Authorization", "").strip())
    return match.group(1) if match else None


class HubUsers:
    """Current user models from the hub's REST API, cached for ``ttl`` seconds."""

    def __init__(self, api_url: str, token: str, ttl: float = USER_TTL):
        self.api_url = api_url.rstrip("/") + "/"
        self.ttl = ttl
        self._client = httpx.AsyncClient(headers={"Authorization": f"token {token}"},
                                         timeout=10)
        self._cache: dict[str, tuple[float, dict | None]] = {}
        self._fetching: dict[str, asyncio.Future] = {}

    async def get(self, name: str) -> dict | None:
        """The user's model; concurrent misses for one user share a single hub request."""
        hit = self._cache.get(name)
        if hit and time.monotonic() - hit[0] < self.ttl:
            return hit[1]
        fetch = self._fetching.get(name)
        if fetch is None:
            fetch = asyncio.ensure_future(self._fetch(name))
            self._fetching[name] = fetch
            fetch.add_done_callback(lambda _: self._fetching.pop(name, None))
        return await asyncio.shield(fetch)

    async def _fetch(self, name: str) -> dict | None:
        r = await self._client.get(self.api_url + "users/" + quote(name, safe=""))
        if r.status_code == 404:
            model = None
        else:
            r.raise_for_status()
            model = r.json()
        self._cache[name] = (time.monotonic(), model)
        return model


class IdentityResolver:
    """Turns a request's credential into an ``Identity`` (or raises ``Unauthorized``)."""

    def __init__(self, sessions: SessionStore, users: HubUsers, hub_auth: HubAuth,
                 service_token: str, run_status: Callable[[int], str | None] | None = None):
        self.sessions = sessions
        self.users = users
        self.hub_auth = hub_auth
        self.service_token = service_token
        self.run_status = run_status  # run id → its status (None: no such run)

    def _live(self, session: Session, model: dict | None, what: str) -> int | None:
        """Refuse a credential whose server (or job run) has ended; the run id of a job
        credential."""
        if session.kind == JOB_KIND:
            run_id = run_of(session)
            status = (self.run_status(run_id) if run_id is not None and self.run_status
                      else None)
            if status != "running" or model is None:
                raise Unauthorized(f"The job run {what} is not running.")
            return run_id
        if model is None or session.server not in (model.get("servers") or {}):
            raise Unauthorized(f"The server {what} is not running.")
        return None

    def is_hub(self, headers: Any) -> bool:
        """The caller holds this service's own token: only the hub (spawner) does."""
        token = bearer(headers)
        return bool(token) and hmac.compare_digest(token, self.service_token)

    async def resolve(self, headers: Any, kernel_id: str | None = None) -> Identity:
        token = bearer(headers)
        if not token:
            raise Unauthorized("Missing credential: send 'Authorization: token <token>'.")
        if token.startswith(SESSION_PREFIX):
            return await self._from_session(token, kernel_id)
        return await self._from_hub_token(token)

    async def _from_session(self, token: str, kernel_id: str | None) -> Identity:
        session = self.sessions.lookup(token)
        if session is None:
            raise Unauthorized("This session credential is unknown, expired or revoked. "
                               "Restart your server to get a new one.")
        model = await self.users.get(session.user)
        run_id = self._live(session, model, "this credential was issued to")
        assert model is not None
        return Identity(
            user=session.user, groups=frozenset(model.get("groups", [])),
            zone=session.zone, admin=bool(model.get("admin")), server=session.server,
            profile=session.profile, purpose=session.purpose, session_id=session.id,
            kernel_id=kernel_id, run_id=run_id,
        )

    async def _from_hub_token(self, token: str) -> Identity:
        whom = await self.hub_auth.user_for_token(token, sync=False)
        if not whom:
            raise Unauthorized("Invalid or expired token.")
        if whom.get("kind") == "service":
            admin = "admin" in (whom.get("roles") or [])
            return Identity(user=f"service:{whom['name']}", groups=frozenset(), admin=admin)
        model = await self.users.get(whom["name"])
        if model is None:
            raise Unauthorized("Invalid or expired token.")
        return Identity(user=model["name"], groups=frozenset(model.get("groups", [])),
                        admin=bool(model.get("admin")))

    async def identity_for_grant(self, grant: Any) -> Identity:
        """The holder of a broker-signed URL, as of now (its session must still be live)."""
        if grant.session_id:
            session = self.sessions.get(grant.session_id)
            if session is None or session.user != grant.user:
                raise Unauthorized("The session this URL was signed for has ended.")
            model = await self.users.get(session.user)
            run_id = self._live(session, model, "this URL was signed for")
            assert model is not None
            return Identity(user=session.user, groups=frozenset(model.get("groups", [])),
                            zone=session.zone, admin=bool(model.get("admin")),
                            server=session.server, profile=session.profile,
                            purpose=session.purpose, session_id=session.id, run_id=run_id)
        model = await self.users.get(grant.user)
        if model is None:
            raise Unauthorized("The user this URL was signed for no longer exists.")
        return Identity(user=grant.user, groups=frozenset(model.get("groups", [])),
                        admin=bool(model.get("admin")))

    async def for_user(self, name: str) -> Identity:
        """A hub user as of now (the web pages, after the hub's OAuth said who it is)."""
        model = await self.users.get(name)
        if model is None:
            raise Unauthorized("This user no longer exists.")
        return Identity(user=model["name"], groups=frozenset(model.get("groups", [])),
                        admin=bool(model.get("admin")))
