"""Kubernetes-mode Dask clusters created by the Assay service for the user: what a user
and an admin would notice, through the real service process and a loopback stand-in of
the Kubernetes API that validates every object it is sent (see conftest.py)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from kubeapi import CPU_IMAGE, GPU_IMAGE, NAMESPACE, PODS_BROKER, KubeService

from assay.config.schema import memory_bytes

GIB = 1024**3


def create(service: KubeService, user: str, **overrides) -> dict:
    r = service.call("POST", "dask/clusters", service.tokens[user], json=overrides,
                     headers={"X-Assay-Kernel": f"kernel-of-{user}"})
    assert r.status_code == 201, r.text
    return r.json()


def env_of(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container["env"]}


def test_a_cluster_sized_by_the_profile_owned_by_the_callers_pod(service: KubeService) -> None:
    body = create(service, "alice")
    name = body["name"]

    assert body["scheduler_address"] == \
        f"tcp://{name}-scheduler.{NAMESPACE}.svc.cluster.local:8786"
    assert body["dashboard_link"] == (
        f"{service.hub.base_url}user/alice/proxy/{name}-scheduler.{NAMESPACE}"
        ".svc.cluster.local:8787/status")
    assert (body["profile"], body["n_workers"], body["threads_per_worker"],
            body["memory_limit"], body["idle_timeout"], body["gpu_workers"]) == \
        ("dask", 2, 2, memory_bytes("8G"), 1800, 0)
    pod = service.pods["alice"]["metadata"]
    owner = {"apiVersion": "v1", "kind": "Pod", "name": "jupyter-alice", "uid": pod["uid"],
             "blockOwnerDeletion": False, "controller": False}

    cluster = service.api.get("daskclusters", NAMESPACE, name)
    secret = service.api.get("secrets", NAMESPACE, f"{name}-session")
    assert cluster is not None and secret is not None  # both passed the validation
    for made in (cluster, secret):
        assert made["metadata"]["ownerReferences"] == [owner]
        assert made["metadata"]["annotations"]["assay/user"] == "alice"
    worker = cluster["spec"]["worker"]
    (container,) = worker["spec"]["containers"]
    assert worker["replicas"] == 2 and container["image"] == CPU_IMAGE
    assert container["resources"]["limits"] == {"cpu": "2", "memory": str(memory_bytes("8G"))}
    env = env_of(container)
    assert env["ASSAY_BROKER_URL"]["value"] == PODS_BROKER + "/" + service.url.split("/", 3)[3]
    assert env["ASSAY_KERNEL_ID"]["value"] == "kernel-of-alice"
    assert env["ASSAY_SESSION_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == f"{name}-session"
    assert secret["stringData"] == {"ASSAY_SESSION_TOKEN": service.tokens["alice"]}
    assert service.tokens["alice"] not in json.dumps(cluster)
    assert service.tokens["alice"] not in service.log.read_text()

    record = service.audit(dataset=f"dask:{name}")[-1]
    assert (record["action"], record["decision"], record["user"], record["profile"]) == \
        ("dask.create", "allow", "alice", "dask")
    assert "owner pod jupyter-alice" in record["reason"]


def test_overrides_within_the_profile_are_applied(service: KubeService) -> None:
    body = create(service, "alice", n_workers=1, threads_per_worker=1, memory_limit="2G",
                  idle_timeout="10m")
    assert (body["n_workers"], body["threads_per_worker"], body["memory_limit"],
            body["idle_timeout"]) == (1, 1, 2 * GIB, 600)


@pytest.mark.parametrize(("overrides", "field", "value", "named"), [
    ({"n_workers": 3}, "n_workers", "3", ["at most 2 (dask_workers)", "Choose 1 to 2"]),
    ({"threads_per_worker": 3}, "threads_per_worker", "3", ["at most 2 per worker"]),
    ({"memory_limit": "9G"}, "memory_limit", "'9G'", ["8.00 GiB per worker (memory.limit)"]),
    ({"idle_timeout": 0}, "idle_timeout", "0", ["from 1 s to 24 h"]),
    ({"image": "evil/miner:1"}, "image", "'evil/miner:1'", ["no option 'image'"]),
])
def test_overrides_beyond_the_profile_are_refused_naming_field_value_and_limit(
        service: KubeService, overrides: dict, field: str, value: str,
        named: list[str]) -> None:
    r = service.call("POST", "dask/clusters", service.tokens["alice"], json=overrides)

    assert r.status_code == 400, r.text
    body = r.json()
    assert (body["error"], body["field"], body["value"]) == ("dask_refused", field, value)
    for text in named:
        assert text in body["message"]
    assert service.api.objects("daskclusters") == []  # nothing was created
    denial = service.audit(user="alice", decision="deny")[-1]
    assert denial["action"] == "dask.create" and field in denial["reason"]


def test_a_profile_without_dask_workers_is_refused_listing_the_dask_profiles(
        service: KubeService) -> None:
    r = service.call("POST", "dask/clusters", service.tokens["bob"])

    assert r.status_code == 403, r.text
    body = r.json()
    assert body["error"] == "dask_forbidden" and body["field"] == "profile"
    assert body["dask_profiles"] == ["dask", "gpu-dask"]  # those bob may use
    assert "Profile 'cpu-small' has no Dask workers" in body["message"]
    assert "dask, gpu-dask" in body["message"]
    assert service.api.objects("daskclusters") == []
    assert service.audit(user="bob", decision="deny")[-1]["action"] == "dask.create"


def test_one_cluster_per_server_session(service: KubeService) -> None:
    first = create(service, "alice")
    r = service.call("POST", "dask/clusters", service.tokens["alice"], json={"n_workers": 1})

    assert r.status_code == 409, r.text
    assert r.json()["cluster"] == first["name"] and first["name"] in r.json()["message"]
    assert len(service.api.objects("daskclusters")) == 1


def test_racing_creates_of_one_session_make_one_cluster(service: KubeService) -> None:
    def post(_: int) -> int:
        return service.call("POST", "dask/clusters", service.tokens["alice"]).status_code

    with ThreadPoolExecutor(4) as pool:
        codes = sorted(pool.map(post, range(4)))

    assert codes == [201, 409, 409, 409]
    [cluster] = service.api.objects("daskclusters")
    [secret] = service.api.objects("secrets")
    assert secret["metadata"]["name"] == cluster["metadata"]["name"] + "-session"


def test_another_user_can_neither_list_nor_delete_it(service: KubeService) -> None:
    name = create(service, "alice")["name"]
    bob = service.tokens["bob"]
    mark = service.mark()

    assert service.call("GET", "dask/clusters", bob).json() == {"clusters": []}
    r = service.call("DELETE", f"dask/clusters/{name}", bob)
    assert r.status_code == 404, r.text
    assert r.json()["error"] == "dask_cluster_not_found"
    assert service.api.get("daskclusters", NAMESPACE, name) is not None  # still there
    [denial] = service.audit(dataset=f"dask:{name}", decision="deny", user="bob", after=mark)
    assert denial["action"] == "dask.delete"
    # alice sees hers, with her kernel's credential or a hub token of hers
    for token in (service.tokens["alice"], service.hub.user_token("alice")):
        listed = service.call("GET", "dask/clusters", token).json()["clusters"]
        assert [c["name"] for c in listed] == [name]


def test_a_forged_credential_is_refused_and_audited(service: KubeService) -> None:
    forged = "assay-s-" + "A" * 43
    before = len(service.audit(dataset="dask:", decision="deny"))
    for method, path in (("POST", "dask/clusters"), ("GET", "dask/clusters"),
                         ("DELETE", "dask/clusters/dask-alice-00000000")):
        r = service.call(method, path, forged)
        assert r.status_code == 401, r.text
    denials = service.audit(dataset="dask:", decision="deny")[before:]
    denials += service.audit(dataset="dask:dask-alice-00000000", decision="deny")
    assert {(d["action"], d["user"], d["reason"]) for d in denials} >= {
        ("dask.create", "-", "unauthenticated"), ("dask.list", "-", "unauthenticated"),
        ("dask.delete", "-", "unauthenticated")}
    assert service.api.objects("daskclusters") == []


def test_a_hub_token_cannot_create_a_cluster(service: KubeService) -> None:
    token = service.hub.user_token("alice")
    r = service.call("POST", "dask/clusters", token)

    assert r.status_code == 403, r.text
    assert r.json()["field"] == "credential" and "notebook" in r.json()["message"]


def test_delete_removes_the_objects_and_is_audited(service: KubeService) -> None:
    name = create(service, "alice")["name"]
    service.api.set_phase(NAMESPACE, name, "Running")  # as the operator would
    listed = service.call("GET", "dask/clusters", service.tokens["alice"]).json()["clusters"]
    assert [(c["name"], c["status"]) for c in listed] == [(name, "Running")]

    r = service.call("DELETE", f"dask/clusters/{name}", service.tokens["alice"])

    assert r.status_code == 200, r.text
    assert service.api.objects("daskclusters") == [] and service.api.objects("secrets") == []
    actions = [(a["action"], a["decision"]) for a in service.audit(dataset=f"dask:{name}")]
    assert actions[-2:] == [("dask.create", "allow"), ("dask.delete", "allow")]
    again = service.call("DELETE", f"dask/clusters/{name}", service.tokens["alice"])
    assert again.status_code == 404
    assert create(service, "alice")["name"] == name  # the session may start a new one


def test_a_gpu_profile_gets_a_gpu_worker_group_on_its_image(service: KubeService) -> None:
    body = create(service, "admin")
    name = body["name"]

    assert body["gpu_workers"] == 1 and body["profile"] == "gpu-dask"
    cluster = service.api.get("daskclusters", NAMESPACE, name)
    group = service.api.get("daskworkergroups", NAMESPACE, f"{name}-gpu")
    assert group is not None  # validated against the CRD by the stand-in
    assert group["spec"]["cluster"] == name
    (container,) = group["spec"]["worker"]["spec"]["containers"]
    assert container["image"] == GPU_IMAGE  # the image the admin's pod runs
    assert cluster["spec"]["worker"]["spec"]["containers"][0]["image"] == GPU_IMAGE
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert group["spec"]["worker"]["spec"]["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert group["metadata"]["ownerReferences"][0]["uid"] == \
        service.pods["admin"]["metadata"]["uid"]

    r = service.call("DELETE", f"dask/clusters/{name}", service.tokens["admin"])
    assert r.status_code == 200, r.text
    assert service.api.objects("daskworkergroups") == []


def test_the_api_is_in_the_openapi_document(service: KubeService) -> None:
    paths = service.call("GET", "openapi.json", service.tokens["bob"]).json()["paths"]
    assert set(paths["/dask/clusters"]) == {"post", "get"}
    assert set(paths["/dask/clusters/{name}"]) == {"delete"}


def test_after_the_operator_deleted_an_idle_cluster_the_session_may_start_another(
        service: KubeService) -> None:
    name = create(service, "alice")["name"]
    with service.api.lock:  # idleTimeout: the operator deletes the DaskCluster, the
        del service.api.store[("daskclusters", NAMESPACE, name)]  # Secret stays (pod-owned)

    again = create(service, "alice", n_workers=1)

    assert again["name"] == name and again["n_workers"] == 1
    secret = service.api.get("secrets", NAMESPACE, f"{name}-session")
    assert secret["stringData"] == {"ASSAY_SESSION_TOKEN": service.tokens["alice"]}


def test_the_credential_of_a_stopped_server_is_refused_and_audited(
        service: KubeService) -> None:
    """Last: stops bob's server."""
    service.hub.stop_server("bob")
    r = service.call("POST", "dask/clusters", service.tokens["bob"])

    assert r.status_code == 401, r.text
    last = service.audit(dataset="dask:", decision="deny")[-1]
    assert (last["action"], last["reason"]) == ("dask.create", "unauthenticated")


def test_an_admin_lists_and_deletes_anyones_cluster(service: KubeService) -> None:
    """A runaway cluster of alice's: the admin sees it among everyone's and removes it; the
    deletion is audited as the admin's, naming whose cluster it was."""
    name = create(service, "alice")["name"]
    admin = service.hub.user_token("admin")
    mark = service.mark()

    listed = service.call("GET", "dask/clusters", admin).json()["clusters"]
    assert [(c["name"], c["user"]) for c in listed] == [(name, "alice")]
    r = service.call("DELETE", f"dask/clusters/{name}", admin)

    assert r.status_code == 200, r.text
    assert service.api.get("daskclusters", NAMESPACE, name) is None
    [deleted] = [a for a in service.audit(dataset=f"dask:{name}", user="admin", after=mark)
                 if a["action"] == "dask.delete"]
    assert deleted["decision"] == "allow"
    assert "alice's cluster" in deleted["reason"]
