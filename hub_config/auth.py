"""Authenticators: the loopback-only demo login, and OAuth settings for production."""

from __future__ import annotations

import ipaddress
import os
from typing import Any
from urllib.parse import urlparse

from jupyterhub.authenticators.shared import SharedPasswordAuthenticator

from .config.schema import AssayConfig, OAuth
from .errors import InsecureBind

DEMO_PASSWORD_ENV = "ASSAY_DEMO_PASSWORD"


def is_loopback(host: str | None) -> bool:
    if not host:
        return False  # empty means every interface
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class DemoAuthenticator(SharedPasswordAuthenticator):
    """The demo users with one shared password; refuses to run beyond loopback.

    A shared password is fine on 127.0.0.1 for trying Assay out and never
    acceptable on a network, so the hub stops at start-up if it would listen
    anywhere but loopback.
    """

    def check_allow_config(self) -> None:
        super().check_allow_config()
        app = self.parent
        if app is None:
            return
        # JupyterHub binds the hub to hub_bind_url when set (Assay sets it), else to hub_ip
        hub_host = urlparse(app.hub_bind_url).hostname if app.hub_bind_url else app.hub_ip
        hosts = {"public": urlparse(app.bind_url).hostname, "hub": hub_host or None}
        for what, host in hosts.items():
            if not is_loopback(host):
                raise InsecureBind(
                    f"The demo authenticator only serves loopback, but the {what} address "
                    f"is {host or 'every interface'!r}. Bind to 127.0.0.1 or configure "
                    "auth.type: oauth in assay.yaml."
                )


def demo_settings(config: AssayConfig, environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Traitlets settings for ``DemoAuthenticator``."""
    env = os.environ if environ is None else environ
    return {
        "user_password": env.get(DEMO_PASSWORD_ENV) or config.auth.demo.password,
        "allowed_users": set(config.users()),
        "admin_users": set(config.admins),
    }


def oauth_settings(oauth: OAuth, environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Traitlets settings for oauthenticator's ``GenericOAuthenticator``.

    Groups come from the ``groups_claim`` of the userinfo and become JupyterHub
    groups at every login (``manage_groups``), so profile restrictions follow the
    identity provider. The client secret is read from the environment, never the file.
    """
    env = os.environ if environ is None else environ
    settings: dict[str, Any] = {
        "client_id": oauth.client_id,
        "client_secret": env.get(oauth.client_secret_env, ""),
        "authorize_url": oauth.authorize_url,
        "token_url": oauth.token_url,
        "userdata_url": oauth.userdata_url,
        "scope": list(oauth.scope),
        "username_claim": oauth.username_claim,
        "manage_groups": True,
        "auth_state_groups_key": f"oauth_user.{oauth.groups_claim}",
        "admin_groups": set(oauth.admin_groups),
        "allowed_groups": set(oauth.allowed_groups),
        "enable_auth_state": True,
    }
    if oauth.callback_url:
        settings["oauth_callback_url"] = oauth.callback_url
    return settings
