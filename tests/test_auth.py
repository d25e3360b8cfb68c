"""Authentication: OAuth settings that give users their groups, and the loopback-only demo."""

from __future__ import annotations

import copy

import pytest
import yaml
from jupyterhub.app import JupyterHub
from oauthenticator.generic import GenericOAuthenticator

from assay.auth import (
    DEMO_PASSWORD_ENV,
    DemoAuthenticator,
    demo_settings,
    is_loopback,
    oauth_settings,
)
from assay.config import parse
from assay.config.schema import OAuth
from assay.errors import ConfigError, InsecureBind

IDP = "https://idp.example.org/oauth2"
SECRET_ENV = "TEST_ASSAY_IDP_SECRET"


def make_oauth(**changes) -> OAuth:
    return OAuth(**{
        "client_id": "assay", "client_secret_env": SECRET_ENV,
        "authorize_url": f"{IDP}/authorize", "token_url": f"{IDP}/token",
        "userdata_url": f"{IDP}/userinfo", "groups_claim": "roles",
        "admin_groups": ["assay-admins"], "allowed_groups": ["oncology", "analytics"],
        **changes})


@pytest.fixture
def settings():
    return oauth_settings(make_oauth(), {SECRET_ENV: "s3cret-from-env"})


def test_oauth_settings_map_the_yaml(settings):
    assert settings == {
        "client_id": "assay",
        "client_secret": "s3cret-from-env",
        "authorize_url": f"{IDP}/authorize",
        "token_url": f"{IDP}/token",
        "userdata_url": f"{IDP}/userinfo",
        "scope": ["openid", "profile", "email", "groups"],
        "username_claim": "preferred_username",
        "manage_groups": True,
        "auth_state_groups_key": "oauth_user.roles",
        "admin_groups": {"assay-admins"},
        "allowed_groups": {"oncology", "analytics"},
        "enable_auth_state": True,
    }


def test_callback_url_is_passed_when_set():
    oauth = make_oauth(callback_url="https://assay.example.org/hub/oauth_callback")
    assert oauth_settings(oauth, {})["oauth_callback_url"] == (
        "https://assay.example.org/hub/oauth_callback")
    assert "oauth_callback_url" not in oauth_settings(make_oauth(), {})


def test_secret_comes_from_the_named_variable_only(monkeypatch):
    oauth = make_oauth()
    assert oauth_settings(oauth, {})["client_secret"] == ""
    assert oauth_settings(oauth, {"ASSAY_OAUTH_CLIENT_SECRET": "other"})["client_secret"] == ""
    monkeypatch.setenv(SECRET_ENV, "from-process-env")
    assert oauth_settings(oauth)["client_secret"] == "from-process-env"


def test_the_file_cannot_hold_the_secret(demo_config_data):
    data = copy.deepcopy(demo_config_data)
    data["auth"] = {"type": "oauth", "oauth": {**make_oauth().model_dump(), "client_secret": "x"}}
    with pytest.raises(ConfigError) as caught:
        parse(yaml.safe_dump(data))
    assert caught.value.errors[0].startswith("auth.oauth.client_secret: unknown key.")


def test_generic_oauthenticator_accepts_the_settings(settings):
    authenticator = GenericOAuthenticator(**settings)
    assert authenticator.manage_groups is True
    assert authenticator.client_secret == "s3cret-from-env"
    assert authenticator.auth_state_groups_key == "oauth_user.roles"
    assert authenticator.allowed_groups == {"oncology", "analytics"}
    assert authenticator.admin_groups == {"assay-admins"}
    assert authenticator.enable_auth_state is True


