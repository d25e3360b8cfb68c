"""The single-user server extension in a real server spawned by the demo hub: the catalog
proxy, taint-on-save from what a real kernel read, and the export guard."""

from __future__ import annotations

import httpx
import pytest

from hubprocess import HubProcess

TRIAL = "trial-042-adverse-events"
READ_TRIAL = (f"import assay.data; df = assay.data.read_csv({TRIAL!r}, 'adverse_events.csv'); "
              "print(len(df))")
READ_OPEN = ("import assay.data; a = assay.data.read_csv('reference-genes', 'genes.csv'); "
             "b = assay.data.read_parquet('omics-expression-atlas', 'expression.parquet'); "
             "print(len(a), len(b))")
MARK = {"classification": "restricted", "datasets": [TRIAL]}
WHY = (f"This notebook read restricted data ({TRIAL}); exporting it is blocked by Assay's "
       "guardrail. Ask the oncology data steward (alice)")


def notebook(source: str = "print('hello from a cell')", metadata: dict | None = None) -> dict:
    """A contents-API model of a one-cell notebook."""
    cell = {"cell_type": "code", "source": source, "metadata": {}, "outputs": [],
            "execution_count": None}
    return {"type": "notebook", "content": {"cells": [cell], "metadata": metadata or {},
                                            "nbformat": 4, "nbformat_minor": 5}}


def audit(hub: HubProcess, **query: str) -> list[dict]:
    return hub.audit(**query)


def saved_marking(server, path: str) -> dict | None:
    r = server.http.get(f"api/contents/{path}")
    assert r.status_code == 200, r.text
    return r.json()["content"]["metadata"].get("assay")


@pytest.fixture(scope="module")
def restricted_notebook(alice_server) -> tuple[str, str]:
    """A notebook saved while its (real) kernel had read restricted data: (path, kernel)."""
    path = "safety review.ipynb"
    kernel = alice_server.start_kernel(path)
    assert alice_server.execute(kernel, READ_TRIAL).strip() == "2000"
    alice_server.save(path, notebook())
    return path, kernel


def test_catalog_comes_from_the_broker_with_the_servers_credential(alice_server, demo_hub):
    r = alice_server.http.get("assay/datasets")
    assert r.status_code == 200, r.text
    catalog = {d["name"]: d for d in r.json()["datasets"]}
    assert set(catalog) == {TRIAL, "omics-expression-atlas", "reference-genes"}
    assert catalog[TRIAL]["can_read"] is True  # secure zone, oncology: the session's view
    assert "assay-s-" not in r.text
    listing = [rec for rec in audit(demo_hub, user="alice") if rec["action"] == "list"][-1]
    assert (listing["zone"], listing["profile"]) == ("secure", "secure-cpu")
    anonymous = httpx.get(alice_server.url + "assay/datasets", timeout=30)
    assert anonymous.status_code != 200 and "datasets" not in anonymous.text


def test_notebook_is_marked_with_what_its_kernel_read(alice_server, restricted_notebook,
                                                      demo_hub):
    path, kernel = restricted_notebook
    assert saved_marking(alice_server, path) == MARK
    read = [r for r in audit(demo_hub, user="alice", dataset=TRIAL) if r["action"] == "read"]
    assert read[-1]["kernel_id"] == kernel  # the kernel tags its reads

    lowered = notebook(metadata={"assay": {"classification": "public", "datasets": []}})
    alice_server.save(path, lowered)
    assert saved_marking(alice_server, path) == MARK  # never lowered

    other = "unrelated.ipynb"  # another kernel of the same server read nothing
    alice_server.execute(alice_server.start_kernel(other), "print('no data')")
    alice_server.save(other, notebook())
    assert saved_marking(alice_server, other) is None


def test_marking_survives_the_kernel(alice_server):
    path = "kernel gone.ipynb"
    kernel = alice_server.start_kernel(path)
    alice_server.execute(kernel, READ_TRIAL)
    alice_server.stop_sessions(path)  # outputs may still show what it read
    alice_server.save(path, notebook())
    assert saved_marking(alice_server, path) == MARK


def test_downloads_of_a_restricted_notebook_are_refused(alice_server, restricted_notebook):
    path, _ = restricted_notebook
    for params in ({"download": "1"}, {}):
        r = alice_server.http.get(f"files/{path}", params=params)
        assert r.status_code == 403
        assert r.headers["content-type"].startswith("text/html")
        assert "content-disposition" not in r.headers
        assert WHY.replace("'", "&#x27;") in r.text
    assert alice_server.http.head(f"files/{path}").status_code == 403
    # the notebook itself still opens in JupyterLab
    assert alice_server.http.get(f"api/contents/{path}").status_code == 200


def test_exports_of_a_restricted_notebook_are_refused(alice_server, restricted_notebook):
    path, _ = restricted_notebook
    page = alice_server.http.get(f"nbconvert/html/{path}", params={"download": "true"})
    assert page.status_code == 403 and WHY.replace("'", "&#x27;") in page.text
    api = alice_server.http.get(f"nbconvert/script/{path}", headers={"Accept": "application/json"})
    assert api.status_code == 403
    body = api.json()
    assert body["error"] == "export_blocked" and body["message"].startswith(WHY)
    assert (body["classification"], body["datasets"]) == ("restricted", [TRIAL])

    posted = alice_server.http.get(f"api/contents/{path}").json()
    r = alice_server.http.post("nbconvert/html", json={"name": "copy.ipynb",
                                                       "content": posted["content"]})
    assert r.status_code == 403 and r.json()["message"].startswith(WHY)


def test_notebooks_without_sensitive_reads_export(alice_server):
    path = "open data.ipynb"
    kernel = alice_server.start_kernel(path)
    assert alice_server.execute(kernel, READ_OPEN).split() == ["500", "500"]
    alice_server.save(path, notebook())
    assert saved_marking(alice_server, path) == {
        "classification": "internal", "datasets": ["omics-expression-atlas", "reference-genes"]}

    for name in (path, "no kernel.ipynb"):
        alice_server.save(name, notebook())
        r = alice_server.http.get(f"files/{name}", params={"download": "1"})
        assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
        assert "hello from a cell" in "".join(r.json()["cells"][0]["source"])
        r = alice_server.http.get(f"nbconvert/html/{name}", params={"download": "true"})
        assert r.status_code == 200 and "hello from a cell" in r.text
    r = alice_server.http.post("nbconvert/script", json={"name": "x.ipynb",
                                                         "content": notebook()["content"]})
    assert r.status_code == 200 and "hello from a cell" in r.text
