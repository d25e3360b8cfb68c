"""zero-to-jupyterhub values from ``assay.yaml``: checked against the chart's values schema,
and every Kubernetes object they carry validated against the Kubernetes schema."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from traitlets.config import Config

from assay.config import parse
from assay.deploy import values as v
from assay.errors import DeployError
from assay.hub import configure
from assay.spawners.objects import profile_list

K8S_VERSION = "1.33.0"  # as tests/spawners
SCHEMA = Path(__file__).parent / "data" / "z2jh-values.schema.yaml"
GPU = "nvidia.com/gpu"


def _strip_required(node: dict[str, Any]) -> dict[str, Any]:
    """The schema without ``required`` along nested ``properties``: Helm checks the values
    merged with the chart's defaults, which fill those; a partial file is checked here.
    ``oneOf``/``if`` branches keep theirs (they choose between alternatives)."""
    node = {k: val for k, val in node.items() if k != "required"}
    for key in ("properties", "patternProperties"):
        if isinstance(node.get(key), dict):
            node[key] = {name: _strip_required(sub) if isinstance(sub, dict) else sub
                         for name, sub in node[key].items()}
    return node


@pytest.fixture(scope="module")
def chart_schema() -> jsonschema.Draft7Validator:
    schema = yaml.safe_load(SCHEMA.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(_strip_required(schema))


def check_against_chart(values: dict, validator: jsonschema.Draft7Validator) -> None:
    errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
              for e in validator.iter_errors(json.loads(json.dumps(values)))]
    assert not errors, "\n".join(errors)


def k8s_valid(obj: dict) -> dict:
    kubernetes_validate.validate(json.loads(json.dumps(obj)), K8S_VERSION, strict=True)
    return obj


def env_list(extra_env: dict[str, Any]) -> list[dict]:
    """The chart's dict notation of ``extraEnv`` as a container's ``env``."""
    return [{"name": k, **val} if isinstance(val, dict) else {"name": k, "value": val}
            for k, val in extra_env.items()]


def test_the_vendored_schema_rejects_what_the_chart_rejects(chart_schema) -> None:
    assert not chart_schema.is_valid({"hub": {"imagee": {}}})
    assert not chart_schema.is_valid({"singleuser": {"image": {"name": "x", "tag": 1}}})
    assert chart_schema.is_valid({"hub": {"image": {"name": "x", "tag": "1"}}})


def test_demo_values_fit_the_chart_schema(demo_yaml_text, chart_schema) -> None:
    check_against_chart(v.values(parse(demo_yaml_text)), chart_schema)


def test_cluster_values_fit_the_chart_schema(cluster_config, chart_schema) -> None:
    options = v.DeployOptions(hub_image="registry.example.org/assay-hub:0.1.0@sha256:" + "a" * 64)
    values = v.values(cluster_config, options)
    check_against_chart(values, chart_schema)
    assert values["hub"]["image"] == {"name": "registry.example.org/assay-hub",
                                      "tag": "0.1.0@sha256:" + "a" * 64}
    assert values["singleuser"]["image"] == {"name": "registry.example.org/assay-singleuser",
                                             "tag": "0.1.0"}


def test_hub_container_parts_are_valid_kubernetes(cluster_config) -> None:
    hub = v.values(cluster_config)["hub"]
    k8s_valid({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "hub"}, "spec": {
        "containers": [{"name": "hub", "image": "x:1", "env": env_list(hub["extraEnv"]),
                        "volumeMounts": hub["extraVolumeMounts"]}],
        "volumes": hub["extraVolumes"]}})
    k8s_valid({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "hub"}, "spec": {
        "selector": {"component": "hub"},
        "ports": [{"name": "hub", "port": 8081, "targetPort": "http"},
                  *hub["service"]["extraPorts"]]}})


def test_network_policy_rules_are_valid_kubernetes(cluster_config) -> None:
    values = v.values(cluster_config)
    for component, direction, rules in (
            ("hub", "Ingress", values["hub"]["networkPolicy"]["ingress"]),
            ("singleuser-server", "Egress", values["singleuser"]["networkPolicy"]["egress"])):
        k8s_valid({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                   "metadata": {"name": component}, "spec": {
                       "podSelector": {"matchLabels": {"component": component}},
                       "policyTypes": [direction], direction.lower(): rules}})
    (ingress,) = values["hub"]["networkPolicy"]["ingress"]
    assert ingress["ports"] == [{"protocol": "TCP", "port": v.BROKER_PORT}]
    assert len(ingress["from"]) == 3  # chart pods, Assay's job pods, Dask pods
    to_broker, to_dask = values["singleuser"]["networkPolicy"]["egress"]
    assert to_broker["ports"] == ingress["ports"]
    assert to_broker["to"] == [{"podSelector": {"matchLabels": {"component": "hub"}}}]
    assert "ports" not in to_dask and to_dask["to"] == [v.DASK_PODS]


def test_the_profile_list_is_the_spawners_with_gpu_settings_from_the_yaml(cluster_config):
    listed = v.values(cluster_config)["singleuser"]["profileList"]
    assert listed == profile_list(list(cluster_config.profiles), cluster_config.kubernetes)
    entries = {e["slug"]: e["kubespawner_override"] for e in listed}
    assert list(entries) == ["cpu-small", "cpu-large", "gpu-2x", "dask", "secure-cpu"]
    gpu = entries["gpu-2x"]
    assert gpu["extra_resource_limits"] == {GPU: "2"}
    assert gpu["node_selector"] == {"pool": "a100"}
    assert gpu["tolerations"] == [{"key": "gpu", "operator": "Equal", "value": "a100",
                                   "effect": "NoSchedule"}]
    assert gpu["image"] == "registry.example.org/assay-singleuser-gpu:0.1.0"
    assert gpu["environment"]["ASSAY_GPUS"] == "2"
    assert entries["cpu-small"]["environment"]["ASSAY_GPUS"] == "0"
    assert "tolerations" not in entries["cpu-small"]
    assert entries["cpu-small"]["image"] == "registry.example.org/assay-singleuser:0.1.0"


def test_the_assay_service_is_registered_with_command_url_role_and_port(cluster_config):
    hub = v.values(cluster_config)["hub"]
    service = hub["services"]["assay"]
    assert service["url"] == f"http://hub:{v.BROKER_PORT}"
    assert service["command"] == ["python3", "-m", "assay.broker"]
    assert service["environment"] == {"ASSAY_CONFIG": v.CONFIG_FILE,
                                      "ASSAY_BROKER_LISTEN_IP": "0.0.0.0"}
    assert "api_token" not in service and "apiToken" not in service  # the chart makes it
    assert hub["loadRoles"]["assay-broker"] == {"services": ["assay"],
                                                "scopes": v.BROKER_SCOPES}
    assert hub["extraConfig"] == {"assay.py": v.EXTRA_CONFIG}
    assert hub["serviceAccount"] == {"create": False, "name": v.HUB_SERVICE_ACCOUNT}


def test_the_service_gets_the_same_grants_as_in_local_mode(demo_yaml_text, tmp_path) -> None:
    path = tmp_path / "assay.yaml"
    path.write_text(demo_yaml_text.replace("state_dir: var", f"state_dir: {tmp_path}"))
    c = Config()
    configure(c, path, environ={})
    (local_role,) = [r for r in c.JupyterHub.load_roles if r["name"] == "assay-broker"]
    assert local_role["scopes"] == v.BROKER_SCOPES
    assert c.JupyterHub.extra_user_scopes == [v.ACCESS_SCOPE]


def test_credentials_come_from_secrets_by_reference_only(cluster_config, monkeypatch):
    monkeypatch.setenv("ASSAY_OAUTH_CLIENT_SECRET", "s3cr3t-client-value")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t-aws-value")
    values = v.values(cluster_config)
    env = values["hub"]["extraEnv"]
    assert env["ASSAY_OAUTH_CLIENT_SECRET"] == {"valueFrom": {"secretKeyRef": {
        "name": "assay-oauth", "key": "client-secret"}}}
    assert env["AWS_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"]["name"] == "assay-s3"
    assert env["AWS_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"] == {
        "name": "assay-s3", "key": "AWS_SECRET_ACCESS_KEY"}
    assert env["ASSAY_SECRET_KEY"]["valueFrom"]["secretKeyRef"]["optional"] is True
    assert "s3cr3t" not in json.dumps(values)
    assert [s.name for s in v.secrets_needed(cluster_config)] == [
        "assay-oauth", "assay-s3", "assay-jobs-key"]


def test_local_folders_get_a_volume_s3_gets_none(demo_yaml_text, cluster_config) -> None:
    volumes, mounts = v.hub_volumes(parse(demo_yaml_text))
    assert {m["mountPath"]: m.get("subPath") for m in mounts} == {
        "/etc/assay": None, "/srv/jupyterhub/var/data": "data",
        "/srv/jupyterhub/var/objects": "objects"}
    assert volumes[1] == {"name": "assay-storage",
                          "persistentVolumeClaim": {"claimName": "assay-storage"}}
    volumes, mounts = v.hub_volumes(cluster_config)
    assert [m["mountPath"] for m in mounts] == ["/etc/assay"]
    assert "AWS_ACCESS_KEY_ID" not in v.values(parse(demo_yaml_text))["hub"]["extraEnv"]


@pytest.mark.parametrize("ref", ["assay-singleuser", "assay-singleuser:latest",
                                 "registry:5000/assay-singleuser", ":1.0"])
def test_an_unpinned_image_is_refused_naming_field_and_value(cluster_data, ref) -> None:
    data = copy.deepcopy(cluster_data)
    data["kubernetes"]["image"] = ref
    data["profiles"][2]["image"] = "gpu-image"
    with pytest.raises(DeployError) as caught:
        v.values(parse(yaml.safe_dump(data)))
    problems = caught.value.problems
    assert problems[0].startswith(f"kubernetes.image: {ref!r} is not a pinned image")
    assert "not 'latest'" in problems[0]
    assert problems[1].startswith("profiles[2].image (gpu-2x): 'gpu-image'")


def test_a_registry_port_is_not_a_tag() -> None:
    assert v.image_spec("registry:5000/team/assay:0.1.0", "f") == {
        "name": "registry:5000/team/assay", "tag": "0.1.0"}
