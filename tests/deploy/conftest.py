"""Configs to render: the shipped demo, and a production-like Kubernetes one (OAuth, S3)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from assay.config import AssayConfig, parse

OAUTH = {"client_id": "assay", "client_secret_env": "ASSAY_OAUTH_CLIENT_SECRET",
         "authorize_url": "https://idp.example.org/oauth2/authorize",
         "token_url": "https://idp.example.org/oauth2/token",
         "userdata_url": "https://idp.example.org/oauth2/userinfo",
         "admin_groups": ["assay-admins"], "allowed_groups": ["oncology", "analytics"]}


@pytest.fixture
def cluster_data(demo_config_data: dict[str, Any]) -> dict[str, Any]:
    """The demo config as an admin would deploy it: Kubernetes mode, OAuth, S3, PostgreSQL,
    GPU nodes with their own selector and taint."""
    data = copy.deepcopy(demo_config_data)
    data["mode"] = "kubernetes"
    data["auth"] = {"type": "oauth", "oauth": OAUTH}
    data["storage"] = {"url": "s3://assay-outputs/runs"}
    data["database"] = {"url": "postgresql+psycopg://assay@db.assay.svc/assay"}
    data["kubernetes"].update({
        "namespace": "research",
        "image": "registry.example.org/assay-singleuser:0.1.0",
        "gpu_node_selector": {"pool": "a100"},
        "gpu_tolerations": [{"key": "gpu", "operator": "Equal", "value": "a100",
                             "effect": "NoSchedule"}]})
    for dataset in data["data"]["datasets"]:
        dataset["location"] = f"s3://assay-data/{dataset['location']}"
    for profile in data["profiles"]:
        if profile.get("gpus"):
            profile["image"] = "registry.example.org/assay-singleuser-gpu:0.1.0"
    return data


@pytest.fixture
def cluster_text(cluster_data: dict[str, Any]) -> str:
    return yaml.safe_dump(cluster_data, sort_keys=False)


@pytest.fixture
def cluster_config(cluster_text: str) -> AssayConfig:
    return parse(cluster_text, "cluster.yaml")
