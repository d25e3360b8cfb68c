"""The production backends through a real hub: the broker on PostgreSQL and a dataset on S3
(moto's server over the S3 protocol); same behaviour as the embedded defaults."""

from __future__ import annotations

import subprocess
import sys
from urllib.parse import parse_qs, urlparse

import boto3
import httpx
import pytest
from botocore.config import Config

from assay.config import parse
from assay.demo_data import generate
from hubfixtures import DEMO_YAML, demo_config, write_config
from hubprocess import HubProcess

BODY = b"gene,score\n" + b"".join(b"G%05d,%d\n" % (i, i % 97) for i in range(20000))


@pytest.fixture
def prod_hub(tmp_path, postgres_database, s3_endpoint):
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1",
                      config=Config(s3={"addressing_style": "path"}))
    s3.create_bucket(Bucket="assay-omics")
    s3.put_object(Bucket="assay-omics", Key="atlas/scores.csv", Body=BODY)
    config = demo_config(database={"url": postgres_database})
    config["data"]["s3"] = {"endpoint_url": s3_endpoint}
    config["data"]["datasets"].append({
        "name": "omics-s3", "classification": "internal", "location": "s3://assay-omics/atlas",
        "approver": "the omics platform team"})
    write_config(tmp_path / "assay.yaml", config)
    generate(parse(DEMO_YAML.read_text()), base=tmp_path)
    hub = HubProcess(tmp_path)
    hub.start()
    yield hub
    hub.stop()


def call(hub: HubProcess, token: str, method: str, path: str) -> httpx.Response:
    return httpx.request(method, hub.broker_url + "api/v1/" + path, timeout=30,
                         headers={"Authorization": f"token {token}"})


def test_postgres_audit_and_s3_dataset(prod_hub, postgres_database):
    bob = prod_hub.user_token("bob")
    files = call(prod_hub, bob, "GET", "datasets/omics-s3/files").json()["files"]
    assert files == [{"path": "scores.csv", "size": len(BODY)}]
    r = call(prod_hub, bob, "GET", "datasets/omics-s3/files/scores.csv")
    assert r.status_code == 200 and r.content == BODY
    ranged = httpx.get(prod_hub.broker_url + "api/v1/datasets/omics-s3/files/scores.csv",
                       headers={"Authorization": f"token {bob}", "Range": "bytes=11-20"})
    assert ranged.status_code == 206 and ranged.content == BODY[11:21]

    signed = call(prod_hub, bob, "POST", "datasets/omics-s3/files/scores.csv/signed-url").json()
    query = parse_qs(urlparse(signed["url"]).query)
    assert query["X-Amz-Expires"] == ["30"] and urlparse(signed["url"]).path.endswith(
        "/assay-omics/atlas/scores.csv")
    assert httpx.get(signed["url"]).content == BODY

    local = call(prod_hub, bob, "POST", "datasets/reference-genes/files/genes.csv/signed-url")
    assert httpx.get(local.json()["url"]).text.startswith("gene,chromosome")

    denied = call(prod_hub, bob, "GET",
                  "datasets/trial-042-adverse-events/files/adverse_events.csv")
    assert denied.status_code == 403

    records = call(prod_hub, prod_hub.token, "GET", "audit?user=bob").json()["records"]
    assert [r["decision"] for r in records].count("deny") == 1
    assert any(r["dataset"] == "omics-s3" and r["bytes"] == len(BODY) for r in records)
    verify = subprocess.run([sys.executable, "-m", "assay.cli", "audit", "verify",
                             "--db", postgres_database], capture_output=True, text=True)
    assert verify.returncode == 0, verify.stderr
    assert verify.stdout.startswith("OK")
