"""``assay.hub.configure``: the admin YAML becomes JupyterHub settings (no hub is started)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from jupyterhub.app import JupyterHub
from oauthenticator.generic import GenericOAuthenticator
from traitlets.config import Config

from assay.auth import DemoAuthenticator
from assay.errors import ConfigError, InsecureBind
from assay.hub import configure, configure_or_exit

TOKEN = "t" * 40
OAUTH = {
    "client_id": "assay",
    "authorize_url": "https://idp.example.org/oauth2/authorize",
    "token_url": "https://idp.example.org/oauth2/token",
    "userdata_url": "https://idp.example.org/oauth2/userinfo",
    "admin_groups": ["assay-admins"],
    "allowed_groups": ["oncology", "analytics"],
}


@pytest.fixture(autouse=True)
def fixed_proxy(monkeypatch):
    monkeypatch.setenv("ASSAY_PROXY_COMMAND", "/opt/chp/configurable-http-proxy")


@pytest.fixture
def data(demo_config_data, tmp_path) -> dict:
    data = copy.deepcopy(demo_config_data)
    data["hub"]["state_dir"] = str(tmp_path / "state")
    return data


@pytest.fixture
def demo_file(write_tmp_config, data) -> Path:
    return write_tmp_config(data)


def oauth_file(write_tmp_config, data) -> Path:
    data["auth"] = {"type": "oauth", "oauth": OAUTH}
    return write_tmp_config(data)


def test_local_demo_settings(demo_file, tmp_path):
    c = Config()
    config = configure(c, demo_file, {})
    assert [p.slug for p in config.profiles][0] == "cpu-small"
    assert c.JupyterHub.spawner_class == "assay.spawners.local.AssayLocalSpawner"
    assert c.JupyterHub.authenticator_class == "assay.auth.DemoAuthenticator"
    assert c.DemoAuthenticator.user_password == "assay-demo"
    assert c.DemoAuthenticator.allowed_users == {"admin", "alice", "bob"}
    assert c.DemoAuthenticator.admin_users == {"admin"}
    assert c.JupyterHub.load_groups == {
        "oncology": {"users": ["alice"]},
        "gpu-users": {"users": ["alice"]},
        "analytics": {"users": ["bob"]},
    }
    assert c.AssayProfileMixin.assay_config_file == str(demo_file.resolve())
    assert c.Spawner.default_url == "/lab"
    assert c.JupyterHub.template_vars == {
        "announcement_login": "Assay demo: log in as admin, alice, bob with the demo password."}
    # only the data broker: the hub-managed service that alone holds storage credentials
    assert [svc["name"] for svc in c.JupyterHub.services] == ["assay"]
    assert [role["name"] for role in c.JupyterHub.load_roles] == ["assay-broker"]


def test_network_and_state(demo_file, tmp_path):
    c = Config()
    configure(c, demo_file, {})
    assert c.JupyterHub.bind_url == "http://127.0.0.1:8000/"
    assert c.JupyterHub.hub_bind_url == "http://127.0.0.1:8081"
    assert c.ConfigurableHTTPProxy.api_url == "http://127.0.0.1:8001"
    assert c.ConfigurableHTTPProxy.command == ["/opt/chp/configurable-http-proxy"]
    state = tmp_path / "state"
    assert state.is_dir()
    assert c.JupyterHub.db_url == f"sqlite:///{state / 'jupyterhub.sqlite'}"
    assert c.JupyterHub.cookie_secret_file == str(state / "jupyterhub_cookie_secret")
    assert c.ConfigurableHTTPProxy.pid_file == str(state / "jupyterhub-proxy.pid")


def test_port_from_environment(demo_file):
    c = Config()
    configure(c, demo_file, {"ASSAY_PORT": "9100"})
    assert c.JupyterHub.bind_url == "http://127.0.0.1:9100/"
    assert c.JupyterHub.hub_bind_url == "http://127.0.0.1:9181"
    assert c.ConfigurableHTTPProxy.api_url == "http://127.0.0.1:9101"


@pytest.mark.parametrize("port", ["http", "0", "70000", "-5"])
def test_bad_port_in_environment_is_a_config_error(demo_file, port):
    with pytest.raises(ConfigError) as caught:
        configure(Config(), demo_file, {"ASSAY_PORT": port})
    assert caught.value.errors == [
        f"ASSAY_PORT: must be a port number from 1 to 65535, got '{port}'"]


def test_base_url_gets_a_trailing_slash(write_tmp_config, data):
    data["hub"]["base_url"] = "/assay"
    c = Config()
    configure(c, write_tmp_config(data), {})
    assert c.JupyterHub.bind_url == "http://127.0.0.1:8000/assay/"


def test_admin_token_makes_an_admin_service(demo_file):
    c = Config()
    configure(c, demo_file, {"ASSAY_ADMIN_TOKEN": TOKEN})
    assert {"name": "assay-admin", "api_token": TOKEN} in c.JupyterHub.services
    assert {"name": "admin", "services": ["assay-admin"]} in c.JupyterHub.load_roles


def test_admin_token_keeps_other_services(demo_file):
    c = Config()
    c.JupyterHub.services = [{"name": "other", "url": "http://127.0.0.1:9999"}]
    configure(c, demo_file, {"ASSAY_ADMIN_TOKEN": TOKEN})
    assert [s["name"] for s in c.JupyterHub.services] == ["other", "assay-admin", "assay"]


def test_short_admin_token_is_refused(demo_file):
    c = Config()
    with pytest.raises(ConfigError) as caught:
        configure(c, demo_file, {"ASSAY_ADMIN_TOKEN": "secret"})
    assert caught.value.errors == ["ASSAY_ADMIN_TOKEN: must be at least 32 characters, got 6"]
    assert "secret" not in caught.value.user_message.replace("Assay config", "")


def test_demo_password_from_the_given_environment(demo_file):
    c = Config()
    configure(c, demo_file, {"ASSAY_DEMO_PASSWORD": "changed-password"})
    assert c.DemoAuthenticator.user_password == "changed-password"


def test_short_demo_password_in_environment_is_a_config_error(demo_file):
    with pytest.raises(ConfigError) as caught:
        configure(Config(), demo_file, {"ASSAY_DEMO_PASSWORD": "abc"})
    assert caught.value.errors == ["ASSAY_DEMO_PASSWORD: must be at least 8 characters, got 3"]


def test_configured_demo_hub_passes_the_loopback_check(demo_file):
    c = Config()
    configure(c, demo_file, {})
    app = JupyterHub(config=c)
    authenticator = DemoAuthenticator(parent=app, config=c)
    assert authenticator.allowed_users == {"admin", "alice", "bob"}
    authenticator.check_allow_config()


def test_demo_hub_on_all_interfaces_is_refused_at_start(write_tmp_config, data):
    data["hub"]["ip"] = "0.0.0.0"
    c = Config()
    configure(c, write_tmp_config(data), {})
    authenticator = DemoAuthenticator(parent=JupyterHub(config=c), config=c)
    with pytest.raises(InsecureBind):
        authenticator.check_allow_config()


def test_oauth_mode(write_tmp_config, data):
    c = Config()
    env = {"ASSAY_OAUTH_CLIENT_SECRET": "from-env"}
    configure(c, oauth_file(write_tmp_config, data), env)
    assert c.JupyterHub.authenticator_class == "generic-oauth"
    g = c.GenericOAuthenticator
    assert g.client_secret == "from-env"
    assert g.manage_groups is True
    assert g.auth_state_groups_key == "oauth_user.groups"
    assert g.admin_groups == {"assay-admins"}
    assert g.allowed_groups == {"oncology", "analytics"}
    assert c.Authenticator.admin_users == {"admin"}
    assert c.JupyterHub.template_vars == {"announcement_login": ""}
    # the identity provider manages groups: JupyterHub refuses load_groups with manage_groups
    assert "load_groups" not in c.JupyterHub
    assert JupyterHub(config=c).load_groups == {}
    authenticator = GenericOAuthenticator(config=c)
    assert authenticator.manage_groups and authenticator.client_secret == "from-env"
    assert authenticator.admin_users == {"admin"}


def test_oauth_groups_claim(write_tmp_config, data):
    c = Config()
    data["auth"] = {"type": "oauth", "oauth": {**OAUTH, "groups_claim": "roles"}}
    configure(c, write_tmp_config(data), {"ASSAY_OAUTH_CLIENT_SECRET": "x"})
    assert c.GenericOAuthenticator.auth_state_groups_key == "oauth_user.roles"


@pytest.mark.parametrize("env", [{}, {"ASSAY_OAUTH_CLIENT_SECRET": ""}])
def test_oauth_without_secret_names_the_variable(write_tmp_config, data, env):
    with pytest.raises(ConfigError) as caught:
        configure(Config(), oauth_file(write_tmp_config, data), env)
    assert caught.value.errors == [
        "auth.oauth.client_secret_env: environment variable ASSAY_OAUTH_CLIENT_SECRET is not "
        "set; the OAuth client secret is read from it"]


def test_oauth_secret_from_custom_variable(write_tmp_config, data):
    data["auth"] = {"type": "oauth", "oauth": {**OAUTH, "client_secret_env": "IDP_SECRET"}}
    path = write_tmp_config(data)
    with pytest.raises(ConfigError) as caught:
        configure(Config(), path, {"ASSAY_OAUTH_CLIENT_SECRET": "wrong-variable"})
    assert "environment variable IDP_SECRET is not set" in caught.value.errors[0]
    c = Config()
    configure(c, path, {"IDP_SECRET": "right"})
    assert c.GenericOAuthenticator.client_secret == "right"


def test_kubernetes_mode(write_tmp_config, data):
    data["mode"] = "kubernetes"
    c = Config()
    configure(c, write_tmp_config(data), {})
    assert c.JupyterHub.spawner_class == "assay.spawners.kubernetes.AssayKubeSpawner"


@pytest.mark.parametrize("mode", ["kubernetes", "local"])
def test_pods_reach_the_service_at_the_configured_cluster_url(write_tmp_config, data, mode):
    data["mode"] = mode
    data.setdefault("kubernetes", {})["broker_url"] = "http://assay-broker.assay.svc:8002/"
    c = Config()
    configure(c, write_tmp_config(data), {})
    service = next(s for s in c.JupyterHub.services if s["name"] == "assay")
    expected = ("http://assay-broker.assay.svc:8002" if mode == "kubernetes"
                else service["url"])  # local mode: processes reach the loopback address
    assert c.AssayProfileMixin.broker_service_url == expected


def test_a_cluster_url_that_is_not_http_names_the_field(write_tmp_config, data):
    data.setdefault("kubernetes", {})["broker_url"] = "assay-broker:8002"
    with pytest.raises(ConfigError) as caught:
        configure(Config(), write_tmp_config(data), {})
    assert "kubernetes.broker_url" in str(caught.value)
    assert "http://" in str(caught.value)


def test_invalid_config_changes_nothing(write_tmp_config, data):
    data["profiles"][2]["gpus"] = -1
    c = Config()
    with pytest.raises(ConfigError) as caught:
        configure(c, write_tmp_config(data), {})
    assert caught.value.errors == ["profiles[2].gpus: must be >= 0, got -1"]
    assert c == Config()


def test_config_path_from_environment(monkeypatch, demo_file):
    monkeypatch.setenv("ASSAY_CONFIG", str(demo_file))
    c = Config()
    configure(c, None, {})
    assert c.AssayProfileMixin.assay_config_file == str(demo_file.resolve())


def test_configure_or_exit_stops_with_every_error(monkeypatch, write_tmp_config, data, capsys):
    data["mode"] = "cloud"
    data["profiles"][2]["gpus"] = -1
    path = write_tmp_config(data)
    monkeypatch.setenv("ASSAY_CONFIG", str(path))
    with pytest.raises(SystemExit) as caught:
        configure_or_exit(Config())
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert f"[Assay] Invalid Assay config {path}:" in err
    assert "  mode: must be one of 'local' or 'kubernetes', got 'cloud'" in err
    assert "  profiles[2].gpus: must be >= 0, got -1" in err
    assert err.rstrip().endswith("The hub will not start.")
