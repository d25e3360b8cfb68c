"""The Assay kernelspecs: real kernels with ``assay`` preloaded, installed where Jupyter finds
them, and listed by real servers of the demo hub ("Python 3 (Assay, GPU)" on GPU profiles only).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
from jupyter_client.manager import KernelManager

from assay.errors import KernelSetupError
from assay.kernels.install import MANAGER, SPECS_DIR, AssayKernelSpecManager, install
from hubprocess import HubProcess
from labkernel import UserServer

CPU_KERNEL, GPU_KERNEL = "assay-python3", "assay-python3-gpu"
CHECK = "print(type(assay).__name__, assay.__name__, 'assay' in dir())"


def run_in_kernel(name: str, code: str) -> str:
    """Start kernel ``name`` from the package's specs, run ``code``, return what it printed."""
    manager = KernelManager(kernel_name=name)
    manager.kernel_spec_manager = KernelSpecManager(kernel_dirs=[str(SPECS_DIR)])
    manager.start_kernel()
    try:
        client = manager.client()
        client.start_channels()
        client.wait_for_ready(timeout=60)
        out: list[str] = []
        client.execute_interactive(code, timeout=60, output_hook=lambda msg: out.append(
            msg["content"].get("text", "")) if msg["msg_type"] == "stream" else None)
        client.stop_channels()
        return "".join(out)
    finally:
        manager.shutdown_kernel(now=True)


@pytest.mark.parametrize("name", [CPU_KERNEL, GPU_KERNEL])
def test_the_kernel_starts_with_assay_already_imported(name: str) -> None:
    assert run_in_kernel(name, CHECK).split() == ["module", "assay", "True"]


def test_specs_name_themselves_and_mark_the_gpu_one() -> None:
    specs = {n: json.loads((SPECS_DIR / n / "kernel.json").read_text())
             for n in (CPU_KERNEL, GPU_KERNEL)}
    assert specs[CPU_KERNEL]["display_name"] == "Python 3 (Assay)"
    assert specs[GPU_KERNEL]["display_name"] == "Python 3 (Assay, GPU)"
    assert specs[CPU_KERNEL]["metadata"]["assay"] == {"requires_gpu": False}
    assert specs[GPU_KERNEL]["metadata"]["assay"] == {"requires_gpu": True}
    for name in specs:
        assert {p.name for p in (SPECS_DIR / name).iterdir()} == {
            "kernel.json", "logo-32x32.png", "logo-64x64.png", "logo-svg.svg"}


@pytest.mark.parametrize(("gpus", "visible"), [(None, {CPU_KERNEL}), ("0", {CPU_KERNEL}),
                                               ("2", {CPU_KERNEL, GPU_KERNEL})])
def test_the_gpu_kernel_exists_only_where_the_profile_has_gpus(
        gpus: str | None, visible: set[str], monkeypatch: pytest.MonkeyPatch) -> None:
    if gpus is None:
        monkeypatch.delenv("ASSAY_GPUS", raising=False)
    else:
        monkeypatch.setenv("ASSAY_GPUS", gpus)
    manager = AssayKernelSpecManager(kernel_dirs=[str(SPECS_DIR)], ensure_native_kernel=False)
    assert set(manager.find_kernel_specs()) == visible
    assert set(manager.get_all_specs()) == visible
    if GPU_KERNEL not in visible:
        with pytest.raises(NoSuchKernel):
            manager.get_kernel_spec(GPU_KERNEL)


def test_install_puts_specs_and_server_setting_under_a_prefix(tmp_path: Path) -> None:
    setting = tmp_path / "etc" / "jupyter" / "jupyter_server_config.json"
    setting.parent.mkdir(parents=True)
    setting.write_text(json.dumps({"ServerApp": {"root_dir": "/data"}, "Other": {"x": 1}}))
    install(prefix=str(tmp_path))
    written = install(prefix=str(tmp_path))  # again: replaces
    kernels = tmp_path / "share" / "jupyter" / "kernels"
    assert written == [kernels / CPU_KERNEL, kernels / GPU_KERNEL, setting]
    manager = KernelSpecManager(kernel_dirs=[str(kernels)], ensure_native_kernel=False)
    assert set(manager.find_kernel_specs()) == {CPU_KERNEL, GPU_KERNEL}
    assert json.loads(setting.read_text()) == {"ServerApp": {
        "root_dir": "/data", "kernel_spec_manager_class": MANAGER}, "Other": {"x": 1}}


def test_install_does_not_replace_another_kernelspec_manager(tmp_path: Path) -> None:
    setting = tmp_path / "etc" / "jupyter" / "jupyter_server_config.json"
    setting.parent.mkdir(parents=True)
    other = {"ServerApp": {"kernel_spec_manager_class": "site.GatewayManager"}}
    setting.write_text(json.dumps(other))
    with pytest.raises(KernelSetupError, match="kernel_spec_manager_class is 'site.Gateway"):
        install(prefix=str(tmp_path))
    assert json.loads(setting.read_text()) == other


