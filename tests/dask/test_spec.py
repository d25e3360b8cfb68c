"""``assay.dask`` builders, pure: sizing from the profile, refusals that name the limit,
and the Kubernetes resources validated against the CRDs dask-kubernetes ships and the
Kubernetes schema."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import dask_kubernetes
import jsonschema
import kubernetes_validate
import pytest
import yaml
from dask_kubernetes.operator.validation import validate_cluster_name
from kubeapi import closed

from assay.config import parse
from assay.config.schema import Profile, memory_bytes
from assay.dask.kube import PodIdentity, cluster_name, gpu_scheduling, kube_resources
from assay.dask.spec import (
    DEFAULT_IDLE_TIMEOUT,
    OPTIONS,
    DaskProfile,
    dashboard_link_template,
    local_cluster_kwargs,
    size,
)
from assay.errors import DaskLimitExceeded, DaskUnavailable
from assay.spawners import objects

K8S_VERSION = "1.33.0"
CRDS = (Path(dask_kubernetes.__file__).parent / "operator" / "deployment" / "helm"
        / "dask-kubernetes-operator" / "crds")
DEMO = parse((Path(__file__).resolve().parents[2] / "hub_config" / "assay.yaml").read_text())
IMAGE = "registry.example.org/assay-singleuser:0.1.0"
GIB = 1024**3
POD = PodIdentity("jupyter-alice", "6f1c2a9e-0000-4000-8000-000000000001", "assay")
TOKEN = "assay-s-not-a-real-session-token"


def demo(slug: str, mode: str = "local") -> DaskProfile:
    return DaskProfile.from_profile(DEMO.profile(slug), mode=mode, image=IMAGE)


def gpu_dask(mode: str = "kubernetes") -> DaskProfile:
    """A GPU profile with Dask workers (the demo's gpu-2x has none)."""
    data = DEMO.profile("gpu-2x").model_dump() | {"slug": "gpu-dask", "dask_workers": 2}
    return DaskProfile.from_profile(Profile.model_validate(data), mode=mode, image=IMAGE)


def crd(name: str) -> dict[str, Any]:
    return yaml.safe_load((CRDS / f"{name}.yaml").read_text())


def validate_custom(resource: dict[str, Any], name: str) -> None:
    """Against the CRD's served version (apiVersion, kind, openAPIV3Schema) and ObjectMeta."""
    definition = crd(name)
    [version] = [v for v in definition["spec"]["versions"] if v["served"]]
    assert resource["apiVersion"] == f"{definition['spec']['group']}/{version['name']}"
    assert resource["kind"] == definition["spec"]["names"]["kind"]
    body = {k: v for k, v in resource.items() if k not in ("apiVersion", "kind", "metadata")}
    jsonschema.validate(body, closed(version["schema"]["openAPIV3Schema"]))
    # ObjectMeta (name, labels, ownerReferences) as Kubernetes checks it for any object
    kubernetes_validate.validate({"apiVersion": "v1", "kind": "ConfigMap",
                                  "metadata": resource["metadata"]}, K8S_VERSION, strict=True)


def validate_pod_spec(spec: dict[str, Any]) -> None:
    kubernetes_validate.validate({"apiVersion": "v1", "kind": "Pod",
                                  "metadata": {"name": "x"}, "spec": spec},
                                 K8S_VERSION, strict=True)


# -- sizing ------------------------------------------------------------------------------


def test_local_cluster_is_the_profiles_workers_within_its_cpu_and_memory() -> None:
    sizing = size(demo("dask"))

    assert (sizing.n_workers, sizing.threads_per_worker) == (2, 1)  # 2 CPUs, 2 workers
    assert sizing.memory_limit == int(8 * GIB * 0.75) // 2  # the kernel keeps a quarter
    assert sizing.idle_timeout == DEFAULT_IDLE_TIMEOUT
    kwargs = local_cluster_kwargs(sizing, "0f6e2f54-1c6f-4b4e-9b8e-3d9a1b2c3d4e")
    assert kwargs["processes"] is True and kwargs["host"] == "127.0.0.1"
    assert kwargs["dashboard_address"] == "127.0.0.1:0"  # a random loopback port
    assert kwargs["scheduler_kwargs"] == {"idle_timeout": "1800s"}
    assert kwargs["env"] == {"ASSAY_KERNEL_ID": "0f6e2f54-1c6f-4b4e-9b8e-3d9a1b2c3d4e"}


def test_overrides_within_the_bounds_are_applied() -> None:
    one = size(demo("dask"), {"n_workers": 1})
    assert (one.n_workers, one.threads_per_worker, one.memory_limit) == (1, 2, 6 * GIB)
    custom = size(demo("dask"), {"memory_limit": "4G", "idle_timeout": "10m"})
    assert (custom.memory_limit, custom.idle_timeout) == (4 * GIB, 600)
    assert size(demo("dask"), {"memory_limit": "1GiB"}).memory_limit == GIB


def test_the_environment_the_spawner_sets_gives_the_same_profile() -> None:
    profile = DEMO.profile("dask")
    env = {"ASSAY_PROFILE": "dask", "ASSAY_MODE": "local", "ASSAY_ZONE": "standard",
           "ASSAY_DASK_WORKERS": "2", "ASSAY_GPUS": "0", "CPU_LIMIT": "2.0",
           "CPU_GUARANTEE": "1.0", "MEM_LIMIT": str(memory_bytes("8G")),
           "MEM_GUARANTEE": str(memory_bytes("4G")), "JUPYTER_IMAGE_SPEC": IMAGE}

    assert DaskProfile.from_env(env) == DaskProfile.from_profile(profile, image=IMAGE)
    assert DaskProfile.from_env(env | {"ASSAY_DASK_IDLE_TIMEOUT": "5m"}).idle_timeout == 300


@pytest.mark.parametrize(("overrides", "named"), [
    ({"n_workers": 3}, ["n_workers=3", "at most 2 (dask_workers)", "ask an Assay admin"]),
    ({"threads_per_worker": 2}, ["threads_per_worker=2 with n_workers=2 is 4 threads",
                                 "2 in all (cpu.limit: 2)", "threads_per_worker ≤ 1"]),
    ({"memory_limit": "5G"}, ["memory_limit=5.00 GiB per worker × 2 workers is 10.00 GiB",
                              "8.00 GiB in all (memory.limit)", "at most 4.00 GiB per worker"]),
    ({"processes": False}, ["no option 'processes'", "Options: " + ", ".join(OPTIONS)]),
    ({"n_workers": True}, ["n_workers=True", "whole number ≥ 1"]),
    ({"n_workers": "2"}, ["n_workers='2'", "whole number ≥ 1"]),
    ({"memory_limit": "lots"}, ["memory_limit='lots'", "'2G'"]),
    ({"idle_timeout": 0}, ["idle_timeout=0", "from 1 s to 24 h", "cannot be switched off"]),
    ({"idle_timeout": "2 days"}, ["idle_timeout='2 days'", "from 1 s to 24 h"]),
])
def test_overrides_beyond_the_profile_are_refused_naming_the_limit(
    overrides: dict[str, Any], named: list[str],
) -> None:
    with pytest.raises(DaskLimitExceeded) as refused:
        size(demo("dask"), overrides)
    for text in named:
        assert text in str(refused.value)


def test_a_profile_without_dask_workers_says_which_profile_to_use() -> None:
    with pytest.raises(DaskUnavailable, match="'cpu-small' has no Dask workers.*e.g. 'dask'"):
        size(demo("cpu-small"))


@pytest.mark.parametrize(("env", "named"), [
    ({}, "ASSAY_PROFILE is not set"),
    ({"ASSAY_PROFILE": "dask", "CPU_LIMIT": "lots", "MEM_LIMIT": "1", "ASSAY_DASK_WORKERS": "2"},
     "CPU_LIMIT='lots'"),
    ({"ASSAY_PROFILE": "dask", "CPU_LIMIT": "2", "MEM_LIMIT": "1"}, "ASSAY_DASK_WORKERS=''"),
    ({"ASSAY_PROFILE": "dask", "ASSAY_MODE": "yarn"}, "ASSAY_MODE='yarn'"),
])
def test_an_environment_without_a_usable_profile_is_refused(env: dict, named: str) -> None:
    with pytest.raises(DaskUnavailable) as refused:
        DaskProfile.from_env(env)
    assert named in str(refused.value)


def test_kubernetes_workers_are_each_the_size_of_the_profile() -> None:
    profile = demo("dask", "kubernetes")
    sizing = size(profile)
    assert (sizing.n_workers, sizing.threads_per_worker, sizing.memory_limit) == (2, 2, 8 * GIB)
    with pytest.raises(DaskLimitExceeded, match=r"threads_per_worker=3 .* at most 2 per worker"):
        size(profile, {"threads_per_worker": 3})
    with pytest.raises(DaskLimitExceeded, match=r"8.00 GiB per worker \(memory.limit\)"):
        size(profile, {"memory_limit": "9G"})


def test_dashboard_link_goes_through_the_servers_proxy() -> None:
    env = {"JUPYTERHUB_SERVICE_PREFIX": "/@/space%20word/user/alice/"}
    assert dashboard_link_template("local", env) == \
        "{JUPYTERHUB_SERVICE_PREFIX}proxy/{port}/status"
    assert dashboard_link_template("kubernetes", env) == \
        "{JUPYTERHUB_SERVICE_PREFIX}proxy/{host}:{port}/status"
    assert dashboard_link_template("local", {}) is None


# -- Kubernetes resources ------------------------------------------------------------------


def resources(profile: DaskProfile, **kw: Any):
    return kube_resources(profile, size(profile), user="Alice.Smith", token=TOKEN,
                          broker_url="http://assay-broker.assay.svc:8002/services/assay/",
                          pod=POD, kernel_id="0f6e2f54-1c6f-4b4e-9b8e-3d9a1b2c3d4e",
                          name="dask-alice-smith-1a2b3c4d", **kw)


def test_dask_cluster_is_valid_against_the_crd_and_sized_by_the_profile() -> None:
    built = resources(demo("dask", "kubernetes"))
    cluster = built.cluster

    validate_custom(cluster, "daskcluster")
    assert cluster["apiVersion"] == "kubernetes.dask.org/v1" and cluster["kind"] == "DaskCluster"
    assert cluster["spec"]["idleTimeout"] == 1800
    worker = cluster["spec"]["worker"]
    assert worker["replicas"] == 2
    container = worker["spec"]["containers"][0]
    assert container["image"] == IMAGE  # the notebook's own image
    assert cluster["spec"]["scheduler"]["spec"]["containers"][0]["image"] == IMAGE
    assert container["resources"] == {"limits": {"cpu": "2", "memory": str(8 * GIB)},
                                      "requests": {"cpu": "1", "memory": str(4 * GIB)}}
    assert container["args"][container["args"].index("--nthreads") + 1] == "2"
    validate_pod_spec(worker["spec"])
    validate_pod_spec(cluster["spec"]["scheduler"]["spec"])
    assert built.worker_groups == []
    assert "nvidia.com/gpu" not in json.dumps(cluster)


def test_every_resource_is_owned_by_the_notebook_pod() -> None:
    built = resources(gpu_dask())
    owner = {"apiVersion": "v1", "kind": "Pod", "name": POD.name, "uid": POD.uid,
             "blockOwnerDeletion": False, "controller": False}
    for resource in [built.secret, built.cluster, *built.worker_groups]:
        assert resource["metadata"]["ownerReferences"] == [owner]
        assert resource["metadata"]["namespace"] == POD.namespace  # owners are namespaced
        assert resource["metadata"]["labels"]["assay/user"] == "Alice.Smith"


def test_workers_get_the_session_credential_from_a_secret_not_from_the_spec() -> None:
    built = resources(demo("dask", "kubernetes"))

    kubernetes_validate.validate(built.secret, K8S_VERSION, strict=True)
    assert built.secret["stringData"] == {"ASSAY_SESSION_TOKEN": TOKEN}
    assert TOKEN not in json.dumps(built.cluster)
    env = {e["name"]: e for e in built.cluster["spec"]["worker"]["spec"]["containers"][0]["env"]}
    assert env["ASSAY_SESSION_TOKEN"]["valueFrom"]["secretKeyRef"] == {
        "name": built.secret["metadata"]["name"], "key": "ASSAY_SESSION_TOKEN"}
    assert env["ASSAY_BROKER_URL"]["value"].startswith("http://assay-broker.assay.svc")
    assert env["ASSAY_KERNEL_ID"]["value"] == "0f6e2f54-1c6f-4b4e-9b8e-3d9a1b2c3d4e"
    assert env["ASSAY_ZONE"]["value"] == "standard"

    without = kube_resources(demo("dask", "kubernetes"), size(demo("dask", "kubernetes")),
                             user="alice", token="", broker_url="", pod=POD)
    assert without.secret is None
    assert "ASSAY_SESSION_TOKEN" not in json.dumps(without.cluster)


def test_gpu_profiles_get_a_gpu_worker_group_on_the_gpu_nodes() -> None:
    kube = DEMO.kubernetes
    built = resources(gpu_dask(), kube=kube)

    validate_custom(built.cluster, "daskcluster")
    [group] = built.worker_groups
    validate_custom(group, "daskworkergroup")
    assert group["spec"]["cluster"] == built.cluster["metadata"]["name"]
    worker = group["spec"]["worker"]
    assert worker["replicas"] == 2  # the profile's GPUs, one each
    validate_pod_spec(worker["spec"])
    container = worker["spec"]["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert container["args"][-2:] == ["--resources", "GPU=1"]
    assert container["image"] == IMAGE
    assert worker["spec"]["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert worker["spec"]["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]


def test_the_gpu_scheduling_the_spawner_sets_reaches_the_kernel() -> None:
    kube = DEMO.kubernetes.model_copy(update={"gpu_resource": "amd.com/gpu"})
    gpu = objects.overrides(DEMO.profile("gpu-2x"), kube)["environment"]
    cpu = objects.overrides(DEMO.profile("dask"), kube)["environment"]

    assert gpu_scheduling(gpu).gpu_resource == "amd.com/gpu"
    assert gpu_scheduling(gpu).gpu_tolerations == kube.gpu_tolerations
    assert objects.GPU_SCHEDULING_ENV not in cpu
    assert gpu_scheduling(cpu) == type(kube)()  # the defaults
    with pytest.raises(DaskUnavailable, match="ASSAY_GPU_SCHEDULING"):
        gpu_scheduling({objects.GPU_SCHEDULING_ENV: base64.b64encode(b"[]").decode()})


def test_the_notebook_pod_exposes_its_identity_to_the_kernel() -> None:
    env = objects.overrides(DEMO.profile("dask"), DEMO.kubernetes)["environment"]

    assert env["ASSAY_POD_UID"] == {"valueFrom": {"fieldRef": {"fieldPath": "metadata.uid"}}}
    assert env["ASSAY_POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["ASSAY_GPUS"] == "0" and env["ASSAY_DASK_WORKERS"] == "2"
    with pytest.raises(DaskUnavailable, match="ASSAY_POD_UID, ASSAY_POD_NAMESPACE not set"):
        PodIdentity.from_env({"ASSAY_POD_NAME": "jupyter-alice"})


def test_without_the_notebook_image_no_cluster_is_built() -> None:
    profile = DaskProfile.from_profile(DEMO.profile("dask"), mode="kubernetes")
    with pytest.raises(DaskUnavailable, match="JUPYTER_IMAGE_SPEC"):
        kube_resources(profile, size(profile), user="alice", token=TOKEN, broker_url="",
                       pod=POD)


# -- the kernel id a worker reports --------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [
    ("0f6e2f54-1c6f-4b4e-9b8e-3d9a1b2c3d4e", "0f6e2f54-1c6f-4b4e-9b8e-3d9a1b2c3d4e"),
    ("../../etc", "None"), ("", "None")])
def test_a_worker_reports_the_notebook_kernel_it_reads_for(value: str, expected: str) -> None:
    code = "from assay.kernels.broker import kernel_id; print(kernel_id())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"ASSAY_KERNEL_ID": value, "PATH": ""}, check=True)
    assert out.stdout.strip() == expected


def test_the_closed_crd_schema_refuses_a_misspelt_key() -> None:
    cluster = resources(demo("dask", "kubernetes")).cluster
    cluster["spec"]["worker"]["spec"]["containers"][0]["resource"] = {}  # not "resources"
    with pytest.raises(jsonschema.ValidationError, match="'resource' was unexpected"):
        validate_custom(cluster, "daskcluster")


@pytest.mark.parametrize("user", ["alice", "Alice.Smith", "x" * 200, "ünïcode@example.org", "--"])
def test_cluster_names_are_valid_for_the_operator(user: str) -> None:
    validate_cluster_name(cluster_name(user))  # raises if not
