"""Fixtures for broker tests: moto's S3 server on loopback, with dummy credentials; the
model registry API tests' sessions (alice's secure-zone kernel, bob's hub token)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from assay.broker.storage import reset_s3_clients
from hubprocess import HubProcess
from modelsapi import OMICS, TRIAL, Client, hub_token, read_and_register, secure_session
from motoserver import moto_server


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of one moto S3 server for the session."""
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with moto_server(log_path=log) as url:
        yield url


@pytest.fixture
def s3_endpoint(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch,
                tmp_path: Path) -> Iterator[str]:
    """The moto endpoint, with boto3's default chain reduced to dummy environment keys."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
                 "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    reset_s3_clients()
    yield moto_endpoint
    reset_s3_clients()


# -- the model registry's API tests (test_models_api*.py) -------------------------------


@pytest.fixture(scope="module")
def alice(demo_hub: HubProcess) -> Iterator[Client]:
    """alice's secure-zone server session (the kernel's credential)."""
    yield from secure_session(demo_hub)


@pytest.fixture(scope="module")
def bob(demo_hub: HubProcess) -> Client:
    return hub_token(demo_hub, "bob")


@pytest.fixture(scope="module")
def trial_model(alice: Client) -> dict:
    """A restricted model: alice's kernel read the trial and the omics atlas."""
    return read_and_register(alice, "churn", (TRIAL, OMICS), metrics={"auc": 0.91})