def test_a_server_with_the_setting_uses_the_manager(tmp_path: Path) -> None:
    """Jupyter Server reads the setting where ``install`` puts it (a real ServerApp)."""
    (tmp_path / "jupyter_server_config.json").write_text(
        json.dumps({"ServerApp": {"kernel_spec_manager_class": MANAGER}}))
    code = ("from jupyter_server.serverapp import ServerApp; a = ServerApp(); "
            "a.initialize(['--ServerApp.allow_root=True', '--ServerApp.port=0']); "
            "print(type(a.kernel_spec_manager).__name__, sorted(a.kernel_spec_manager"
            ".find_kernel_specs()))")
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path), "ASSAY_GPUS": "0"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, cwd=tmp_path, timeout=120, check=True).stdout
    assert out.startswith("AssayKernelSpecManager [")
    assert CPU_KERNEL in out and GPU_KERNEL not in out


def test_the_cli_installs_them(tmp_path: Path) -> None:
    assay = Path(sys.executable).parent / "assay"
    result = subprocess.run([str(assay), "kernels", "install", "--prefix", str(tmp_path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    kernels = tmp_path / "share" / "jupyter" / "kernels"
    assert result.stdout.splitlines() == [
        f"Installed {kernels / CPU_KERNEL}", f"Installed {kernels / GPU_KERNEL}",
        f"Installed {tmp_path / 'etc' / 'jupyter' / 'jupyter_server_config.json'}"]


def test_this_environment_has_them_installed() -> None:
    """``make install`` runs ``assay kernels install --sys-prefix`` after ``pip install -e``."""
    listed = subprocess.run([sys.executable, "-m", "jupyter", "kernelspec", "list", "--json"],
                            capture_output=True, text=True, check=True).stdout
    where = {n: Path(s["resource_dir"]) for n, s in json.loads(listed)["kernelspecs"].items()}
    assert {CPU_KERNEL, GPU_KERNEL} <= set(where), "run `make install` (assay kernels install)"
    assert where[CPU_KERNEL].is_relative_to(sys.prefix)


# -- through the demo hub: real single-user servers ------------------------------------

SERVERS = {"bob": "cpu-small", "alice": "gpu-2x"}


def kernelspecs(lab: UserServer) -> dict[str, dict]:
    r = lab.http.get("api/kernelspecs")
    assert r.status_code == 200, r.text
    return r.json()["kernelspecs"]


@pytest.fixture(scope="module")
def labs(demo_hub: HubProcess) -> Iterator[dict[str, UserServer]]:
    """bob on ``cpu-small`` and alice on ``gpu-2x`` (two simulated GPUs) for the module."""
    for user, profile in SERVERS.items():
        if demo_hub.api("GET", f"users/{user}").json().get("servers"):
            demo_hub.stop_server(user)
        r = demo_hub.request_spawn(user, profile)
        assert r.status_code in (201, 202), r.text
    servers: dict[str, UserServer] = {}
    try:
        for user in SERVERS:
            demo_hub.wait_ready(user)
            servers[user] = UserServer(demo_hub, user)
        yield servers
    finally:
        for server in servers.values():
            server.close()
        for user in SERVERS:
            if demo_hub.api("GET", f"users/{user}").json().get("servers"):
                demo_hub.stop_server(user)


def test_a_cpu_server_lists_the_assay_kernel_and_not_the_gpu_one(labs) -> None:
    specs = kernelspecs(labs["bob"])
    assert specs[CPU_KERNEL]["spec"]["display_name"] == "Python 3 (Assay)"
    assert GPU_KERNEL not in specs
    logo = specs[CPU_KERNEL]["resources"]["logo-64x64"]  # a path from the proxy's root
    r = labs["bob"].http.get(str(httpx.URL(labs["bob"].url).copy_with(raw_path=logo.encode())))
    assert r.status_code == 200 and r.content.startswith(b"\x89PNG")


def test_a_gpu_server_lists_both(labs) -> None:
    specs = kernelspecs(labs["alice"])
    assert specs[CPU_KERNEL]["spec"]["display_name"] == "Python 3 (Assay)"
    assert specs[GPU_KERNEL]["spec"]["display_name"] == "Python 3 (Assay, GPU)"


def test_a_kernel_started_by_the_server_has_assay_imported(labs) -> None:
    lab = labs["bob"]
    r = lab.http.post("api/kernels", json={"name": CPU_KERNEL})
    assert r.status_code == 201, r.text
    kernel = r.json()["id"]
    try:
        assert lab.run(kernel, CHECK).split() == ["module", "assay", "True"]
    finally:
        lab.http.delete(f"api/kernels/{kernel}")


def test_the_gpu_kernel_cannot_be_started_on_a_cpu_server(labs) -> None:
    r = labs["bob"].http.post("api/kernels", json={"name": GPU_KERNEL})
    assert r.status_code >= 400, r.text
    assert not [k for k in labs["bob"].http.get("api/kernels").json()
                if k["name"] == GPU_KERNEL]
