"""The spawn form: only the profiles the user may use, every string escaped."""

from __future__ import annotations

from html import escape

from ..config.schema import Profile
from ..profiles import summary

_STYLE = """
<style>
  .assay-profiles { list-style: none; padding: 0; }
  .assay-profiles li { border: 1px solid #ccc; border-radius: 4px; margin: 6px 0; padding: 8px; }
  .assay-profiles label { display: block; cursor: pointer; font-weight: normal; }
  .assay-profile-summary { color: #555; font-size: 90%; }
</style>
"""


_PURPOSE = (
    '<label for="assay-purpose">Purpose <span class="assay-profile-summary">(required for '
    'profiles marked "purpose required"; recorded with every data read)</span></label>'
    '<input type="text" class="form-control" name="purpose" id="assay-purpose" '
    'maxlength="500" placeholder="e.g. trial 042 safety review">'
)


def _item(profile: Profile, checked: bool) -> str:
    slug = escape(profile.slug, quote=True)
    return (
        f'<li><label for="profile-{slug}">'
        f'<input type="radio" name="profile" id="profile-{slug}" value="{slug}"'
        f'{" checked" if checked else ""}> '
        f"<strong>{escape(profile.display_name)}</strong> "
        f'<span class="assay-profile-summary">({escape(summary(profile))})</span>'
        f'{" <em>purpose required</em>" if profile.requires_purpose else ""}'
        f"<br><span>{escape(profile.description)}</span></label></li>"
    )


def render(profiles: list[Profile], selected: str | None = None) -> str:
    """HTML for JupyterHub's ``options_form``."""
    if not profiles:
        return "<p>No compute profile is available to you. Ask an Assay admin.</p>"
    chosen = selected if any(p.slug == selected for p in profiles) else None
    if chosen is None:
        chosen = next((p.slug for p in profiles if p.default), profiles[0].slug)
    items = "\n".join(_item(p, p.slug == chosen) for p in profiles)
    return (f'{_STYLE}<p>Choose a compute profile:</p><ul class="assay-profiles">{items}</ul>'
            f"{_PURPOSE}")


def parse(formdata: dict[str, list[str]]) -> dict[str, str]:
    """Form fields → ``user_options`` in KubeSpawner's format (``{"profile": slug}``)."""
    values = formdata.get("profile") or [""]
    options = {"profile": values[0]}
    purpose = (formdata.get("purpose") or [""])[0].strip()
    if purpose:
        options["purpose"] = purpose
    return options
