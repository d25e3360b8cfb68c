"""Per-session credentials on SQLite and PostgreSQL: mint, look up, revoke; no clear tokens."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from assay.broker.sessions import Session, SessionStore, token_digest


@pytest.fixture
def store(db_engine) -> SessionStore:
    return SessionStore(db_engine)


def mint(store: SessionStore, user: str = "alice", server: str = "", **kwargs):
    values = {"profile": "secure-cpu", "zone": "secure", "purpose": "Trial 7 interim analysis"}
    return store.mint(user, server, **{**values, **kwargs})


def test_mint_and_lookup(store):
    before = datetime.now(UTC)
    session_id, token = mint(store)
    assert re.fullmatch(r"[0-9a-f]{32}", session_id)
    assert re.fullmatch(r"assay-s-[A-Za-z0-9_-]{43}", token)
    session = store.lookup(token)
    assert isinstance(session, Session)
    assert (session.id, session.user, session.server, session.profile, session.zone,
            session.purpose, session.kind) == (session_id, "alice", "", "secure-cpu",
                                               "secure", "Trial 7 interim analysis", "server")
    assert session.created_at.tzinfo is not None
    assert before - timedelta(seconds=1) <= session.created_at <= datetime.now(UTC)
    assert store.get(session_id) == session


def test_sessions_are_frozen(store):
    session = store.lookup(mint(store)[1])
    with pytest.raises(dataclasses.FrozenInstanceError):
        session.zone = "default"


def test_every_mint_is_new(store):
    minted = [mint(store) for _ in range(20)]
    assert len({i for i, _ in minted}) == len({t for _, t in minted}) == 20
    assert {store.lookup(t).id for _, t in minted} == {i for i, _ in minted}


def test_kind_and_no_purpose(store):
    session_id, token = mint(store, purpose=None, kind="kernel")
    session = store.lookup(token)
    assert (session.purpose, session.kind) == (None, "kernel")


@pytest.mark.parametrize("change", ["unknown", "garbage"])
def test_unknown_tokens(store, change):
    _, token = mint(store)
    other = "assay-s-" + "A" * 43 if change == "unknown" else "assay-s-" + "!" * 43
    assert store.lookup(other) is None


@pytest.mark.parametrize("bad", [
    None, 12345, b"assay-s-", "", "assay-s-", "token", "Bearer assay-s-", "assay-s-\n",
    "x" * 100_000, "assay-s-" + "A" * 42, "assay-s-" + "A" * 44, "ASSAY-S-" + "A" * 43,
    "assay-s-" + "A" * 42 + "\n", " assay-s-" + "A" * 43, "assay-s-" + "\u0410" * 43,
])
def test_malformed_tokens(store, bad):
    mint(store)
    assert store.lookup(bad) is None


def test_a_token_with_one_character_changed_is_unknown(store):
    _, token = mint(store)
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert store.lookup(flipped) is None
    assert store.lookup(token[:-1]) is None
    assert store.lookup(token + "A") is None


def test_revoke(store):
    session_id, token = mint(store)
    _, other = mint(store)
    assert store.revoke(session_id) is True
    assert store.lookup(token) is None and store.get(session_id) is None
    assert store.lookup(other) is not None
    assert store.revoke(session_id) is False  # already revoked
    assert store.revoke("f" * 32) is False  # unknown
    assert store.revoke("'; DROP TABLE assay_sessions; --") is False
    assert store.lookup(other) is not None


def test_revoke_all_for_one_server(store):
    tokens = {key: mint(store, *key)[1] for key in
              [("alice", ""), ("bob", ""), ("alice", "gpu")]}
    _, second = mint(store, "alice", "")
    assert store.revoke_all_for("alice", "") == 2
    assert store.lookup(tokens["alice", ""]) is None and store.lookup(second) is None
    assert store.lookup(tokens["bob", ""]) is not None
    assert store.lookup(tokens["alice", "gpu"]) is not None
    assert store.revoke_all_for("alice", "") == 0
    assert store.revoke_all_for("nobody", "") == 0


@pytest.mark.parametrize(("field", "value"), [
    ("purpose", "p" * 501), ("profile", "x" * 256), ("zone", None), ("kind", "k" * 33),
    ("purpose", "a\x00b"),
])
def test_invalid_values_are_refused(store, field, value):
    with pytest.raises(ValueError):
        mint(store, **{field: value})


def test_empty_user_is_refused(store):
    with pytest.raises(ValueError):
        store.mint("", "", "cpu-small", "default", None)


def test_longest_purpose_is_kept(store):
    session = store.lookup(mint(store, purpose="p" * 500)[1])
    assert session.purpose == "p" * 500


def test_tokens_are_not_stored_in_clear(db_engine, db_url, store, tmp_path):
    minted = [mint(store) for _ in range(3)]
    store.revoke(minted[0][0])
    if db_url.startswith("sqlite"):
        db_engine.dispose()  # grep the database file and any journal file left
        blob = b"".join(p.read_bytes() for p in Path(tmp_path).glob("assay.sqlite*"))
    else:
        with db_engine.connect() as conn:
            blob = "\n".join(conn.execute(text("SELECT s::text FROM assay_sessions s"))
                             .scalars()).encode()
    for session_id, token in minted:
        assert token_digest(token).encode() in blob  # the search does see the table
        assert session_id.encode() in blob
        assert token.encode() not in blob
        assert token.removeprefix("assay-s-").encode() not in blob
        assert token.removeprefix("assay-s-")[:16].encode() not in blob
