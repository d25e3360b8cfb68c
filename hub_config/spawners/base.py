"""What every Assay spawner shares: profile choice, group checks, progress events."""

from __future__ import annotations

import asyncio
from typing import Any

from traitlets import Unicode, default
from traitlets.config import Configurable

from .. import profiles
from ..config import ConfigSource, default_path
from ..config.schema import AssayConfig, Profile
from . import form
from .credentials import BrokerClient

PROFILE_OPTION = "profile"


async def _apply_hook(spawner: Any, user_options: dict) -> None:
    profile = spawner.resolve_profile(user_options)
    spawner.assay_purpose = profiles.purpose_for(profile, (user_options or {}).get("purpose"))
    spawner.assay_profile = profile
    await spawner.mint_credential()


def _form_hook(form_data: dict[str, list[str]], spawner: Any) -> dict[str, str]:
    options = form.parse(form_data)
    profile = spawner.resolve_profile(options)  # refuse early: the form shows the reason
    profiles.purpose_for(profile, options.get("purpose"))
    return options


class AssayProfileMixin(Configurable):
    """Mixed into a JupyterHub spawner: profiles from ``assay.yaml`` for this user."""

    assay_config_file = Unicode(
        config=True,
        help="Path of the Assay admin YAML. Default: $ASSAY_CONFIG, else the shipped assay.yaml.",
    )

    @default("assay_config_file")
    def _default_config_file(self) -> str:
        return str(default_path())

    @default("apply_user_options")
    def _default_apply_user_options(self) -> Any:
        return _apply_hook

    @default("options_from_form")
    def _default_options_from_form(self) -> Any:
        return _form_hook

    @default("options_form")
    def _default_options_form(self) -> Any:
        return lambda spawner: spawner.render_profile_form()

    broker_service_url = Unicode(
        "",
        config=True,
        help="Internal URL (scheme, host, port) of the Assay broker service. Empty: servers "
        "get no data credential.",
    )

    broker_token = Unicode(
        "",
        config=True,
        help="The broker service's API token; with it the hub mints session credentials.",
    )

    assay_profile: Profile | None = None
    assay_purpose: str = ""
    session_id: str = ""
    session_token: str = ""

    def broker_url(self) -> str:
        """The broker's URL under the hub's base URL, e.g. http://127.0.0.1:8002/services/assay/."""
        base = self.hub.base_url[: -len("hub/")] if self.hub else "/"
        return f"{self.broker_service_url.rstrip('/')}{base}services/assay/"

    async def mint_credential(self) -> None:
        """A credential bound to (user, server, profile, zone, purpose) for this spawn."""
        await self.revoke_credential()
        if not self.broker_service_url or self.assay_profile is None:
            return
        client = BrokerClient(self.broker_url(), self.broker_token)
        credential = await client.mint(
            user=self.user.name, server=self.name or "", profile=self.assay_profile.slug,
            zone=self.assay_profile.zone, purpose=self.assay_purpose)
        self.session_id, self.session_token = credential.id, credential.token

    async def revoke_credential(self) -> None:
        if not (self.session_id and self.broker_service_url):
            return
        try:
            await BrokerClient(self.broker_url(), self.broker_token).revoke(self.session_id)
        except Exception as exc:  # the server is stopping anyway; say so, keep going
            self.log.error("Could not revoke session %s of %s: %s", self.session_id,
                           self._log_name, exc)
            return
        self.session_id = self.session_token = ""

    def get_env(self) -> dict[str, str]:
        env = super().get_env()
        if self.session_token:
            env["ASSAY_SESSION_TOKEN"] = self.session_token
            env["ASSAY_BROKER_URL"] = self.broker_url()
        if self.assay_purpose:
            env["ASSAY_PURPOSE"] = self.assay_purpose
        env["ASSAY_MODE"] = self.assay_config().mode  # assay.dask: LocalCluster or KubeCluster
        return env

    async def stop(self, now: bool = False) -> None:
        try:
            await super().stop(now=now)
        finally:
            await self.revoke_credential()

    def get_state(self) -> dict[str, Any]:
        state = super().get_state()
        if self.session_id:
            state["session_id"] = self.session_id
        return state

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        self.session_id = state.get("session_id", "")

    def assay_config(self) -> AssayConfig:
        """The current admin config (re-read after an edit, last good on error)."""
        return ConfigSource.shared(self.assay_config_file).current()

    def user_group_names(self) -> list[str]:
        """The user's groups now, from the hub database (not from the login)."""
        return sorted(group.name for group in self.user.groups)

    def render_profile_form(self) -> str:
        config = self.assay_config()
        previous = (self.orm_spawner.user_options or {}) if self.orm_spawner else {}
        return form.render(profiles.usable(config, self.user_group_names()),
                           previous.get(PROFILE_OPTION))

    def resolve_profile(self, user_options: dict) -> Profile:
        """The profile for ``user_options``; raises a 4xx ``SpawnRefused`` otherwise."""
        slug = (user_options or {}).get(PROFILE_OPTION)
        profile = profiles.choose(self.assay_config(), slug, self.user.name,
                                  self.user_group_names())
        self.log.info("%s chose profile %s", self._log_name, profile.slug)
        return profile

    def requester_is_admin(self) -> bool:
        handler = getattr(self, "handler", None)
        current = getattr(handler, "current_user", None) if handler else None
        return bool(getattr(current, "admin", False) or self.user.admin)

    # -- progress events shown on JupyterHub's spawn-pending page -------------

    def emit_progress(self, progress: int, message: str) -> None:
        events = self.__dict__.setdefault("_assay_events", [])
        events.append({"progress": progress, "message": message})

    def reset_progress(self) -> None:
        self.__dict__["_assay_events"] = []

    async def progress(self):  # type: ignore[override]
        sent = 0
        while True:
            events = self.__dict__.get("_assay_events", [])
            while sent < len(events):
                yield events[sent]
                sent += 1
            if not self._spawn_pending:
                return
            await asyncio.sleep(0.1)
