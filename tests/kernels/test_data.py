"""The notebook data API (``assay.data``) against the demo hub's real broker, holding the
session credentials the spawner gave alice's and bob's real servers."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import assay
import assay.data
from assay.kernels import data as kernel_data
from hubprocess import HubProcess

TRIAL, CSV = "trial-042-adverse-events", "adverse_events.csv"
OMICS, PARQUET = "omics-expression-atlas", "expression.parquet"


def local(hub: HubProcess, dataset: str, path: str) -> Path:
    """The file as the broker's local store holds it (the demo data of the hub)."""
    return hub.workdir / "var" / "data" / dataset / path


def test_import_assay_is_light_and_data_is_one_module():
    code = ("import sys, assay; light = not ({'assay.data', 'httpx', 'pandas'} & "
            "set(sys.modules)); import assay.kernels.data as k; "
            "print(light, assay.data.read_csv is k.read_csv, assay.data.lineage is k.lineage)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.split() == ["True", "True", "True"]
    assert assay.data.open is kernel_data.open


def test_outside_a_server_session_the_error_says_so(monkeypatch):
    monkeypatch.delenv("ASSAY_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("ASSAY_BROKER_URL", raising=False)
    with pytest.raises(assay.data.AssayDataError, match="Not in an Assay server session"):
        assay.data.datasets()


def test_datasets_say_what_each_user_can_read(as_user):
    as_user("alice")
    alice = {d["name"]: d for d in assay.data.datasets()}
    assert set(alice) == {TRIAL, OMICS, "reference-genes"}
    assert all(d["can_read"] for d in alice.values())
    assert alice[TRIAL]["classification"] == "restricted"

    as_user("bob")
    bob = {d["name"]: d for d in assay.data.datasets()}
    assert bob["reference-genes"]["can_read"] and bob[OMICS]["can_read"]
    trial = bob[TRIAL]
    assert trial["can_read"] is False
    assert "membership in group 'oncology'" in trial["missing"]
    assert trial["ask"] == "the oncology data steward (alice)"
    assert "Ask the oncology data steward (alice)" in trial["message"]


def test_files_lists_paths_and_sizes(as_user, demo_hub):
    as_user("alice")
    listed = {f["path"]: f["size"] for f in assay.data.files(OMICS)}
    assert listed == {p: local(demo_hub, OMICS, p).stat().st_size
                      for p in ("README.txt", PARQUET)}


def test_open_is_a_binary_file(as_user, demo_hub):
    as_user("alice")
    expected = local(demo_hub, TRIAL, CSV).read_bytes()
    with assay.data.open(TRIAL, CSV) as f:
        assert f.size == len(expected) and f.readable() and f.seekable()
        assert not f.writable() and (f.dataset, f.path) == (TRIAL, CSV)
        assert f.readline() == expected[: expected.index(b"\n") + 1]
        assert f.read(100) == expected[f.tell() - 100: f.tell()]
        chunk = bytearray(64)
        at = f.tell()
        assert f.readinto(chunk) == 64 and bytes(chunk) == expected[at: at + 64]
        assert f.seek(50_000) == 50_000 and f.read(10) == expected[50_000:50_010]
        assert f.seek(10) == 10 and f.read(20) == expected[10:30]
        assert f.seek(-30, io.SEEK_END) == len(expected) - 30 and f.tell() == len(expected) - 30
        assert f.read() == expected[-30:] and f.read(1) == b""
        f.seek(len(expected) + 5)  # beyond the end: reads nothing, asks nothing
        assert f.read() == b""
    assert f.closed
    with assay.data.open(TRIAL, CSV) as f:
        assert sum(1 for _ in f) == expected.count(b"\n")  # iteration yields lines
    with io.TextIOWrapper(assay.data.open(TRIAL, CSV), encoding="utf-8") as text:
        assert text.read() == expected.decode()


def test_the_stream_seeks_with_range_requests(as_user, demo_hub, audit):
    """Below the buffer: a forward seek skips, a backward one asks again from there."""
    env = as_user("alice")
    expected = local(demo_hub, TRIAL, CSV).read_bytes()
    size = len(expected)
    before = audit.last_seq()
    with assay.data.open(TRIAL, CSV) as f:
        raw = f.raw
        assert raw.read(100) == expected[:100]
        raw.seek(60_000)  # forward, near: skipped over, no new request
        assert raw.read(10) == expected[60_000:60_010]
        raw.seek(10)  # backward: Range: bytes=10-
        assert raw.read(20) == expected[10:30] and raw.tell() == 30
        raw.seek(-30, io.SEEK_END)
        assert raw.read() == expected[-30:]
        raw.seek(5)  # backward again: bytes=5-
        assert raw.read() == expected[5:]
    reads = audit.records(before, user="alice", dataset=TRIAL)
    assert [(r["action"], r["decision"], r["bytes"]) for r in reads] == [
        ("read", "allow", size), ("read", "allow", size - 10), ("read", "allow", size - 5)]
    assert {r["purpose"] for r in reads} == {env["ASSAY_PURPOSE"]} != {""}
    assert {r["zone"] for r in reads} == {"secure"} and "" not in {r["session_id"] for r in reads}


def test_read_csv_streams_into_pandas(as_user, demo_hub):
    as_user("alice")
    df = assay.data.read_csv(TRIAL, CSV)
    assert len(df) == 2000
    pd.testing.assert_frame_equal(df, pd.read_csv(local(demo_hub, TRIAL, CSV)))
    subset = assay.data.read_csv(TRIAL, CSV, usecols=["arm", "grade"], nrows=5)
    assert list(subset.columns) == ["arm", "grade"] and len(subset) == 5
    chunks = assay.data.read_csv(TRIAL, CSV, chunksize=500)
    assert [len(c) for c in chunks] == [500] * 4


def test_read_parquet_through_a_temporary_buffer(as_user, demo_hub):
    as_user("bob")  # internal data: bob's analytics clearance is enough
    df = assay.data.read_parquet(OMICS, PARQUET)
    assert df.shape == (500, 7)
    pd.testing.assert_frame_equal(df, pd.read_parquet(local(demo_hub, OMICS, PARQUET)))
    assert list(assay.data.read_parquet(OMICS, PARQUET, columns=["gene"]).columns) == ["gene"]


def test_progress_bar_when_asked(as_user, capsys):
    as_user("alice")
    assay.data.read_csv("reference-genes", "genes.csv", progress=True)
    assert "reference-genes/genes.csv" in capsys.readouterr().err


def test_bob_is_denied_with_what_is_missing_and_whom_to_ask(as_user, audit):
    as_user("bob")
    before = audit.last_seq()
    with pytest.raises(assay.data.DataAccessDenied) as caught:
        assay.data.read_csv(TRIAL, CSV)
    denied = caught.value
    assert isinstance(denied, PermissionError) and isinstance(denied, assay.data.AssayDataError)
    assert str(denied).startswith("bob may not read 'trial-042-adverse-events' (restricted).")
    assert "group 'oncology'" in str(denied)
    assert str(denied).endswith("Ask the oncology data steward (alice) for access.")
    assert denied.dataset == TRIAL and denied.ask == "the oncology data steward (alice)"
    assert denied.missing == ["membership in group 'oncology'", "clearance for restricted data",
                              "zone 'secure' (start a server on profile secure-cpu)"]
    [record] = audit.records(before, user="bob", dataset=TRIAL)
    assert (record["action"], record["decision"], record["reason"]) == ("read", "deny", "group")
    with pytest.raises(assay.data.DataAccessDenied):
        assay.data.files(TRIAL)


def test_unknown_names_are_not_found_and_bad_paths_reach_the_broker(as_user, audit):
    as_user("alice")
    with pytest.raises(FileNotFoundError, match="No such dataset: 'no-such-data'"):
        assay.data.open("no-such-data", "x.csv")
    with pytest.raises(assay.data.DataNotFound):
        assay.data.read_csv("reference-genes", "missing.csv")
    before = audit.last_seq()
    with pytest.raises(assay.data.AssayDataError, match="Invalid file path"):
        assay.data.open("reference-genes", "../trial-042-adverse-events/adverse_events.csv")
    [record] = audit.records(before, user="alice", dataset="reference-genes")
    assert record["decision"] == "deny" and record["path"].startswith("../")


LINEAGE_SCRIPT = """
import json, assay.data
assay.data.read_csv("trial-042-adverse-events", "adverse_events.csv")
assay.data.read_parquet("omics-expression-atlas", "expression.parquet")
with assay.data.open("trial-042-adverse-events", "adverse_events.csv") as f:
    f.read(10)
try:
    assay.data.open("reference-genes", "missing.csv")
except assay.data.DataNotFound:
    pass
print(json.dumps(assay.data.lineage()))
"""


def test_lineage_lists_each_file_the_process_read(server_envs):
    env = {**os.environ, **server_envs["alice"]}
    out = subprocess.run([sys.executable, "-c", LINEAGE_SCRIPT], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lineage = json.loads(out.stdout)
    assert [(e["dataset"], e["path"], e["classification"]) for e in lineage] == [
        (TRIAL, CSV, "restricted"), (OMICS, PARQUET, "internal")]
    assert all(e["time"].endswith("+00:00") for e in lineage)
