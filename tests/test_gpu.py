"""The GPU ledger of local mode: exclusive GPUs, refusals that say who holds what, restarts.

The ledger lives in the database (``db_engine``: SQLite and PostgreSQL)."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest

from assay.config.schema import Gpus
from assay.db import make_engine, upgrade
from assay.gpu import GPULedger, NotEnoughGPUs, discover

FOUR = ["sim-0", "sim-1", "sim-2", "sim-3"]


@pytest.fixture
def ledger(db_engine) -> GPULedger:
    return GPULedger(db_engine, FOUR)


@pytest.fixture
def other_database(tmp_path):
    """A second, empty ledger database (a hub whose holdings table was lost)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'other.sqlite'}")
    upgrade(engine)
    yield engine
    engine.dispose()


def test_allocation_is_exclusive(ledger):
    alice = ledger.allocate("alice", 2)
    bob = ledger.allocate("bob:train", 2)
    assert alice == ["sim-0", "sim-1"]
    assert bob == ["sim-2", "sim-3"]
    assert not set(alice) & set(bob)
    assert ledger.free() == []
    assert ledger.holdings() == {"alice": alice, "bob:train": bob}


def test_zero_gpus_takes_nothing(ledger):
    assert ledger.allocate("carol", 0) == []
    assert ledger.free() == FOUR
    assert ledger.holdings() == {}


def test_release_returns_gpus(ledger):
    ledger.allocate("alice", 3)
    ledger.release("alice")
    assert ledger.free() == FOUR
    assert ledger.allocate("bob", 4) == FOUR


def test_release_of_unknown_holder_is_harmless(ledger):
    ledger.release("nobody")
    assert ledger.free() == FOUR


def test_not_enough_gpus_says_how_many_are_free_and_who_holds_them(ledger):
    ledger.allocate("alice", 2)
    ledger.allocate("bob:train", 1)
    with pytest.raises(NotEnoughGPUs) as caught:
        ledger.allocate("carol", 2)
    exc = caught.value
    assert (exc.wanted, exc.free, exc.total) == (2, 1, 4)
    assert exc.holders == {"alice": ["sim-0", "sim-1"], "bob:train": ["sim-2"]}
    assert exc.describe_holders() == "alice: sim-0,sim-1; bob:train: sim-2"
    assert str(exc) == "wanted 2, 1 of 4 free"
    # the refusal gave carol nothing and left the last GPU free
    assert ledger.free() == ["sim-3"]
    assert "carol" not in ledger.holdings()


def test_no_gpus_at_all(ledger, db_engine):
    empty = GPULedger(db_engine, [])
    with pytest.raises(NotEnoughGPUs) as caught:
        empty.allocate("alice", 1)
    assert (caught.value.free, caught.value.total, caught.value.describe_holders()) == (0, 0, "")


def test_reallocation_by_same_holder_replaces(ledger):
    ledger.allocate("alice", 2)
    assert ledger.allocate("alice", 1) == ["sim-0"]
    assert ledger.holdings() == {"alice": ["sim-0"]}
    assert ledger.free() == ["sim-1", "sim-2", "sim-3"]
    # its own GPUs count as free for the replacement
    assert ledger.allocate("alice", 4) == FOUR
    assert ledger.allocate("alice", 0) == []
    assert ledger.free() == FOUR


def test_refused_reallocation_keeps_what_the_holder_had(ledger):
    ledger.allocate("alice", 2)
    ledger.allocate("bob", 1)
    with pytest.raises(NotEnoughGPUs):
        ledger.allocate("alice", 4)
    assert ledger.holdings() == {"alice": ["sim-0", "sim-1"], "bob": ["sim-2"]}
    assert ledger.free() == ["sim-3"]


def test_claim_after_restart_restores_holdings(db_engine, other_database):
    before = GPULedger(db_engine, FOUR)
    held = before.allocate("alice", 2)
    before.allocate("bob", 1)
    # a restarted hub without the old holdings: they come back from spawner state
    after = GPULedger(other_database, FOUR)
    after.claim("alice", held)
    assert after.holdings() == {"alice": held}
    assert after.allocate("carol", 2) == ["sim-2", "sim-3"]
    with pytest.raises(NotEnoughGPUs):
        after.allocate("dave", 1)


