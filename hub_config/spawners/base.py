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

PROFILE_OPTION = "profile"


def _apply_hook(spawner: Any, user_options: dict) -> None:
    spawner.assay_profile = spawner.resolve_profile(user_options)


def _form_hook(form_data: dict[str, list[str]], spawner: Any) -> dict[str, str]:
    options = form.parse(form_data)
    spawner.resolve_profile(options)  # refuse early: the form shows the reason
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

    assay_profile: Profile | None = None

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
