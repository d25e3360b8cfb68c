"""What the hub pod runs from ``hub.extraConfig``, after the chart's ``jupyterhub_config.py``.

The chart already set the network, the database, the proxy and the services of the values
(the Assay service among them, with a token it made); this adds Assay on top, from the
``assay.yaml`` of the ConfigMap (``$ASSAY_CONFIG``):

* Assay's KubeSpawner, with the profile list filtered per user at every spawn (the chart's
  static ``singleuser.profileList`` is overridden; it remains for the image pre-puller);
* the authenticator from ``auth`` (the OAuth client secret from the environment variable it
  names, which the values fill from a Secret);
* the Assay service's credentials (S3, job secrets' key) passed on from the hub's
  environment, and its token and URL given to the spawner for session credentials.

An invalid ``assay.yaml`` stops the hub with every error listed, as ``assay up`` does.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

from ..config import AssayConfig, load
from ..errors import ConfigError
from ..hub import (
    ADMIN_SERVICE,
    BROKER_SERVICE,
    SECRET_KEY_ENV,
    SPAWNERS,
    configure_admin_service,
    configure_authenticator,
)
from .values import CONFIG_FILE


def _broker(c: Any) -> dict[str, Any]:
    for service in c.JupyterHub.get("services", []):
        if service.get("name") == BROKER_SERVICE:
            return service
    raise ConfigError("Helm values", [
        f"hub.services.{BROKER_SERVICE}: missing; render the values with "
        "`assay deploy render` and install them with helm"])


def _wire_broker(c: Any, config: AssayConfig, environ: Mapping[str, str]) -> None:
    service = _broker(c)
    passed = {k: v for k, v in environ.items() if k.startswith("AWS_") or k == SECRET_KEY_ENV}
    service["environment"] = {**service.get("environment", {}), **passed}
    c.AssayProfileMixin.broker_service_url = (config.broker_url_for_pods()
                                              or service["url"]).rstrip("/")
    c.AssayProfileMixin.broker_token = service["api_token"]


def configure(c: Any, environ: Mapping[str, str] | None = None) -> AssayConfig:
    """Add Assay to the chart's JupyterHub config ``c``; exits the hub on an invalid file."""
    env = dict(os.environ if environ is None else environ)
    path = env.get("ASSAY_CONFIG") or CONFIG_FILE
    try:
        config = load(path)
        configure_authenticator(c, config, env)
        _wire_broker(c, config, env)
        if ADMIN_SERVICE not in {s.get("name") for s in c.JupyterHub.get("services", [])}:
            configure_admin_service(c, env)  # $ASSAY_ADMIN_TOKEN, as in local mode
    except ConfigError as exc:
        print(f"[Assay] {exc.user_message}\nThe hub will not start.", file=sys.stderr)
        raise SystemExit(2) from None
    from ..spawners.kubernetes import usable_profile_list

    c.JupyterHub.spawner_class = SPAWNERS["kubernetes"]
    c.AssayProfileMixin.assay_config_file = path
    # more specific than the chart's KubeSpawner.profile_list, so it wins
    c.AssayKubeSpawner.profile_list = usable_profile_list
    c.Spawner.default_url = "/lab"
    return config
