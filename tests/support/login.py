"""Log in through the hub's real login form, as a browser would (cookies, XSRF)."""

from __future__ import annotations

import httpx

from hubprocess import DEMO_PASSWORD, HubProcess


def login(hub: HubProcess, user: str, password: str = DEMO_PASSWORD) -> httpx.Client:
    client = httpx.Client(base_url=hub.url, timeout=60, follow_redirects=False)
    client.get("hub/login")
    xsrf = client.cookies.get("_xsrf")
    r = client.post("hub/login", data={"username": user, "password": password, "_xsrf": xsrf})
    if r.status_code != 302:
        raise AssertionError(f"login of {user} failed: {r.status_code} {r.text[:500]}")
    return client


def xsrf(client: httpx.Client) -> str:
    return client.cookies.get("_xsrf") or ""
