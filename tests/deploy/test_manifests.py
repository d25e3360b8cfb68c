"""The objects Assay applies beside the chart, each validated against the Kubernetes schema."""

from __future__ import annotations

import json

import kubernetes_validate
import pytest
import yaml

from assay.config import parse
from assay.deploy import manifests as m
from assay.deploy.values import DeployOptions

K8S_VERSION = "1.33.0"  # as tests/spawners


def kinds(objects: list[dict]) -> list[str]:
    return [o["kind"] for o in objects]


@pytest.mark.parametrize("which", ["demo", "cluster"])
def test_every_object_is_valid_kubernetes(which, demo_yaml_text, cluster_text) -> None:
    text = demo_yaml_text if which == "demo" else cluster_text
    objects = m.manifests(parse(text), text, DeployOptions(storage_class="fast-ssd"))
    for obj in objects:
        kubernetes_validate.validate(json.loads(json.dumps(obj)), K8S_VERSION, strict=True)
    namespace = parse(text).kubernetes.namespace
    assert all(o["metadata"].get("namespace", namespace) == namespace for o in objects)
    assert objects[0] == {"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": namespace, "labels": {"app.kubernetes.io/part-of": "assay"}}}


def test_the_config_map_holds_the_file_as_written(demo_yaml_text) -> None:
    (config_map,) = [o for o in m.manifests(parse(demo_yaml_text), demo_yaml_text)
                     if o["kind"] == "ConfigMap"]
    assert config_map["metadata"]["name"] == "assay-config"
    assert config_map["data"] == {"assay.yaml": demo_yaml_text}


def test_storage_claim_only_for_local_folders(demo_yaml_text, cluster_text) -> None:
    demo = m.manifests(parse(demo_yaml_text), demo_yaml_text,
                       DeployOptions(storage_size="50Gi", storage_class="fast-ssd"))
    (claim,) = [o for o in demo if o["kind"] == "PersistentVolumeClaim"]
    assert claim["spec"] == {"accessModes": ["ReadWriteOnce"], "storageClassName": "fast-ssd",
                             "resources": {"requests": {"storage": "50Gi"}}}
    cluster = m.manifests(parse(cluster_text), cluster_text)
    assert kinds(cluster) == ["Namespace", "ConfigMap", "ServiceAccount", "Role", "RoleBinding"]
    assert "Secret" not in yaml.safe_dump_all(cluster)


def test_the_hub_account_may_run_jobs_and_dask_clusters_and_nothing_more(cluster_text):
    objects = {o["kind"]: o for o in m.manifests(parse(cluster_text), cluster_text)}
    grants = {(group, resource): set(rule["verbs"])
              for rule in objects["Role"]["rules"]
              for group in rule["apiGroups"] for resource in rule["resources"]}
    assert grants == {
        ("batch", "jobs"): {"create", "get", "list", "watch", "delete"},
        ("batch", "jobs/status"): {"get"},
        ("", "pods"): {"get", "list", "watch"},
        ("", "pods/log"): {"get"},
        ("", "secrets"): {"create", "delete"},  # never read back
        ("kubernetes.dask.org", "daskclusters"): {"create", "get", "list", "delete"},
        ("kubernetes.dask.org", "daskworkergroups"): {"create", "delete"},
    }
    binding = objects["RoleBinding"]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                  "name": objects["Role"]["metadata"]["name"]}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "assay-hub",
                                    "namespace": "research"}]
    assert objects["ServiceAccount"]["metadata"]["name"] == "assay-hub"


def test_notebook_pods_get_no_kubernetes_api_rights(cluster_text) -> None:
    """Only the Assay service's account is bound; the single-user pods keep the chart's
    defaults (no Role of Assay's), so a notebook cannot read Secrets or make pods."""
    from assay.deploy.values import values

    objects = m.manifests(parse(cluster_text), cluster_text)
    bindings = [o for o in objects if o["kind"] in ("RoleBinding", "ClusterRoleBinding")]
    assert [s for b in bindings for s in b["subjects"]] == [
        {"kind": "ServiceAccount", "name": "assay-hub", "namespace": "research"}]
    assert not [o for o in objects if o["kind"] == "ClusterRole"]
    singleuser = values(parse(cluster_text), DeployOptions(
        hub_image="registry.example.org/assay-hub:0.1.0"))["singleuser"]
    assert "serviceAccountName" not in singleuser
    assert "assay-hub" not in json.dumps(singleuser)
