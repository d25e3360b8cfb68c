"""Rules that need the whole config: each returns ``path: message`` strings."""

from __future__ import annotations

from .schema import AssayConfig


def _duplicates(values: list[str]) -> set[str]:
    seen: set[str] = set()
    return {v for v in values if v in seen or seen.add(v)}


def _profile_checks(config: AssayConfig) -> list[str]:
    errors = []
    slugs = [p.slug for p in config.profiles]
    for i, profile in enumerate(config.profiles):
        first = slugs.index(profile.slug)
        if first != i:
            errors.append(f"profiles[{i}].slug: duplicate slug '{profile.slug}', "
                          f"already used by profiles[{first}]")
        if config.auth.type == "demo":
            for j, group in enumerate(profile.groups):
                if group not in config.groups:
                    known = ", ".join(sorted(config.groups)) or "(none defined)"
                    errors.append(
                        f"profiles[{i}].groups[{j}]: unknown group '{group}'. "
                        f"Groups include: {known}"
                    )
        inventory = len(config.gpus.inventory)
        if config.mode == "local" and config.gpus.source == "inventory":
            if profile.gpus > inventory:
                errors.append(
                    f"profiles[{i}].gpus: asks for {profile.gpus} GPUs but the "
                    f"inventory has {inventory}"
                )
    if sum(p.default for p in config.profiles) > 1:
        defaults = ", ".join(p.slug for p in config.profiles if p.default)
        errors.append(f"profiles: only one profile may be the default, got {defaults}")
    return errors


def _other_checks(config: AssayConfig) -> list[str]:
    errors = []
    for index in sorted(_duplicates(config.gpus.inventory)):
        errors.append(f"gpus.inventory: duplicate GPU id '{index}'")
    if config.gpus.source == "inventory" and not config.gpus.inventory:
        if any(p.gpus for p in config.profiles) and config.mode == "local":
            errors.append("gpus.inventory: source is 'inventory' but no GPU ids are listed")
    for group, members in config.groups.items():
        for name in sorted(_duplicates(members)):
            errors.append(f"groups.{group}: '{name}' is listed twice")
    if config.auth.type == "demo" and not config.users():
        errors.append("groups: the demo authenticator needs at least one user")
    return errors


def _catalog_checks(config: AssayConfig) -> list[str]:
    errors = []
    names = [d.name for d in config.data.datasets]
    known = ", ".join(sorted(config.groups)) or "(none defined)"
    for i, dataset in enumerate(config.data.datasets):
        first = names.index(dataset.name)
        if first != i:
            errors.append(f"data.datasets[{i}].name: duplicate dataset '{dataset.name}', "
                          f"already used by data.datasets[{first}]")
        if config.auth.type != "demo":
            continue
        for j, group in enumerate(dataset.groups):
            if group not in config.groups:
                errors.append(f"data.datasets[{i}].groups[{j}]: unknown group '{group}'. "
                              f"Groups include: {known}")
    if config.auth.type == "demo":
        for group in config.data.clearances:
            if group not in config.groups:
                errors.append(f"data.clearances.{group}: unknown group '{group}'. "
                              f"Groups include: {known}")
    return errors


def semantic_errors(config: AssayConfig) -> list[str]:
    """Every cross-field problem of a schema-valid config."""
    return _profile_checks(config) + _other_checks(config) + _catalog_checks(config)
