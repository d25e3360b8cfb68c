"""zero-to-jupyterhub Helm values from ``assay.yaml``: pure data, no cluster, no I/O.

The chart runs its own ``jupyterhub_config.py`` in the hub pod; Assay adds to it through
``hub.extraConfig`` (``assay.deploy.hubconfig``), which reads the same ``assay.yaml`` from a
ConfigMap. The values carry what the chart itself must know: the images, the profile list
(for the form and the image pre-puller; Assay still filters it per user at spawn), the Assay
service with its command and URL, its role, its port on the ``hub`` Service, the network
policy rules that let pods reach it, and the names of the Secrets that hold credentials —
never their values.
"""

from __future__ import annotations

import copy
import posixpath
import re
from dataclasses import dataclass
from typing import Any

from .. import __version__
from ..config.schema import AssayConfig
from ..errors import DeployError
from ..hub import BROKER_SERVICE, SECRET_KEY_ENV
from ..spawners.objects import profile_list

#: The chart release these values are written for; images/hub/Dockerfile builds on the
#: hub image of the same release (tests/images checks they agree).
CHART_REPO = "https://hub.jupyter.org/helm-chart/"
CHART_VERSION = "4.3.5"

BROKER_PORT = 8002
#: The chart's Service in front of the hub pod (``fullnameOverride`` unset).
HUB_SERVICE_HOST = "hub"
HUB_WORKDIR = "/srv/jupyterhub"  # the hub pod's working folder (the chart's hub PVC)
CONFIG_DIR = "/etc/assay"
CONFIG_FILE = f"{CONFIG_DIR}/assay.yaml"
CONFIG_MAP = "assay-config"
STORAGE_CLAIM = "assay-storage"
HUB_SERVICE_ACCOUNT = "assay-hub"
BROKER_ROLE = "assay-broker"
#: What the Assay service may do in JupyterHub (as ``assay.hub`` grants it locally).
BROKER_SCOPES = ["list:users", "read:users", "read:users:groups", "read:servers"]
ACCESS_SCOPE = f"access:services!service={BROKER_SERVICE}"
EXTRA_CONFIG = "from assay.deploy.hubconfig import configure\n\nconfigure(c)\n"
#: Pods that may call the Assay service: the chart's (proxy, notebooks), Assay's job runs,
#: and Dask pods (workers read data through the service with the notebook's credential).
CALLERS: list[dict[str, Any]] = [
    {"podSelector": {"matchLabels": {"hub.jupyter.org/network-access-hub": "true"}}},
    {"podSelector": {"matchLabels": {"app.kubernetes.io/managed-by": "assay"}}},
    {"podSelector": {"matchExpressions": [{"key": "dask.org/cluster-name",
                                           "operator": "Exists"}]}},
]
#: The dask-kubernetes operator's label on every scheduler and worker pod.
DASK_PODS = {"podSelector": {"matchExpressions": [{"key": "dask.org/cluster-name",
                                                   "operator": "Exists"}]}}


@dataclass(frozen=True)
class SecretRef:
    """A Kubernetes Secret the deployment reads (created by the admin, never rendered)."""

    name: str
    keys: tuple[str, ...]
    purpose: str
    optional: bool = False


OAUTH_SECRET = SecretRef("assay-oauth", ("client-secret",), "the OAuth client secret")
S3_SECRET = SecretRef("assay-s3", ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
                      "S3 credentials of the Assay service (datasets and outputs)")
JOBS_KEY_SECRET = SecretRef("assay-jobs-key", ("key",),
                            "the Fernet key that encrypts job secrets (else a key file on the "
                            "hub volume)", optional=True)


@dataclass(frozen=True)
class DeployOptions:
    """What ``assay.yaml`` does not say about a cluster."""

    hub_image: str = f"assay-hub:{__version__}"
    storage_size: str = "10Gi"
    storage_class: str | None = None


_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


def image_spec(ref: str, field: str) -> dict[str, str]:
    """``"registry/name:tag[@sha256:…]"`` → the chart's ``{name, tag}``; pinned tags only."""
    name, _, digest = ref.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    tag = name[colon + 1:] if colon > slash else ""
    name = name[:colon] if colon > slash else name
    if not name or not _TAG.match(tag) or tag == "latest":
        raise DeployError([
            f"{field}: {ref!r} is not a pinned image; give a fixed tag (not 'latest'), "
            "e.g. registry.example.org/assay-singleuser:0.1.0"])
    return {"name": name, "tag": f"{tag}@{digest}" if digest else tag}


def needs_s3(config: AssayConfig) -> bool:
    """Whether the Assay service reads or writes S3 (outputs or any dataset)."""
    return config.storage.url.startswith("s3://") or any(
        d.is_s3 for d in config.data.datasets)


def _in_hub_pod(path: str) -> str:
    return posixpath.normpath(posixpath.join(HUB_WORKDIR, path))


def local_storage(config: AssayConfig) -> list[tuple[str, str]]:
    """``(subPath, mountPath)`` in the hub pod for each local folder of the Assay service:
    the datasets under ``data.root`` and a ``file://`` output store."""
    mounts = []
    if any(not d.is_s3 for d in config.data.datasets):
        mounts.append(("data", _in_hub_pod(config.data.root)))
    if config.storage.url.startswith("file://"):
        mounts.append(("objects", _in_hub_pod(config.storage.url[len("file://"):])))
    return mounts


def secrets_needed(config: AssayConfig) -> list[SecretRef]:
    needed = []
    if config.auth.type == "oauth":
        needed.append(OAUTH_SECRET)
    if needs_s3(config):
        needed.append(S3_SECRET)
    return [*needed, JOBS_KEY_SECRET]


