"""``assay deploy render`` run as an admin runs it (the installed console script)."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from assay.deploy.values import CHART_VERSION

ASSAY = Path(sys.executable).parent / "assay"


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSAY_")}
    return subprocess.run([str(ASSAY), *args], capture_output=True, text=True, timeout=120,
                          cwd=cwd, env=env)


def test_renders_the_shipped_demo_config_with_warnings(tmp_path: Path) -> None:
    result = run(tmp_path, "deploy", "render", "--out", "out")
    assert result.returncode == 0, result.stderr
    values = yaml.safe_load((tmp_path / "out" / "values.yaml").read_text())
    objects = list(yaml.safe_load_all((tmp_path / "out" / "manifests.yaml").read_text()))
    assert [p["slug"] for p in values["singleuser"]["profileList"]] == [
        "cpu-small", "cpu-large", "gpu-2x", "dask", "secure-cpu"]
    assert [o["kind"] for o in objects] == ["Namespace", "ConfigMap", "PersistentVolumeClaim",
                                            "ServiceAccount", "Role", "RoleBinding"]
    assert "warning: mode: 'local'" in result.stderr
    assert "warning: auth.type: 'demo'" in result.stderr
    assert f"--version {CHART_VERSION} --namespace assay --values out/values.yaml" in (
        result.stdout)
    assert "kubectl -n assay create secret generic assay-jobs-key --from-literal=key=..." in (
        result.stdout)


def test_strict_refuses_a_config_that_will_not_work_on_a_cluster(tmp_path: Path) -> None:
    result = run(tmp_path, "deploy", "render", "--out", "out", "--strict")
    assert result.returncode == 1
    assert (tmp_path / "out" / "values.yaml").exists()


def test_a_cluster_config_renders_cleanly(tmp_path: Path, cluster_text: str) -> None:
    (tmp_path / "assay.yaml").write_text(cluster_text)
    result = run(tmp_path, "deploy", "render", "--config", "assay.yaml", "--out", "out",
                 "--strict", "--hub-image", "registry.example.org/assay-hub:0.1.0")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    values = yaml.safe_load((tmp_path / "out" / "values.yaml").read_text())
    assert values["hub"]["image"]["name"] == "registry.example.org/assay-hub"
    assert "create secret generic assay-oauth --from-literal=client-secret=..." in result.stdout
    assert "create secret generic assay-s3 --from-literal=AWS_ACCESS_KEY_ID=... " \
           "--from-literal=AWS_SECRET_ACCESS_KEY=..." in result.stdout


def test_a_broken_config_stops_rendering_with_the_config_error(
        tmp_path: Path, demo_config_data: dict) -> None:
    data = copy.deepcopy(demo_config_data)
    data["profiles"][0]["cpu"]["limit"] = "lots"
    data["kubernetes"]["namespace"] = "Not A Namespace"
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(data))
    result = run(tmp_path, "deploy", "render", "--config", "bad.yaml", "--out", "out")
    assert result.returncode == 1
    assert "Invalid Assay config bad.yaml" in result.stderr
    assert "profiles[0].cpu.limit" in result.stderr
    assert "kubernetes.namespace" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("image", ["assay-hub", "assay-hub:latest"])
def test_an_unpinned_hub_image_is_refused(tmp_path: Path, image: str) -> None:
    result = run(tmp_path, "deploy", "render", "--out", "out", "--hub-image", image)
    assert result.returncode == 1
    assert f"--hub-image: {image!r} is not a pinned image" in result.stderr
    assert not (tmp_path / "out").exists()
