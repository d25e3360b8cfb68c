"""The hub side of per-session credentials: asks the broker to mint and revoke them."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from ..errors import BrokerUnavailable


@dataclass(frozen=True)
class SessionCredential:
    id: str
    token: str


class BrokerClient:
    """Talks to the broker with the service's own token, which only the hub knows."""

    def __init__(self, url: str, token: str, timeout: float = 10):
        self.url = url if url.endswith("/") else url + "/"
        self.headers = {"Authorization": f"token {token}"}
        self.timeout = timeout

    async def mint(self, *, user: str, server: str, profile: str, zone: str,
                   purpose: str) -> SessionCredential:
        body = {"user": user, "server": server, "profile": profile, "zone": zone,
                "purpose": purpose}
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                r = await client.post(self.url + "api/v1/sessions", json=body,
                                      headers=self.headers)
            r.raise_for_status()
        except httpx.HTTPError as exc:
            raise BrokerUnavailable(f"minting a session for {user}:{server} failed: "
                                    f"{type(exc).__name__}: {exc}") from None
        data = r.json()
        return SessionCredential(data["id"], data["token"])

    async def revoke(self, session_id: str) -> bool:
        async with httpx.AsyncClient(timeout=self.timeout) as client:
            r = await client.delete(self.url + f"api/v1/sessions/{session_id}",
                                    headers=self.headers)
        return r.status_code in (204, 404)
