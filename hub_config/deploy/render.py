"""``assay deploy render``: Helm values and manifests from ``assay.yaml``, written to a folder.

An invalid ``assay.yaml`` stops rendering with the config's own errors (``ConfigError``);
what cannot be deployed as configured stops it with ``DeployError``. Settings that render
but will not work on a cluster come back as warnings (``--strict`` makes them fatal).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..config import AssayConfig, parse
from .manifests import manifests
from .values import CHART_REPO, CHART_VERSION, DeployOptions, SecretRef, secrets_needed, values

VALUES_FILE = "values.yaml"
MANIFESTS_FILE = "manifests.yaml"


@dataclass
class Rendered:
    config: AssayConfig
    values: dict[str, Any]
    manifests: list[dict[str, Any]]
    secrets: list[SecretRef]
    warnings: list[str] = field(default_factory=list)


def warnings_for(config: AssayConfig) -> list[str]:
    """What renders but will not work on a cluster, each naming the field and the fix."""
    found = []
    if config.mode != "kubernetes":
        found.append(f"mode: {config.mode!r} — on a cluster set mode: kubernetes, or job runs "
                     "execute inside the hub pod instead of as Kubernetes Jobs")
    if config.auth.type == "demo":
        found.append("auth.type: 'demo' — the shared-password demo login refuses to serve "
                     "beyond loopback, so the hub will not start; configure auth.type: oauth")
    if config.storage.url.startswith("file://") and config.mode == "kubernetes":
        found.append(f"storage.url: {config.storage.url!r} — job pods upload their outputs to "
                     "the output store, which they can only reach as s3://bucket/prefix")
    if config.database.url.startswith("sqlite") and config.mode == "kubernetes":
        found.append(f"database.url: {config.database.url!r} — SQLite works on the hub volume "
                     "with one hub replica; prefer postgresql+psycopg://… on a cluster")
    return found


def render(text: str, source: str, options: DeployOptions | None = None) -> Rendered:
    """Values and manifests for the YAML ``text`` (``source`` names it in errors)."""
    config = parse(text, source)
    options = options or DeployOptions()
    return Rendered(config, values(config, options), manifests(config, text, options),
                    secrets_needed(config), warnings_for(config))


def render_file(path: str | Path, options: DeployOptions | None = None) -> Rendered:
    path = Path(path)
    return render(path.read_text(encoding="utf-8"), str(path), options)


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (``assay.yaml``, ``hub.extraConfig``) as readable ``|`` blocks."""


def _str(dumper: yaml.SafeDumper, text: str) -> yaml.Node:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _str)


def dump(documents: list[Any]) -> str:
    """YAML documents as written to the files (``---`` between them)."""
    return yaml.dump_all(documents, Dumper=_Dumper, sort_keys=False, explicit_start=True,
                         allow_unicode=True)


def _header(rendered: Rendered) -> str:
    return (f"# Rendered by `assay deploy render` for the zero-to-jupyterhub chart "
            f"{CHART_VERSION} ({CHART_REPO}).\n"
            f"# Namespace: {rendered.config.kubernetes.namespace}. Edit assay.yaml and "
            "render again rather than editing this file.\n")


def write(rendered: Rendered, out: str | Path) -> list[Path]:
    """``values.yaml`` and ``manifests.yaml`` (one document per object) in ``out``."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    header = _header(rendered)
    values_path, manifests_path = folder / VALUES_FILE, folder / MANIFESTS_FILE
    values_path.write_text(header + dump([rendered.values]), encoding="utf-8")
    manifests_path.write_text(header + dump(rendered.manifests), encoding="utf-8")
    return [values_path, manifests_path]