async def test_groups_come_from_the_claim_of_the_userinfo(settings):
    authenticator = GenericOAuthenticator(**settings)
    userinfo = {"preferred_username": "alice", "roles": ["oncology", "gpu-users"]}
    token = {"access_token": "at", "token_type": "Bearer", "scope": "openid groups"}
    auth_state = authenticator.build_auth_state_dict(token, userinfo)
    assert auth_state["oauth_user"] == userinfo
    assert authenticator.user_info_to_username(userinfo) == "alice"
    assert await authenticator.get_user_groups(auth_state) == {"oncology", "gpu-users"}
    assert await authenticator.get_user_groups({"oauth_user": {"preferred_username": "x"}}) \
        == set()


async def test_login_model_gets_groups_admin_and_allowed(settings):
    authenticator = GenericOAuthenticator(**settings)

    async def login(name: str, groups: list[str]) -> dict:
        auth_state = {"oauth_user": {"preferred_username": name, "roles": groups}}
        model = {"name": name, "admin": None, "auth_state": auth_state}
        model = await authenticator.update_auth_model(model)
        # what authenticate() does next when manage_groups is on
        return await authenticator._apply_managed_groups(model)

    alice = await login("alice", ["oncology", "gpu-users"])
    assert alice["groups"] == ["gpu-users", "oncology"]
    assert alice["admin"] is False
    assert await authenticator.check_allowed("alice", alice)

    root = await login("root", ["assay-admins"])
    assert root["admin"] is True
    assert await authenticator.check_allowed("root", root)

    mallory = await login("mallory", ["marketing"])
    assert mallory["groups"] == ["marketing"]
    assert not await authenticator.check_allowed("mallory", mallory)


def test_demo_settings(demo_yaml_text):
    config = parse(demo_yaml_text)
    assert demo_settings(config, {}) == {
        "user_password": "assay-demo",
        "allowed_users": {"admin", "alice", "bob"},
        "admin_users": {"admin"},
    }
    assert demo_settings(config, {DEMO_PASSWORD_ENV: "another-pass"})["user_password"] == (
        "another-pass")


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.0.0.53", True), ("::1", True), ("[::1]", True),
    ("localhost", True), ("LocalHost", True),
    ("0.0.0.0", False), ("::", False), ("", False), (None, False),
    ("10.0.0.1", False), ("192.168.1.20", False), ("::ffff:10.0.0.1", False),
    ("example.org", False), ("localhost.example.org", False), ("127.0.0.1.nip.io", False),
])
def test_is_loopback(host, loopback):
    assert is_loopback(host) is loopback


def demo_authenticator(**app_settings) -> DemoAuthenticator:
    app = JupyterHub(**app_settings)
    return DemoAuthenticator(parent=app, user_password="assay-demo", allowed_users={"alice"})


@pytest.mark.parametrize("app_settings", [
    {"bind_url": "http://127.0.0.1:8000/", "hub_bind_url": "http://127.0.0.1:8081"},
    {"bind_url": "http://localhost:8000/assay/", "hub_ip": "127.0.0.1"},
    {"bind_url": "http://[::1]:8000/"},
])
def test_demo_login_on_loopback_is_fine(app_settings):
    demo_authenticator(**app_settings).check_allow_config()


@pytest.mark.parametrize(("app_settings", "what", "shown"), [
    ({"bind_url": "http://0.0.0.0:8000/"}, "public", "'0.0.0.0'"),
    ({"bind_url": "http://:8000/"}, "public", "'every interface'"),
    ({"bind_url": "http://10.1.2.3:8000/"}, "public", "'10.1.2.3'"),
    ({"bind_url": "http://127.0.0.1:8000/", "hub_ip": ""}, "hub", "'every interface'"),
    ({"bind_url": "http://127.0.0.1:8000/", "hub_bind_url": "http://0.0.0.0:8081"},
     "hub", "'0.0.0.0'"),
])
def test_demo_login_beyond_loopback_is_refused(app_settings, what, shown):
    with pytest.raises(InsecureBind) as caught:
        demo_authenticator(**app_settings).check_allow_config()
    assert caught.value.user_message == (
        f"The demo authenticator only serves loopback, but the {what} address is {shown}. "
        "Bind to 127.0.0.1 or configure auth.type: oauth in assay.yaml.")
