"""What the hub pod runs from ``hub.extraConfig``: applied to a JupyterHub config as the
chart leaves it (services registered from the rendered values, with the chart's token)."""

from __future__ import annotations

from pathlib import Path

import pytest
from traitlets.config import Config

from assay.broker.app import build_from_env
from assay.deploy import hubconfig
from assay.deploy.values import broker_service
from assay.spawners.kubernetes import usable_profile_list

TOKEN = "chart-made-token-" + "0" * 32


def chart_config() -> Config:
    """The chart turns ``hub.services`` into ``JupyterHub.services`` with a token it made."""
    c = Config()
    c.JupyterHub.services = [{**broker_service(), "name": "assay", "api_token": TOKEN}]
    return c


@pytest.fixture
def cluster_file(tmp_path: Path, cluster_text: str) -> Path:
    path = tmp_path / "assay.yaml"
    path.write_text(cluster_text)
    return path


def test_assay_is_added_on_top_of_the_chart(cluster_file: Path) -> None:
    c = chart_config()
    env = {"ASSAY_CONFIG": str(cluster_file), "ASSAY_OAUTH_CLIENT_SECRET": "client-secret-x",
           "AWS_ACCESS_KEY_ID": "AKIA-test", "AWS_SECRET_ACCESS_KEY": "aws-secret-x",
           "ASSAY_SECRET_KEY": "fernet-key-x", "UNRELATED": "no"}
    config = hubconfig.configure(c, env)

    assert config.kubernetes.namespace == "research"
    assert c.JupyterHub.spawner_class == "assay.spawners.kubernetes.AssayKubeSpawner"
    assert c.AssayKubeSpawner.profile_list is usable_profile_list
    assert c.AssayProfileMixin.assay_config_file == str(cluster_file)
    assert c.AssayProfileMixin.broker_token == TOKEN
    assert c.AssayProfileMixin.broker_service_url == "http://hub:8002"
    (service,) = c.JupyterHub.services
    assert service["environment"] == {
        "ASSAY_CONFIG": "/etc/assay/assay.yaml", "AWS_ACCESS_KEY_ID": "AKIA-test",
        "AWS_SECRET_ACCESS_KEY": "aws-secret-x", "ASSAY_SECRET_KEY": "fernet-key-x",
        "ASSAY_BROKER_LISTEN_IP": "0.0.0.0"}
    assert c.JupyterHub.authenticator_class == "generic-oauth"
    assert c.GenericOAuthenticator.client_secret == "client-secret-x"
    assert c.GenericOAuthenticator.admin_groups == {"assay-admins"}


def test_pods_reach_the_service_at_kubernetes_broker_url_when_set(cluster_file: Path):
    text = cluster_file.read_text().replace(
        "kubernetes:\n", "kubernetes:\n  broker_url: http://assay.research.svc:8002/\n", 1)
    cluster_file.write_text(text)
    c = chart_config()
    hubconfig.configure(c, {"ASSAY_CONFIG": str(cluster_file),
                            "ASSAY_OAUTH_CLIENT_SECRET": "x"})
    assert c.AssayProfileMixin.broker_service_url == "http://assay.research.svc:8002"


def test_an_invalid_file_stops_the_hub_with_its_errors(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "assay.yaml"
    bad.write_text("mode: cloud\nprofiles: []\n")
    with pytest.raises(SystemExit) as stopped:
        hubconfig.configure(chart_config(), {"ASSAY_CONFIG": str(bad)})
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "mode:" in err and "profiles:" in err and "The hub will not start." in err


def test_values_without_the_service_stop_the_hub(cluster_file: Path, capsys) -> None:
    with pytest.raises(SystemExit):
        hubconfig.configure(Config(), {"ASSAY_CONFIG": str(cluster_file),
                                       "ASSAY_OAUTH_CLIENT_SECRET": "x"})
    assert "hub.services.assay: missing" in capsys.readouterr().err


def test_the_service_listens_on_the_pod_and_keeps_its_advertised_url(
        write_tmp_config, demo_config_data, tmp_path: Path, monkeypatch) -> None:
    demo_config_data["database"] = {"url": f"sqlite:///{tmp_path / 'assay.sqlite'}"}
    env = {**broker_service()["environment"],
           "ASSAY_CONFIG": str(write_tmp_config(demo_config_data)),
           "JUPYTERHUB_SERVICE_URL": "http://hub:8002",
           "JUPYTERHUB_API_URL": "http://hub:8081/hub/api", "JUPYTERHUB_API_TOKEN": TOKEN}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    broker, host, port = build_from_env()
    assert (host, port, broker.service_url) == ("0.0.0.0", 8002, "http://hub:8002")
    broker.engine.dispose()
