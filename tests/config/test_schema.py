"""The admin YAML: every mistake an admin can make is reported with its path, all at once."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from assay.config import load, memory_bytes, parse
from assay.errors import ConfigError

OAUTH = {
    "client_id": "assay",
    "authorize_url": "https://idp.example.org/oauth2/authorize",
    "token_url": "https://idp.example.org/oauth2/token",
    "userdata_url": "https://idp.example.org/oauth2/userinfo",
}
SLUG_RULE = ("must be 1-40 lowercase ASCII letters, digits and '-', starting and ending "
             "with a letter or digit")
NAME_RULE = ("must be 1-64 lowercase ASCII letters, digits, '.', '_' and '-', starting and "
             "ending with a letter or digit")
TOP_KEYS = ("admins, auth, data, database, gpus, groups, hub, jobs, kubernetes, mode, models, "
            "profiles, storage")
PROFILE_KEYS = ("cpu, dask_workers, default, description, display_name, gpus, groups, image, "
                "memory, requires_purpose, slug, zone")
Edit = Callable[[dict[str, Any]], None]


def put(path: str, value: Any) -> Edit:
    """An edit setting ``a.b.0.c`` (dots; digits index lists) to ``value``."""
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]

    def edit(data: dict[str, Any]) -> None:
        for part in parents:
            data = data[part]
        data[last] = value

    return edit


def drop(path: str) -> Edit:
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]

    def edit(data: dict[str, Any]) -> None:
        for part in parents:
            data = data[part]
        del data[last]

    return edit


def errors_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse(text, "assay.yaml")
    return caught.value.errors


def errors_after(data: dict[str, Any], *edits: Edit) -> list[str]:
    data = copy.deepcopy(data)
    for edit in edits:
        edit(data)
    return errors_of(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


CASES = [
    pytest.param([put("colour", "blue")],
                 [f"colour: unknown key. Valid keys: {TOP_KEYS}"], id="unknown-top-level-key"),
    pytest.param([put("profiles.1.gpu", 1)],
                 [f"profiles[1].gpu: unknown key. Valid keys: {PROFILE_KEYS}"],
                 id="unknown-profile-key"),
    pytest.param([put("profiles.0.cpu.max", 2)],
                 ["profiles[0].cpu.max: unknown key. Valid keys: guarantee, limit"],
                 id="unknown-nested-cpu-key"),
    pytest.param([put("hub.host", "0.0.0.0")],
                 ["hub.host: unknown key. Valid keys: base_url, ip, port, state_dir"],
                 id="unknown-hub-key"),
    pytest.param([put("kubernetes.gpu_tolerations.0.operater", "Exists")],
                 ["kubernetes.gpu_tolerations[0].operater: unknown key. "
                  "Valid keys: effect, key, operator, value"], id="unknown-toleration-key"),
    pytest.param([put("auth.type", "oauth"), put("auth.oauth", {**OAUTH, "client_secret": "s"})],
                 ["auth.oauth.client_secret: unknown key. Valid keys: admin_groups, "
                  "allowed_groups, authorize_url, callback_url, client_id, client_secret_env, "
                  "groups_claim, scope, token_url, userdata_url, username_claim"],
                 id="client-secret-never-in-file"),
    pytest.param([put("mode", "docker")],
                 ["mode: must be one of 'local' or 'kubernetes', got 'docker'"], id="bad-mode"),
    pytest.param([put("profiles.2.gpus", -1)],
                 ["profiles[2].gpus: must be >= 0, got -1"], id="negative-gpus"),
    pytest.param([put("profiles.2.gpus", 5)],
                 ["profiles[2].gpus: asks for 5 GPUs but the inventory has 4"],
                 id="gpus-beyond-inventory"),
    pytest.param([put("profiles.2.gpus", 17)],
                 ["profiles[2].gpus: must be <= 16, got 17"], id="gpus-beyond-16"),
    pytest.param([put("profiles.2.gpus", "two")],
                 ["profiles[2].gpus: must be a whole number, got 'two'"], id="gpus-string"),
    pytest.param([put("profiles.2.gpus", True)],
                 ["profiles[2].gpus: must be a whole number, got true"], id="gpus-yaml-boolean"),
    pytest.param([put("profiles.2.gpus", 1.5)],
                 ["profiles[2].gpus: must be a whole number, got 1.5"], id="gpus-fraction"),
    pytest.param([put("profiles.3.dask_workers", -2)],
                 ["profiles[3].dask_workers: must be >= 0, got -2"], id="negative-dask-workers"),
    pytest.param([put("profiles.0.cpu", {"guarantee": 2, "limit": 1})],
                 ["profiles[0].cpu: guarantee 2 exceeds limit 1"], id="cpu-guarantee-over-limit"),
    pytest.param([put("profiles.0.cpu", {"limit": 0})],
                 ["profiles[0].cpu.limit: must be > 0, got 0"], id="cpu-zero"),
    pytest.param([put("profiles.0.cpu", {"limit": "two"})],
                 ["profiles[0].cpu.limit: must be a number, got 'two'"], id="cpu-string"),
    pytest.param([put("profiles.0.cpu", {"limit": float("inf")})],
                 ["profiles[0].cpu.limit: must be a finite number, got inf"], id="cpu-infinite"),
    pytest.param([put("profiles.0.memory", {"limit": "2GB"})],
                 ["profiles[0].memory.limit: must be a size like 512M or 2G "
                  "(units K, M, G, T), got '2GB'"], id="memory-bad-unit"),
    pytest.param([put("profiles.0.memory", {"limit": 2})],
                 ["profiles[0].memory.limit: must be text, got 2"], id="memory-number"),
    pytest.param([put("profiles.0.memory", {"limit": "0G"})],
                 ["profiles[0].memory.limit: must be more than 0, got '0G'"], id="memory-zero"),
    pytest.param([put("profiles.0.memory", {"guarantee": "3G", "limit": "2048M"})],
                 ["profiles[0].memory: guarantee 3G exceeds limit 2048M"],
                 id="memory-guarantee-over-limit"),
    pytest.param([put("profiles.1.slug", "cpu-small")],
                 ["profiles[1].slug: duplicate slug 'cpu-small', already used by profiles[0]"],
                 id="duplicate-slug"),
    pytest.param([put("profiles.1.slug", "CPU-large")],
                 [f"profiles[1].slug: {SLUG_RULE}, got 'CPU-large'"], id="slug-uppercase"),
    pytest.param([put("profiles.1.slug", "cpu-l\u0430rge")],
                 [f"profiles[1].slug: {SLUG_RULE}, got 'cpu-l\u0430rge'; it contains the "
                  "non-ASCII character '\u0430' (U+0430 CYRILLIC SMALL LETTER A)"],
                 id="slug-cyrillic-lookalike"),
    pytest.param([put("profiles.1.slug", "a" * 41)],
                 [f"profiles[1].slug: {SLUG_RULE}, got '{'a' * 41}' (41 characters)"],
                 id="slug-too-long"),
    pytest.param([put("profiles.1.slug", "cpu-")],
                 [f"profiles[1].slug: {SLUG_RULE}, got 'cpu-'"], id="slug-trailing-dash"),
    pytest.param([put("profiles.2.groups", ["gpu"])],
                 ["profiles[2].groups[0]: unknown group 'gpu'. "
                  "Groups include: analytics, gpu-users, oncology"], id="unknown-group"),
    pytest.param([drop("profiles.0.display_name")],
                 ["profiles[0].display_name: required but missing"], id="missing-display-name"),
    pytest.param([drop("profiles.4.cpu")],
                 ["profiles[4].cpu: required but missing"], id="missing-cpu"),
    pytest.param([put("profiles.0.cpu", None)],
                 ["profiles[0].cpu: must be a mapping of settings, got an empty value"],
                 id="cpu-empty-value"),
    pytest.param([put("profiles.0.display_name", "")],
                 ["profiles[0].display_name: must not be empty"], id="display-name-empty"),
    pytest.param([put("profiles.0.display_name", "x" * 81)],
                 ["profiles[0].display_name: must be at most 80 characters, got 81"],
                 id="display-name-too-long"),
    pytest.param([put("profiles", [])],
                 ["profiles: must list at least 1 item(s), got an empty list"],
                 id="empty-profiles"),
    pytest.param([put("profiles", {"cpu-small": {}})],
                 ["profiles: must be a list, got {'cpu-small': {}}"], id="profiles-mapping"),
    pytest.param([put("profiles.1.default", True)],
                 ["profiles: only one profile may be the default, got cpu-small, cpu-large"],
                 id="two-default-profiles"),
    pytest.param([put("profiles.4.zone", "dmz")],
                 ["profiles[4].zone: must be one of 'standard' or 'secure', got 'dmz'"],
                 id="bad-zone"),
    pytest.param([put("auth.type", "oauth")],
                 ["auth: type is 'oauth' but the 'oauth' section is missing"],
                 id="oauth-without-section"),
    pytest.param([put("auth.type", "oauth"),
                  put("auth.oauth", {**OAUTH, "token_url": "http://idp.example.org/token"})],
                 ["auth.oauth.token_url: must be an https:// URL, "
                  "got 'http://idp.example.org/token'"], id="oauth-plain-http"),
    pytest.param([put("auth.type", "oauth"),
                  put("auth.oauth", {**OAUTH, "client_secret_env": "secret"})],
                 ["auth.oauth.client_secret_env: must be an environment variable name "
                  "(A-Z, 0-9 and '_', not starting with a digit), got 'secret'"],
                 id="oauth-secret-env-name"),
    pytest.param([put("auth.demo.password", "short")],
                 ["auth.demo.password: must be at least 8 characters, got 5"],
                 id="demo-password-short-not-echoed"),
    pytest.param([put("storage.url", "ftp://files.example.org/assay")],
                 ["storage.url: must be a file:// or s3:// URL with a location, e.g. "
                  "file://var/objects or s3://bucket/prefix, "
                  "got 'ftp://files.example.org/assay'"], id="storage-ftp"),
    pytest.param([put("storage.url", "file://")],
                 ["storage.url: must be a file:// or s3:// URL with a location, e.g. "
                  "file://var/objects or s3://bucket/prefix, got 'file://'"],
                 id="storage-without-location"),
    pytest.param([put("database.url", "mysql://db/assay")],
                 ["database.url: must be a sqlite:// or postgresql:// URL, e.g. "
                  "sqlite:///var/assay.sqlite or postgresql+psycopg://user@host/db, "
                  "got 'mysql://db/assay'"], id="database-mysql"),
    pytest.param([put("gpus.inventory", ["sim-0", "sim-1", "sim-0", "sim-1"])],
                 ["gpus.inventory: duplicate GPU id 'sim-0'",
                  "gpus.inventory: duplicate GPU id 'sim-1'"], id="duplicate-gpu-ids"),
    pytest.param([put("gpus.inventory", ["sim 0"])],
                 ["gpus.inventory[0]: must be 1-64 ASCII letters, digits and '-', got 'sim 0'",
                  ], id="gpu-id-space"),
    pytest.param([put("gpus.source", "cuda")],
                 ["gpus.source: must be one of 'inventory', 'nvidia-smi' or 'auto', "
                  "got 'cuda'"], id="gpu-source"),
    pytest.param([put("hub.port", "http")],
                 ["hub.port: must be a whole number, got 'http'"], id="port-string"),
    pytest.param([put("hub.port", 0)], ["hub.port: must be >= 1, got 0"], id="port-zero"),
    pytest.param([put("hub.port", 70000)],
                 ["hub.port: must be <= 65535, got 70000"], id="port-too-big"),
    pytest.param([put("hub.base_url", "hub/")],
                 ["hub.base_url: must be a path starting with '/', got 'hub/'"],
                 id="base-url-relative"),
    pytest.param([put("admins", "admin")], ["admins: must be a list, got 'admin'"],
                 id="admins-not-list"),
    pytest.param([put("groups.oncology", ["Alice"])],
                 [f"groups.oncology[0]: {NAME_RULE}, got 'Alice'"], id="member-uppercase"),
    pytest.param([put("groups.\u043encology", ["alice"])],
                 [f"groups.\u043encology: invalid name: {NAME_RULE}, got '\u043encology'; it "
                  "contains the non-ASCII character '\u043e' (U+043E CYRILLIC SMALL LETTER O)"],
                 id="group-name-cyrillic"),
    pytest.param([put("groups.oncology", ["alice", "alice"])],
                 ["groups.oncology: 'alice' is listed twice"], id="member-twice"),
    pytest.param([put("kubernetes.namespace", "Assay")],
                 ["kubernetes.namespace: must be a Kubernetes namespace: 1-63 lowercase ASCII "
                  "letters, digits and '-', starting and ending with a letter or digit, "
                  "got 'Assay'"], id="namespace-uppercase"),
    pytest.param([put("kubernetes.gpu_tolerations.0.operator", "In")],
                 ["kubernetes.gpu_tolerations[0].operator: must be one of 'Exists' or 'Equal', "
                  "got 'In'"], id="toleration-operator"),
]


@pytest.mark.parametrize(("edits", "expected"), CASES)
def test_malformed_config_is_reported_with_path(demo_config_data, edits, expected):
    assert errors_after(demo_config_data, *edits) == expected


TEXT_CASES = [
    pytest.param("mode: local\nprofiles: [\n  - slug: a\n",
                 ["(yaml): not valid YAML at line 3, column 3: "
                  "expected the node content, but found '-'"], id="yaml-unclosed-flow"),
    pytest.param("mode: local\n  hub: 1\n",
                 ["(yaml): not valid YAML at line 2, column 6: "
                  "mapping values are not allowed here"], id="yaml-bad-indent"),
    pytest.param("- cpu-small\n- gpu-2x\n",
                 ["(top level): must be a mapping of settings, got a list"], id="yaml-list"),
    pytest.param("profiles\n",
                 ["(top level): must be a mapping of settings, got a single text value"],
                 id="yaml-scalar"),
    pytest.param("", ["(top level): must be a mapping of settings, got an empty file"],
                 id="empty-file"),
    pytest.param("# only a comment\n",
                 ["(top level): must be a mapping of settings, got an empty file"],
                 id="comments-only"),
]


@pytest.mark.parametrize(("text", "expected"), TEXT_CASES)
def test_unreadable_yaml_is_reported_with_place(text, expected):
    assert errors_of(text) == expected


def test_key_given_twice_is_an_error_not_silently_the_last(demo_yaml_text):
    text = demo_yaml_text + "\nmode: kubernetes\n"
    first = demo_yaml_text.splitlines().index(next(
        line for line in demo_yaml_text.splitlines() if line.startswith("mode:"))) + 1
    last = len(text.splitlines())
    assert errors_of(text) == [
        f"(yaml): key 'mode' appears twice in one mapping, at line {first} and line {last}"]


def test_error_message_names_the_file_and_lists_every_error(demo_config_data):
    data = copy.deepcopy(demo_config_data)
    data["mode"] = "cloud"
    with pytest.raises(ConfigError) as caught:
        parse(yaml.safe_dump(data), "/etc/assay/assay.yaml")
    assert caught.value.user_message == (
        "Invalid Assay config /etc/assay/assay.yaml:\n"
        "  mode: must be one of 'local' or 'kubernetes', got 'cloud'")
    assert caught.value.source == "/etc/assay/assay.yaml"


def test_many_schema_errors_are_all_reported_at_once(demo_config_data):
    errors = errors_after(
        demo_config_data, put("mode", "cloud"), put("colour", 1), put("hub.port", 0),
        put("profiles.2.gpus", -1), put("profiles.4.zone", "dmz"),
        drop("profiles.1.display_name"), put("storage.url", "ftp://x"))
    assert sorted(errors) == sorted([
        "mode: must be one of 'local' or 'kubernetes', got 'cloud'",
        f"colour: unknown key. Valid keys: {TOP_KEYS}",
        "hub.port: must be >= 1, got 0",
        "profiles[1].display_name: required but missing",
        "profiles[2].gpus: must be >= 0, got -1",
        "profiles[4].zone: must be one of 'standard' or 'secure', got 'dmz'",
        "storage.url: must be a file:// or s3:// URL with a location, e.g. "
        "file://var/objects or s3://bucket/prefix, got 'ftp://x'",
    ])


def test_many_cross_field_errors_are_all_reported_at_once(demo_config_data):
    errors = errors_after(
        demo_config_data, put("profiles.1.slug", "cpu-small"), put("profiles.2.gpus", 9),
        put("profiles.2.groups", ["nope"]), put("profiles.3.default", True),
        put("gpus.inventory", ["a", "a"]))
    assert errors == [
        "profiles[1].slug: duplicate slug 'cpu-small', already used by profiles[0]",
        "profiles[2].groups[0]: unknown group 'nope'. Groups include: analytics, gpu-users, "
        "oncology",
        "profiles[2].gpus: asks for 9 GPUs but the inventory has 2",
        "profiles: only one profile may be the default, got cpu-small, dask",
        "gpus.inventory: duplicate GPU id 'a'",
    ]


def test_demo_auth_needs_users(demo_config_data):
    errors = errors_after(demo_config_data, put("admins", []), put("groups", {}),
                          put("profiles", demo_config_data["profiles"][:2]), put("data", {}))
    assert errors == ["groups: the demo authenticator needs at least one user"]


def test_shipped_config_is_the_demo(demo_yaml_text):
    config = parse(demo_yaml_text)
    assert config.mode == "local" and config.auth.type == "demo"
    assert [p.slug for p in config.profiles] == [
        "cpu-small", "cpu-large", "gpu-2x", "dask", "secure-cpu"]
    assert config.profile("cpu-small").default
    gpu = config.profile("gpu-2x")
    assert (gpu.gpus, gpu.groups) == (2, ["gpu-users"])
    assert config.profile("dask").dask_workers == 2
    secure = config.profile("secure-cpu")
    assert (secure.zone, secure.groups) == ("secure", ["oncology"])
    assert config.users() == ["admin", "alice", "bob"]
    assert config.admins == ["admin"]
    assert config.groups_of("alice") == ["gpu-users", "oncology"]
    assert config.groups_of("bob") == ["analytics"]
    assert config.groups_of("admin") == []
    assert config.gpus.source == "inventory" and config.gpus.simulated
    assert config.gpus.inventory == ["sim-0", "sim-1", "sim-2", "sim-3"]


def test_shipped_config_loads_from_default_path(monkeypatch):
    monkeypatch.delenv("ASSAY_CONFIG", raising=False)
    assert len(load().profiles) == 5


def test_oauth_config_without_demo_users_is_valid(demo_config_data):
    data = copy.deepcopy(demo_config_data)
    data.update(admins=[], groups={}, auth={"type": "oauth", "oauth": OAUTH})
    config = parse(yaml.safe_dump(data))
    assert config.auth.oauth.groups_claim == "groups"
    # groups come from the identity provider, so profiles may name groups the file does not
    assert config.profile("gpu-2x").groups == ["gpu-users"]


def test_kubernetes_mode_does_not_count_the_local_inventory(demo_config_data):
    data = copy.deepcopy(demo_config_data)
    data["mode"] = "kubernetes"
    data["profiles"][2]["gpus"] = 8
    assert parse(yaml.safe_dump(data)).profile("gpu-2x").gpus == 8


@pytest.mark.parametrize(("size", "expected"), [
    ("512M", 512 * 1024**2), ("2G", 2 * 1024**3), ("1.5G", int(1.5 * 1024**3)),
    ("1T", 1024**4), ("64K", 64 * 1024)])
def test_memory_sizes(size, expected):
    assert memory_bytes(size) == expected


def test_file_problems_are_config_errors(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as caught:
        load(missing)
    assert caught.value.errors == ["(file): cannot read: No such file or directory"]
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"mode: \xff\xfe\n")
    with pytest.raises(ConfigError) as caught:
        load(binary)
    assert caught.value.errors == ["(file): not UTF-8 text"]
    huge = tmp_path / "huge.yaml"
    huge.write_bytes(b"#" * (1024 * 1024 + 1))
    with pytest.raises(ConfigError) as caught:
        load(huge)
    assert caught.value.errors == ["(file): larger than 1048576 bytes"]


def test_load_reads_assay_config_env(monkeypatch, write_tmp_config, demo_config_data):
    demo_config_data["profiles"] = demo_config_data["profiles"][:1]
    monkeypatch.setenv("ASSAY_CONFIG", str(write_tmp_config(demo_config_data)))
    assert [p.slug for p in load().profiles] == ["cpu-small"]