def _secret_env(secret: SecretRef, key: str) -> dict[str, Any]:
    ref: dict[str, Any] = {"name": secret.name, "key": key}
    if secret.optional:
        ref["optional"] = True
    return {"valueFrom": {"secretKeyRef": ref}}


def hub_env(config: AssayConfig) -> dict[str, Any]:
    """``hub.extraEnv``: the config's path, and credentials from Secrets by reference."""
    env: dict[str, Any] = {"ASSAY_CONFIG": CONFIG_FILE}
    if config.auth.type == "oauth" and config.auth.oauth is not None:
        env[config.auth.oauth.client_secret_env] = _secret_env(OAUTH_SECRET, "client-secret")
    if needs_s3(config):
        env.update({key: _secret_env(S3_SECRET, key) for key in S3_SECRET.keys})
    env[SECRET_KEY_ENV] = _secret_env(JOBS_KEY_SECRET, "key")
    return env


def hub_volumes(config: AssayConfig) -> tuple[list[dict], list[dict]]:
    """``(hub.extraVolumes, hub.extraVolumeMounts)``: the ConfigMap (a folder, so that an
    edit reaches the pod and applies at the next spawn) and the local storage, if any."""
    volumes: list[dict] = [{"name": CONFIG_MAP, "configMap": {"name": CONFIG_MAP}}]
    mounts: list[dict] = [{"name": CONFIG_MAP, "mountPath": CONFIG_DIR, "readOnly": True}]
    storage = local_storage(config)
    if storage:
        volumes.append({"name": STORAGE_CLAIM,
                        "persistentVolumeClaim": {"claimName": STORAGE_CLAIM}})
        mounts += [{"name": STORAGE_CLAIM, "mountPath": path, "subPath": sub}
                   for sub, path in storage]
    return volumes, mounts


def broker_service() -> dict[str, Any]:
    """``hub.services.assay``: the hub starts it in the hub pod; the proxy and pods reach it
    at the ``hub`` Service (port ``BROKER_PORT``). Its token is made by the chart."""
    return {
        "url": f"http://{HUB_SERVICE_HOST}:{BROKER_PORT}",
        "command": ["python3", "-m", "assay.broker"],
        "cwd": HUB_WORKDIR,
        # the url's host is the ``hub`` Service: the pod listens on all its interfaces
        "environment": {"ASSAY_CONFIG": CONFIG_FILE, "ASSAY_BROKER_LISTEN_IP": "0.0.0.0"},
        "display": False,
        "oauth_no_confirm": True,
        "oauth_client_allowed_scopes": [],
    }


def broker_port_rule(peers: list[dict[str, Any]], direction: str) -> dict[str, Any]:
    """A NetworkPolicy rule on TCP ``BROKER_PORT`` with ``peers`` (``from`` or ``to``)."""
    return {direction: peers, "ports": [{"protocol": "TCP", "port": BROKER_PORT}]}


def hub_values(config: AssayConfig, options: DeployOptions) -> dict[str, Any]:
    volumes, mounts = hub_volumes(config)
    callers = copy.deepcopy(CALLERS)
    return {
        "image": image_spec(options.hub_image, "--hub-image"),
        "serviceAccount": {"create": False, "name": HUB_SERVICE_ACCOUNT},
        "extraEnv": hub_env(config),
        "extraVolumes": volumes,
        "extraVolumeMounts": mounts,
        "services": {BROKER_SERVICE: broker_service()},
        "loadRoles": {BROKER_ROLE: {"services": [BROKER_SERVICE], "scopes": BROKER_SCOPES}},
        "config": {"JupyterHub": {"extra_user_scopes": [ACCESS_SCOPE]}},
        "extraConfig": {"assay.py": EXTRA_CONFIG},
        "service": {"extraPorts": [{"name": "assay", "port": BROKER_PORT,
                                    "targetPort": BROKER_PORT, "protocol": "TCP"}]},
        "networkPolicy": {"ingress": [broker_port_rule(callers, "from")]},
    }


def _check_profile_images(config: AssayConfig) -> dict[str, str]:
    """``kubernetes.image`` as the chart's spec, every profile's image checked as well."""
    problems: list[str] = []
    spec: dict[str, str] = {}
    images = [("kubernetes.image", config.kubernetes.image)] + [
        (f"profiles[{i}].image ({p.slug})", p.image)
        for i, p in enumerate(config.profiles) if p.image]
    for field, ref in images:
        try:
            checked = image_spec(ref, field)
        except DeployError as exc:
            problems += exc.problems
        else:
            spec = spec or checked
    if problems:
        raise DeployError(problems)
    return spec


def singleuser_values(config: AssayConfig) -> dict[str, Any]:
    kube = config.kubernetes
    hub_pod = [{"podSelector": {"matchLabels": {"component": "hub"}}}]
    return {
        "image": _check_profile_images(config),
        "defaultUrl": "/lab",
        "profileList": profile_list(list(config.profiles), kube),
        # the Assay service; the notebook's Dask scheduler and workers (every port)
        "networkPolicy": {"egress": [broker_port_rule(hub_pod, "to"),
                                     {"to": [copy.deepcopy(DASK_PODS)]}]},
    }


def values(config: AssayConfig, options: DeployOptions | None = None) -> dict[str, Any]:
    """The zero-to-jupyterhub values for ``config``; ``DeployError`` names what is wrong."""
    options = options or DeployOptions()
    problems: list[str] = []
    parts: dict[str, Any] = {}
    for key, build in (("hub", lambda: hub_values(config, options)),
                       ("singleuser", lambda: singleuser_values(config))):
        try:
            parts[key] = build()
        except DeployError as exc:
            problems += exc.problems
    if problems:
        raise DeployError(problems)
    return parts
