"""Production backend: each user's JupyterLab as a Kubernetes pod, sized by its profile.

Profiles come from ``assay.yaml`` and become KubeSpawner ``profile_list`` entries
(``objects.py``). The group policy is Assay's, enforced twice: the form and the
``profile_list`` only ever show the profiles the user may use, and every request
(form or REST ``user_options``) is resolved by ``resolve_profile`` before KubeSpawner
applies anything, so a forbidden or unknown slug is refused with a 403 / 400.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

from kubespawner import KubeSpawner
from traitlets import default

from .. import profiles
from ..profiles import summary
from . import objects
from .base import AssayProfileMixin


def usable_profile_list(spawner: AssayKubeSpawner) -> list[dict[str, Any]]:
    """``profile_list`` callable: entries for the profiles this user may use, now."""
    config = spawner.assay_config()
    allowed = profiles.usable(config, spawner.user_group_names())
    return objects.profile_list(allowed, config.kubernetes)


class AssayKubeSpawner(AssayProfileMixin, KubeSpawner):
    """KubeSpawner with Assay's profiles, group checks, form and progress messages.

    Switching profiles on the same spawner (GPU → CPU) leaves no trace of the
    previous one: every trait a profile may override is reset to its value at
    construction before the new profile's overrides are applied.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._assay_baseline = {
            name: copy.deepcopy(getattr(self, name)) for name in objects.OVERRIDDEN_TRAITS
        }

    @default("profile_list")
    def _assay_profile_list_default(self) -> Any:
        return usable_profile_list

    @default("namespace")
    def _assay_namespace_default(self) -> str:
        return self.assay_config().kubernetes.namespace

    @default("image")
    def _assay_image_default(self) -> str:
        return self.assay_config().kubernetes.image

    @default("default_url")
    def _assay_default_url(self) -> str:
        return "/lab"

    def reset_profile_traits(self) -> None:
        """Every trait a profile may set back to its value when the spawner was built."""
        for name, value in self._assay_baseline.items():
            setattr(self, name, copy.deepcopy(value))

    async def load_user_options(self) -> None:
        """Refuse (403 / 400) before applying anything, then apply exactly one profile."""
        profile = self.resolve_profile(self.user_options)
        self.assay_profile = profile
        self.reset_profile_traits()
        self.reset_progress()
        self.emit_progress(10, f"Profile {profile.display_name} chosen: {summary(profile)}")
        # KubeSpawner picks the same profile: an explicit slug, else the one default entry.
        await super().load_user_options()

    async def progress(self) -> AsyncIterator[dict[str, Any]]:  # type: ignore[override]
        """Assay's own messages first, then KubeSpawner's pod events."""
        for event in list(self.__dict__.get("_assay_events", [])):
            yield event
        async for event in KubeSpawner.progress(self):
            yield event

    def get_state(self) -> dict[str, Any]:
        state = super().get_state()
        if self.assay_profile is not None:
            state["profile"] = self.assay_profile.slug
        return state

    def clear_state(self) -> None:
        super().clear_state()
        self.assay_profile = None
