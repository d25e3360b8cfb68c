"""The single-user server's own line to the broker: its session credential, async.

The browser never sees the credential; the server asks on its behalf.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from ..kernels.broker import AssayDataError, Credentials, credentials, error_for, unreachable
from .marking import Marking

TIMEOUT = httpx.Timeout(10.0)


class ServerBroker:
    """Broker calls the server extension needs: the catalog and a kernel's taint."""

    def __init__(self, environ: Mapping[str, str] | None = None):
        self.creds: Credentials | None
        try:
            self.creds, self.problem = credentials(environ), ""
        except AssayDataError as exc:
            self.creds, self.problem = None, str(exc)
        self._client: httpx.AsyncClient | None = None

    async def get(self, *parts: str, params: dict[str, str] | None = None) -> Any:
        """The JSON of one broker endpoint; ``AssayDataError`` (or a subclass) otherwise."""
        if self.creds is None:
            raise AssayDataError(self.problem)
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False)
        headers = {"Authorization": f"token {self.creds.token}",
                   "User-Agent": "assay-server-extension/0.1"}
        try:
            response = await self._client.get(self.creds.endpoint(*parts), params=params,
                                              headers=headers)
        except httpx.HTTPError as exc:
            raise unreachable(self.creds, exc) from None
        if response.status_code >= 400:
            raise error_for(response)
        return response.json()

    async def catalog(self) -> list[dict[str, Any]]:
        return list((await self.get("datasets"))["datasets"])

    async def taint(self, kernel_id: str) -> Marking:
        """The highest class kernel ``kernel_id`` of this server has read, and what."""
        body = await self.get("sessions", "current", "taint", params={"kernel": kernel_id})
        return Marking.parse(body.get("classification"), body.get("datasets"))

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
