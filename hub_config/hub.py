"""Turns ``assay.yaml`` into JupyterHub settings; ``jupyterhub_config.py`` calls this.

Nothing here starts a server: ``configure`` only fills the traitlets config ``c``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
from pathlib import Path
from typing import Any

from .auth import DEMO_PASSWORD_ENV, demo_settings, oauth_settings
from .config import AssayConfig, default_path, load
from .errors import ConfigError

ADMIN_TOKEN_ENV = "ASSAY_ADMIN_TOKEN"
PORT_ENV = "ASSAY_PORT"
BROKER_PORT_ENV = "ASSAY_BROKER_PORT"
BROKER_SERVICE = "assay"
SECRET_KEY_ENV = "ASSAY_SECRET_KEY"  # as assay.jobs.secrets.KEY_ENV
PROXY_ENV = "ASSAY_PROXY_COMMAND"
ADMIN_SERVICE = "assay-admin"
SPAWNERS = {
    "local": "assay.spawners.local.AssayLocalSpawner",
    "kubernetes": "assay.spawners.kubernetes.AssayKubeSpawner",
}


def find_proxy() -> str | None:
    """configurable-http-proxy: $ASSAY_PROXY_COMMAND, PATH, or an npm install beside the repo."""
    if os.environ.get(PROXY_ENV):
        return os.environ[PROXY_ENV]
    repo = Path(__file__).resolve().parent.parent
    for folder in (Path.cwd(), repo):
        candidate = folder / "node_modules" / ".bin" / "configurable-http-proxy"
        if candidate.exists():
            return str(candidate)
    return shutil.which("configurable-http-proxy")


def _port(environ: dict[str, str], name: str, default: int) -> int:
    if not environ.get(name):
        return default
    try:
        port = int(environ[name])
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise ConfigError("environment", [
            f"{name}: must be a port number from 1 to 65535, got {environ[name]!r}"])
    return port


def _broker_service(c: Any, file: Path, port: int, environ: dict[str, str],
                    reachable_url: str | None = None) -> None:
    """The data broker: a hub-managed service, the only holder of storage credentials."""
    broker_port = _port(environ, BROKER_PORT_ENV, port + 2)
    token = secrets.token_hex(32)
    url = f"http://127.0.0.1:{broker_port}"
    # storage credentials, and the job secrets' key when it is not kept in a file
    passed = {k: v for k, v in environ.items()
              if k.startswith("AWS_") or k == SECRET_KEY_ENV}
    # The jobs page signs browsers in with the hub's OAuth (HubOAuthenticated): no
    # confirmation page for this admin-run service, and every user may reach it.
    c.JupyterHub.services = [*c.JupyterHub.get("services", []), {
        "name": BROKER_SERVICE, "url": url, "api_token": token, "cwd": str(Path.cwd()),
        "command": [sys.executable, "-m", "assay.broker"],
        "environment": {"ASSAY_CONFIG": str(file), **passed}, "display": False,
        "oauth_no_confirm": True, "oauth_client_allowed_scopes": []}]
    c.JupyterHub.load_roles = [*c.JupyterHub.get("load_roles", []), {
        "name": "assay-broker", "services": [BROKER_SERVICE],
        "scopes": ["list:users", "read:users", "read:users:groups", "read:servers"]}]
    access = f"access:services!service={BROKER_SERVICE}"
    c.JupyterHub.extra_user_scopes = [*c.JupyterHub.get("extra_user_scopes", []), access]
    c.AssayProfileMixin.broker_service_url = (reachable_url or url).rstrip("/")
    c.AssayProfileMixin.broker_token = token


def _network(c: Any, config: AssayConfig, environ: dict[str, str]) -> None:
    hub = config.hub
    port = _port(environ, PORT_ENV, hub.port)
    base_url = hub.base_url if hub.base_url.endswith("/") else hub.base_url + "/"
    c.JupyterHub.bind_url = f"http://{hub.ip}:{port}{base_url}"
    c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{port + 81}"
    c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{port + 1}"
    proxy = find_proxy()
    if proxy:
        c.ConfigurableHTTPProxy.command = [proxy]


def _state(c: Any, config: AssayConfig) -> None:
    state = Path(config.hub.state_dir).resolve()
    state.mkdir(parents=True, exist_ok=True)
    c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
    c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
    c.ConfigurableHTTPProxy.pid_file = str(state / "jupyterhub-proxy.pid")


def configure_authenticator(c: Any, config: AssayConfig, environ: dict[str, str]) -> None:
    """Demo or OAuth login from `auth:` (secrets from the environment, never the YAML)."""
    if config.auth.type == "demo":
        settings = demo_settings(config, environ)
        if len(settings["user_password"]) < 8:
            raise ConfigError("environment", [
                f"{DEMO_PASSWORD_ENV}: must be at least 8 characters, "
                f"got {len(settings['user_password'])}"])
        c.JupyterHub.authenticator_class = "assay.auth.DemoAuthenticator"
        for key, value in settings.items():
            setattr(c.DemoAuthenticator, key, value)
        # demo groups come from the YAML; with OAuth the groups claim manages them
        c.JupyterHub.load_groups = {g: {"users": list(m)} for g, m in config.groups.items()}
        return
    oauth = config.auth.oauth
    settings = oauth_settings(oauth, environ)
    if not settings["client_secret"]:
        raise ConfigError("environment", [
            f"auth.oauth.client_secret_env: environment variable {oauth.client_secret_env} "
            "is not set; the OAuth client secret is read from it"])
    c.JupyterHub.authenticator_class = "generic-oauth"
    for key, value in settings.items():
        setattr(c.GenericOAuthenticator, key, value)
    c.Authenticator.admin_users = set(config.admins)


def configure_admin_service(c: Any, environ: dict[str, str]) -> None:
    """The admin API service when $ASSAY_ADMIN_TOKEN is set (at least 32 characters)."""
    token = environ.get(ADMIN_TOKEN_ENV)
    if not token:
        return
    if len(token) < 32:
        raise ConfigError("environment", [
            f"{ADMIN_TOKEN_ENV}: must be at least 32 characters, got {len(token)}"])
    c.JupyterHub.services = [*c.JupyterHub.get("services", []),
                             {"name": ADMIN_SERVICE, "api_token": token}]
    c.JupyterHub.load_roles = [*c.JupyterHub.get("load_roles", []),
                               {"name": "admin", "services": [ADMIN_SERVICE]}]


def configure(c: Any, path: str | os.PathLike[str] | None = None,
              environ: dict[str, str] | None = None) -> AssayConfig:
    """Fill the JupyterHub config ``c`` from the admin YAML; raise ``ConfigError`` if invalid."""
    env = dict(os.environ if environ is None else environ)
    file = Path(path) if path else default_path()
    config = load(file)
    _network(c, config, env)
    _state(c, config)
    configure_authenticator(c, config, env)
    configure_admin_service(c, env)
    _broker_service(c, file.resolve(), _port(env, PORT_ENV, config.hub.port), env,
                    config.broker_url_for_pods())
    c.JupyterHub.spawner_class = SPAWNERS[config.mode]
    c.AssayProfileMixin.assay_config_file = str(file.resolve())
    c.Spawner.default_url = "/lab"
    c.JupyterHub.template_vars = {"announcement_login": _login_note(config)}
    return config


def _login_note(config: AssayConfig) -> str:
    if config.auth.type != "demo":
        return ""
    return "Assay demo: log in as " + ", ".join(config.users()) + " with the demo password."


def configure_or_exit(c: Any) -> AssayConfig:
    """As ``configure``, but a broken config stops the hub with every error listed."""
    try:
        return configure(c)
    except ConfigError as exc:
        print(f"[Assay] {exc.user_message}\nThe hub will not start.", file=sys.stderr)
        raise SystemExit(2) from None
