"""Kubernetes mode without a cluster: the per-run Secret and Job validate against the
Kubernetes 1.33 schema (strict) and no credential is inline; the executor constructs,
parses refs and reads results from the output store without calling Kubernetes."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import kubernetes_validate
import pytest

from assay.config.schema import Kubernetes
from assay.errors import ExecutorError
from assay.jobs.executors import KubernetesExecutor, LocalExecutor
from assay.jobs.executors.objects import job_manifest, run_name, secret_manifest
from assay.objects import open_objects
from jobrun import make_spec, profile, wait, write_notebook

K8S_VERSION = "1.33.0"
GPU = "nvidia.com/gpu"
TOKEN = "tok-0123456789abcdef"
SECRET = "warehouse-pass-98765"


def spec_for(tmp_path: Path, gpus: int = 0, timeout_s: int | None = 600):
    notebook = write_notebook(tmp_path / "in.ipynb", ["print(1)"], "t = ''")
    return make_spec(tmp_path, notebook, "k", timeout_s=timeout_s, profile=profile(gpus),
                     parameters={"t": {"__secret__": "wh"}}, secrets={"wh": SECRET},
                     env={"ASSAY_SESSION_TOKEN": TOKEN, "ASSAY_BROKER_URL": "http://svc/",
                          "ASSAY_RUN_ID": "k-1"})


@pytest.fixture
def executor(tmp_path: Path) -> KubernetesExecutor:
    store = open_objects("file://objects", base=tmp_path)
    return KubernetesExecutor(Kubernetes(), store, "s3://outputs/assay",
                              s3_endpoint_url="http://minio:9000")


def env_of(job: dict) -> dict[str, dict]:
    (container,) = job["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e for e in container["env"]}


@pytest.mark.parametrize("gpus", [0, 1])
def test_manifests_validate_and_carry_no_inline_credential(
        tmp_path: Path, executor: KubernetesExecutor, gpus: int) -> None:
    secret, job = executor.manifests(spec_for(tmp_path, gpus))
    kubernetes_validate.validate(job, K8S_VERSION, strict=True)
    kubernetes_validate.validate(secret, K8S_VERSION, strict=True)
    text = json.dumps(job)
    assert TOKEN not in text and SECRET not in text
    env = env_of(job)
    for name in ("ASSAY_SESSION_TOKEN", "ASSAY_SECRET_WH"):
        assert "value" not in env[name]
        assert env[name]["valueFrom"]["secretKeyRef"] == {"name": secret["metadata"]["name"],
                                                          "key": name}
    assert env["ASSAY_BROKER_URL"]["value"] == "http://svc/"
    assert env["ASSAY_OUTPUT_URL"]["value"] == "s3://outputs/assay/runs/k-1"
    assert env["ASSAY_S3_ENDPOINT_URL"]["value"] == "http://minio:9000"
    data = secret["stringData"]
    assert data["ASSAY_SESSION_TOKEN"] == TOKEN and data["ASSAY_SECRET_WH"] == SECRET
    assert SECRET not in data["spec.json"] and TOKEN not in data["spec.json"]
    assert json.loads(data["spec.json"])["notebook"] == "notebook.ipynb"
    assert json.loads(data["notebook.ipynb"])["cells"]


@pytest.mark.parametrize("gpus", [0, 1])
def test_the_job_runs_the_runner_once_sized_by_the_profile(tmp_path: Path, gpus: int) -> None:
    spec = spec_for(tmp_path, gpus)
    kube = Kubernetes()
    job = job_manifest(spec, "assay-run-k-1", "assay", kube, "assay-run-k-1")
    assert job["apiVersion"] == "batch/v1" and job["kind"] == "Job"
    assert job["metadata"]["labels"]["assay/job"] == "7"
    assert job["metadata"]["labels"]["assay/run"] == "k-1"
    assert job["metadata"]["labels"]["assay/owner"] == "alice"
    body = job["spec"]
    assert body["backoffLimit"] == 0 and body["activeDeadlineSeconds"] == 600
    assert body["ttlSecondsAfterFinished"] > 0
    pod = body["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    (container,) = pod["containers"]
    assert container["command"] == ["python", "-m", "assay.jobs.runner", "/work"]
    assert container["image"] == kube.image
    resources = container["resources"]
    assert resources["requests"] == {"cpu": "0.5", "memory": str(1024**3)}
    assert resources["limits"]["cpu"] == "2" and resources["limits"]["memory"] == str(2 * 1024**3)
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/work/spec.json"]["subPath"] == "spec.json"
    assert mounts["/work/notebook.ipynb"]["readOnly"] is True
    if gpus:
        assert resources["limits"][GPU] == "1"
        assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
        assert {"key": GPU, "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    else:
        assert GPU not in json.dumps(job)
        assert "nodeSelector" not in pod and "tolerations" not in pod


def test_image_choice_and_no_deadline_without_timeout(tmp_path: Path) -> None:
    spec = spec_for(tmp_path, timeout_s=None)
    job = job_manifest(spec, "n", "ns", Kubernetes(), "n")
    assert "activeDeadlineSeconds" not in job["spec"]
    custom = job_manifest(make_spec(tmp_path, spec.notebook, image="lab:2"), "n", "ns",
                          Kubernetes(), "n")
    assert custom["spec"]["template"]["spec"]["containers"][0]["image"] == "lab:2"


def test_names_and_labels_are_valid_for_odd_ids(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, tmp_path / "x.ipynb", run_id="Run_42/" + "x" * 80,
                     owner="a.very-long.name" * 5)
    name = run_name(spec.run_id)
    assert len(name) <= 63 and name.startswith("assay-run-run-42")
    spec = make_spec(tmp_path, write_notebook(tmp_path / "x.ipynb", ["1"]),
                     run_id=spec.run_id, owner=spec.owner)
    job = job_manifest(spec, name, "assay", Kubernetes(), name)
    kubernetes_validate.validate(job, K8S_VERSION, strict=True)


def test_a_notebook_too_large_for_a_secret_is_refused(tmp_path: Path) -> None:
    spec = spec_for(tmp_path)
    with pytest.raises(ExecutorError, match="too large"):
        secret_manifest(spec, "n", "ns", spec_json="{}", notebook="x" * (1024 * 1024))


def test_construction_touches_no_cluster_and_refs_parse(executor: KubernetesExecutor) -> None:
    threads = threading.active_count()
    fresh = KubernetesExecutor(Kubernetes(), executor.objects, "s3://b/p")
    assert threading.active_count() == threads and fresh._loop is None
    assert fresh.parse("assay/assay-run-1/1") == ("assay", "assay-run-1", "1")
    for bad in ("", "a/b", "a//c", None):
        with pytest.raises(ExecutorError, match="Unknown run reference"):
            fresh.parse(bad)


def test_results_and_progress_come_from_the_output_store(executor: KubernetesExecutor) -> None:
    ref = "assay/assay-run-5/5"
    assert executor.progress(ref) == (0, 0)
    executor.objects.put("runs/5/progress.json", b'{"done": 2, "total": 4}')
    assert executor.progress(ref) == (2, 4)
    result = {"status": "failed", "error": "Cell 2 raised KeyError: 'x'", "cells_done": 2,
              "cells_total": 4, "duration_s": 3.5, "metrics": [{"name": "auc", "value": 1.0}],
              "outputs": {"notebook": "output.ipynb", "log": "run.log"}}
    executor.objects.put("runs/5/result.json", json.dumps(result).encode())
    found = executor.poll(ref)  # no Kubernetes call: the result is stored
    assert found.status == "failed" and found.cells_done == 2
    assert found.outputs == {"notebook": Path("runs/5/output.ipynb"),
                             "log": Path("runs/5/run.log")}
    executor.cancel(ref)  # finished: nothing to delete
    assert executor._loop is None
    assert executor.find("5", "") == ref  # a lost ref is found again from the store


def test_the_runner_uploads_what_the_executor_reads(tmp_path: Path) -> None:
    """The pod's side of the contract, run locally: with ASSAY_OUTPUT_URL the runner
    copies its files to the store, where KubernetesExecutor.poll finds the result."""
    store_url = f"file://{tmp_path}/store"
    notebook = write_notebook(tmp_path / "in.ipynb", ["print(t)", "import assay.jobs\n"
                                                      "assay.jobs.record('n', 4)"], "t = ''")
    spec = make_spec(tmp_path, notebook, "up", parameters={"t": {"__secret__": "wh"}},
                     secrets={"wh": SECRET},
                     env={"ASSAY_OUTPUT_URL": f"{store_url}/runs/up-1"})
    local = LocalExecutor(html=False)
    assert wait(local, local.start(spec)).status == "succeeded"
    store = open_objects(store_url, base=tmp_path)
    assert store.list("runs/up-1/") == ["runs/up-1/output.ipynb", "runs/up-1/progress.json",
                                        "runs/up-1/result.json", "runs/up-1/run.log"]
    assert SECRET.encode() not in store.get("runs/up-1/output.ipynb")
    kube = KubernetesExecutor(Kubernetes(), store, store_url)
    result = kube.poll("assay/assay-run-up-1/up-1")
    assert result.status == "succeeded" and result.metrics[0]["value"] == 4.0
    assert result.outputs["notebook"] == Path("runs/up-1/output.ipynb")
    assert kube.progress("assay/assay-run-up-1/up-1") == (4, 4)  # + injected cell
