"""Who may use which compute profile: pure functions over the admin config."""

from __future__ import annotations

from .config.schema import AssayConfig, Profile
from .errors import ProfileForbidden, PurposeRequired, UnknownProfile

MAX_PURPOSE = 500


def allowed(profile: Profile, groups: list[str]) -> bool:
    """A profile with no groups is open to everyone; otherwise one group must match."""
    return not profile.groups or bool(set(profile.groups) & set(groups))


def usable(config: AssayConfig, groups: list[str]) -> list[Profile]:
    return [p for p in config.profiles if allowed(p, groups)]


def grantors(config: AssayConfig) -> str:
    """Who can grant a missing group, for error messages."""
    if config.admins:
        return "an Assay admin (" + ", ".join(config.admins) + ")"
    return "an Assay admin"


def choose(config: AssayConfig, slug: str | None, user: str, groups: list[str]) -> Profile:
    """The profile ``user`` asked for (or the default), or a refusal naming what is missing."""
    if slug is None or slug == "":
        options = usable(config, groups)
        if not options:
            raise ProfileForbidden(config.profiles[0].slug, user,
                                   config.profiles[0].groups, grantors(config))
        return next((p for p in options if p.default), options[0])
    if not isinstance(slug, str) or config.profile(slug) is None:
        raise UnknownProfile(str(slug)[:80], [p.slug for p in usable(config, groups)])
    profile = config.profile(slug)
    if not allowed(profile, groups):
        raise ProfileForbidden(profile.slug, user, profile.groups, grantors(config))
    return profile


def _number(value: float) -> str:
    return f"{value:g}"


def summary(profile: Profile) -> str:
    """``"1 CPU · 2G memory · 2 GPUs · secure zone"``"""
    cpus = _number(profile.cpu.limit)
    parts = [f"{cpus} CPU{'s' if profile.cpu.limit != 1 else ''}",
             f"{profile.memory.limit} memory"]
    if profile.gpus:
        parts.append(f"{profile.gpus} GPU{'s' if profile.gpus != 1 else ''}")
    if profile.dask_workers:
        workers = profile.dask_workers
        parts.append(f"{workers} Dask worker{'s' if workers != 1 else ''}")
    if profile.zone != "standard":
        parts.append(f"{profile.zone} zone")
    return " · ".join(parts)


def purpose_for(profile: Profile, raw: object) -> str:
    """The stated purpose (stripped); required by profiles with ``requires_purpose``."""
    text = raw.strip() if isinstance(raw, str) else ""
    if raw is not None and not isinstance(raw, str):
        raise PurposeRequired(profile.slug, "invalid")
    if len(text) > MAX_PURPOSE or any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise PurposeRequired(profile.slug, "invalid")
    if profile.requires_purpose and not text:
        raise PurposeRequired(profile.slug)
    return text