def test_claim_of_nothing_is_a_no_op(ledger):
    ledger.claim("alice", [])
    assert ledger.holdings() == {}


def test_claim_clash_keeps_the_current_holder(ledger, caplog):
    ledger.allocate("alice", 2)  # sim-0, sim-1
    with caplog.at_level(logging.ERROR, logger="assay.gpu"):
        ledger.claim("bob", ["sim-1", "sim-2"])
    assert ledger.holdings() == {"alice": ["sim-0", "sim-1"], "bob": ["sim-2"]}
    assert "sim-1" in caplog.text and "bob" in caplog.text
    assert "not restoring" in caplog.text


def test_claim_by_the_same_holder_is_not_a_clash(ledger):
    ledger.allocate("alice", 2)
    ledger.claim("alice", ["sim-0", "sim-1"])
    assert ledger.holdings() == {"alice": ["sim-0", "sim-1"]}


def test_inventory_change_keeps_holders(ledger):
    ledger.allocate("alice", 2)
    ledger.set_devices(["sim-0", "sim-1", "sim-2"])
    assert ledger.holdings() == {"alice": ["sim-0", "sim-1"]}
    assert ledger.free() == ["sim-2"]
    ledger.set_devices(["sim-2", "sim-3"])  # alice's GPUs left the inventory
    assert ledger.free() == ["sim-2", "sim-3"]


def test_shared_ledger_is_one_per_name(tmp_path):
    a, b = f"sqlite:///{tmp_path / 'a.sqlite'}", f"sqlite:///{tmp_path / 'b.sqlite'}"
    assert GPULedger.shared(a) is GPULedger.shared(a)
    assert GPULedger.shared(a) is not GPULedger.shared(b)


# -- discover ---------------------------------------------------------------------------


def fake_nvidia_smi(folder: Path, body: str) -> Path:
    folder.mkdir(exist_ok=True)
    exe = folder / "nvidia-smi"
    exe.write_text("#!/bin/sh\n" + body)
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return exe


@pytest.fixture
def no_nvidia_smi(tmp_path, monkeypatch) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


@pytest.fixture
def two_real_gpus(tmp_path, monkeypatch) -> Path:
    args = tmp_path / "args.txt"
    folder = tmp_path / "bin"
    fake_nvidia_smi(folder, f'echo "$@" > {args}\nprintf "0\\n1\\n\\n"\n')
    monkeypatch.setenv("PATH", str(folder))
    return args


def test_discover_inventory_ignores_nvidia_smi(two_real_gpus):
    settings = Gpus(source="inventory", inventory=["sim-0", "sim-1", "sim-2"])
    assert discover(settings) == ["sim-0", "sim-1", "sim-2"]
    assert not two_real_gpus.exists()


def test_discover_auto_without_nvidia_smi_uses_inventory(no_nvidia_smi):
    assert discover(Gpus(source="auto", inventory=["sim-0", "sim-1"])) == ["sim-0", "sim-1"]
    assert discover(Gpus(source="auto")) == []


def test_discover_auto_prefers_nvidia_smi(two_real_gpus):
    assert discover(Gpus(source="auto", inventory=["sim-0", "sim-1", "sim-2"])) == ["0", "1"]
    assert two_real_gpus.read_text().split() == ["--query-gpu=index", "--format=csv,noheader"]


def test_discover_nvidia_smi(two_real_gpus):
    assert discover(Gpus(source="nvidia-smi")) == ["0", "1"]


def test_discover_nvidia_smi_missing_means_no_gpus(no_nvidia_smi):
    assert discover(Gpus(source="nvidia-smi", inventory=["sim-0"])) == []


def test_failing_nvidia_smi_is_logged(tmp_path, monkeypatch, caplog):
    folder = tmp_path / "bin"
    fake_nvidia_smi(folder, 'echo "NVIDIA-SMI has failed" >&2\nexit 9\n')
    monkeypatch.setenv("PATH", str(folder))
    with caplog.at_level(logging.WARNING, logger="assay.gpu"):
        assert discover(Gpus(source="nvidia-smi", inventory=["sim-0"])) == []
        # auto falls back to the inventory when nvidia-smi finds nothing
        assert discover(Gpus(source="auto", inventory=["sim-0"])) == ["sim-0"]
    assert "nvidia-smi failed, assuming no GPUs" in caplog.text
