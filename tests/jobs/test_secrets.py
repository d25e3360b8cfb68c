"""Secrets: encrypted at rest on SQLite and PostgreSQL, bound to owner and name."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text, update

from assay.db.models import JobSecret
from assay.errors import InvalidSecret, SecretNotFound, SecretsUnavailable
from assay.jobs.secrets import KEY_ENV, SecretStore, load_key

VALUE = "pg-Password-7f3a9c1e-do-not-leak"


@pytest.fixture
def secrets(db_engine, secret_key) -> SecretStore:
    return SecretStore(db_engine, secret_key)


def test_put_get_replace_delete(secrets):
    secrets.put("alice", "warehouse", VALUE)
    assert secrets.get("alice", "warehouse") == VALUE
    secrets.put("alice", "warehouse", "second")
    assert secrets.get("alice", "warehouse") == "second"
    secrets.put("alice", "api.key", "k")
    assert secrets.names("alice") == ["api.key", "warehouse"]
    assert secrets.resolve("alice", ["warehouse", "api.key", "warehouse"]) == {
        "api.key": "k", "warehouse": "second"}
    assert secrets.delete("alice", "api.key") is True
    assert secrets.delete("alice", "api.key") is False


def test_secrets_belong_to_their_owner(secrets):
    secrets.put("alice", "warehouse", VALUE)
    assert secrets.names("bob") == []
    with pytest.raises(SecretNotFound) as err:
        secrets.resolve("bob", ["warehouse", "other"])
    assert err.value.user_message == (
        "No secret named 'other', 'warehouse' for bob; bob's secrets: (none). Store it first "
        "(assay secrets set NAME).")
    assert err.value.status_code == 404


def test_not_stored_in_clear_on_sqlite(secrets, db_engine, db_url):
    if not db_url.startswith("sqlite"):
        pytest.skip("the PostgreSQL variant reads the cluster's files")
    secrets.put("alice", "warehouse", VALUE)
    path = Path(db_engine.url.database)
    files = [p for p in path.parent.iterdir() if p.name.startswith(path.name)]
    assert any(p.name.endswith("-wal") for p in files)  # the value went through the WAL too
    for file in files:
        assert VALUE.encode() not in file.read_bytes()
    with db_engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM assay_secrets")).one()
    assert VALUE not in str(tuple(row))


def test_not_stored_in_clear_on_postgresql(secrets, db_engine, db_url):
    if db_url.startswith("sqlite"):
        pytest.skip("the SQLite variant reads the database file")
    secrets.put("alice", "warehouse", VALUE)
    with db_engine.connect() as conn:
        conn.execute(text("CHECKPOINT"))
        data_dir = conn.execute(text("SHOW data_directory")).scalar()
        dump = conn.execute(text("SELECT row_to_json(s)::text FROM assay_secrets s")).scalar()
    assert VALUE not in dump
    needle, scanned = VALUE.encode(), 0
    for folder, _dirs, names in os.walk(data_dir):
        for name in names:
            try:
                data = Path(folder, name).read_bytes()
            except OSError:
                continue
            scanned += len(data)
            assert needle not in data, f"{folder}/{name} holds the value in clear"
    assert scanned > 1_000_000  # the tables and the WAL were read


def test_a_row_moved_to_another_owner_does_not_decrypt(secrets, db_engine):
    secrets.put("alice", "warehouse", VALUE)
    secrets.put("bob", "warehouse", "bob's")
    with db_engine.begin() as conn:
        alice = conn.execute(text(
            "SELECT ciphertext FROM assay_secrets WHERE owner = 'alice'")).scalar()
        conn.execute(update(JobSecret).where(JobSecret.owner == "bob")
                     .values(ciphertext=alice))
    with pytest.raises(SecretsUnavailable, match="Secret 'warehouse' cannot be read"):
        secrets.get("bob", "warehouse")


def test_another_key_cannot_read(secrets, db_engine):
    secrets.put("alice", "warehouse", VALUE)
    with pytest.raises(SecretsUnavailable) as err:
        SecretStore(db_engine, Fernet.generate_key()).get("alice", "warehouse")
    assert err.value.status_code == 503
    assert VALUE not in err.value.user_message + err.value.log_detail


@pytest.mark.parametrize(("name", "value", "message"), [
    ("bad name", "v", "name: must be 1-64 ASCII letters, digits, '_', '.' and '-', starting "
                      "with a letter or digit, got 'bad name'"),
    ("-x", "v", "name: must be 1-64"),
    ("x" * 65, "v", "name: must be 1-64"),
    ("ok", "", "value: must be non-empty text"),
    ("ok", b"bytes", "value: must be non-empty text"),
    ("ok", "x" * 70_000, "value: must be at most 65536 bytes"),
])
def test_bad_names_and_values(secrets, name, value, message):
    with pytest.raises(InvalidSecret) as err:
        secrets.put("alice", name, value)
    assert err.value.user_message.startswith(message)


def test_key_from_the_environment(tmp_path, monkeypatch):
    key = Fernet.generate_key()
    assert load_key(tmp_path / "unused", environ={KEY_ENV: key.decode()}) == key
    assert not (tmp_path / "unused").exists()
    monkeypatch.setenv(KEY_ENV, key.decode())
    assert load_key() == key


def test_key_file_is_created_private_and_reused(tmp_path):
    path = tmp_path / "state" / "secret.key"
    key = load_key(path, create=True, environ={})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_key(path, environ={}) == key
    Fernet(key)


@pytest.mark.parametrize(("environ", "file_text", "message"), [
    ({}, None, "Secrets are not available: the service has no key."),
    ({KEY_ENV: "short"}, None, "Secrets are not available: the service key is invalid."),
    ({}, "garbage", "Secrets are not available: the service key is invalid."),
])
def test_missing_or_bad_keys(tmp_path, environ, file_text, message):
    path = tmp_path / "secret.key"
    if file_text is not None:
        path.write_text(file_text)
    with pytest.raises(SecretsUnavailable) as err:
        load_key(path, environ=environ)
    assert err.value.user_message == message
