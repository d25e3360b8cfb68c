"""The ``assay`` console script, run as an admin runs it (a real subprocess)."""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ASSAY = Path(sys.executable).parent / "assay"
ALL_FIVE = ["cpu-small", "cpu-large", "gpu-2x", "dask", "secure-cpu"]


@pytest.fixture
def run(tmp_path):
    """``run(*args, env=None)`` runs the installed ``assay`` in an empty folder."""

    def call(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        base = {k: v for k, v in os.environ.items() if not k.startswith("ASSAY_")}
        return subprocess.run([str(ASSAY), *args], capture_output=True, text=True, timeout=60,
                              cwd=tmp_path, env={**base, **(env or {})})

    return call


@pytest.fixture
def bad_file(write_tmp_config, demo_config_data, tmp_path) -> Path:
    data = copy.deepcopy(demo_config_data)
    data["mode"] = "cloud"
    data["profiles"][2]["gpus"] = -1
    data["profiles"][1]["colour"] = "red"
    data["hub"]["state_dir"] = str(tmp_path / "state")
    return write_tmp_config(data, name="bad.yaml")


BAD_ERRORS = [
    "  mode: must be one of 'local' or 'kubernetes', got 'cloud'",
    "  profiles[1].colour: unknown key. Valid keys: cpu, dask_workers, default, description, "
    "display_name, gpus, groups, image, memory, requires_purpose, slug, zone",
    "  profiles[2].gpus: must be >= 0, got -1",
]


def rows(stdout: str) -> list[list[str]]:
    return [re.split(r"\s{2,}", line) for line in stdout.splitlines()]


def test_console_script_is_installed():
    assert ASSAY.exists() and os.access(ASSAY, os.X_OK)


def test_help(run):
    result = run("--help")
    assert result.returncode == 0
    assert "Assay: a JupyterHub workbench for sensitive R&D data." in result.stdout
    for command in ("up", "config", "profiles"):
        assert re.search(rf"^\s+{command}\s+\S", result.stdout, re.M), command


@pytest.mark.parametrize(("args", "expected"), [
    (["up", "--help"], ["usage: assay up", "--port PORT", "--config CONFIG",
                        "Start JupyterHub with Assay's config on 127.0.0.1."]),
    (["config", "validate", "--help"], ["usage: assay config validate [-h] [file]",
                                        "Print OK, or every error with its path"]),
    (["profiles", "list", "--help"], ["usage: assay profiles list", "--user USER",
                                      "--config CONFIG"]),
    (["config", "--help"], ["validate"]),
    (["profiles", "--help"], ["list"]),
])
def test_subcommand_help(run, args, expected):
    result = run(*args)
    assert result.returncode == 0, result.stderr
    for text in expected:
        assert text in result.stdout


def test_no_command_is_a_usage_error(run):
    result = run()
    assert result.returncode == 2
    assert "usage: assay" in result.stderr
    assert "required: COMMAND" in result.stderr


def test_validate_shipped_file(run):
    result = run("config", "validate")
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"OK: \S+assay\.yaml \(5 profiles, mode local\)\n", result.stdout)


def test_validate_explicit_good_file(run, write_tmp_config, demo_config_data):
    path = write_tmp_config(demo_config_data)
    result = run("config", "validate", str(path))
    assert (result.returncode, result.stdout) == (0, f"OK: {path} (5 profiles, mode local)\n")


def test_validate_bad_file_lists_every_error(run, bad_file):
    result = run("config", "validate", str(bad_file))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [f"Invalid Assay config {bad_file}:", *BAD_ERRORS]


def test_validate_reads_assay_config(run, bad_file, write_tmp_config, demo_config_data):
    result = run("config", "validate", env={"ASSAY_CONFIG": str(bad_file)})
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"Invalid Assay config {bad_file}:", *BAD_ERRORS]
    good = write_tmp_config(demo_config_data, name="good.yaml")
    result = run("config", "validate", env={"ASSAY_CONFIG": str(good)})
    assert (result.returncode, result.stdout) == (0, f"OK: {good} (5 profiles, mode local)\n")


def test_validate_missing_and_invalid_yaml(run, write_tmp_config, tmp_path):
    result = run("config", "validate", str(tmp_path / "absent.yaml"))
    assert result.returncode == 1
    assert "(file): cannot read: No such file or directory" in result.stderr
    broken = write_tmp_config("mode: local\nprofiles: [\n", name="broken.yaml")
    result = run("config", "validate", str(broken))
    assert result.returncode == 1
    assert "  (yaml): not valid YAML at line 3, column 1" in result.stderr


def test_profiles_list_shows_all_five(run):
    result = run("profiles", "list")
    assert result.returncode == 0, result.stderr
    table = rows(result.stdout)
    assert table[0] == ["SLUG", "NAME", "RESOURCES", "GROUPS", "ZONE"]
    assert [row[0] for row in table[1:]] == ALL_FIVE
    assert table[1:] == [
        ["cpu-small", "CPU small", "1 CPU · 2G memory", "(all)", "standard"],
        ["cpu-large", "CPU large", "4 CPUs · 16G memory", "(all)", "standard"],
        ["gpu-2x", "2 GPUs", "8 CPUs · 32G memory · 2 GPUs", "gpu-users", "standard"],
        ["dask", "Dask cluster", "2 CPUs · 8G memory · 2 Dask workers", "(all)", "standard"],
        ["secure-cpu", "Secure zone CPU", "2 CPUs · 8G memory · secure zone", "oncology",
         "secure"],
    ]


@pytest.mark.parametrize(("user", "slugs"), [
    ("bob", ["cpu-small", "cpu-large", "dask"]),
    ("alice", ALL_FIVE),
    ("admin", ["cpu-small", "cpu-large", "dask"]),
])
def test_profiles_list_for_a_user(run, user, slugs):
    result = run("profiles", "list", "--user", user)
    assert result.returncode == 0, result.stderr
    assert [row[0] for row in rows(result.stdout)[1:]] == slugs


def test_profiles_list_unknown_user(run):
    result = run("profiles", "list", "--user", "carol")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == "No such user: carol. Users include: admin, alice, bob\n"


def test_profiles_list_other_config(run, write_tmp_config, demo_config_data):
    data = copy.deepcopy(demo_config_data)
    data["profiles"] = data["profiles"][3:]
    path = write_tmp_config(data)
    result = run("profiles", "list", "--config", str(path))
    assert [row[0] for row in rows(result.stdout)[1:]] == ["dask", "secure-cpu"]
    result = run("profiles", "list", env={"ASSAY_CONFIG": str(path)})
    assert [row[0] for row in rows(result.stdout)[1:]] == ["dask", "secure-cpu"]


def test_profiles_list_bad_config(run, bad_file):
    result = run("profiles", "list", "--config", str(bad_file))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"Invalid Assay config {bad_file}:", *BAD_ERRORS]


@pytest.mark.parametrize("how", ["option", "environment"])
def test_up_with_invalid_config_starts_nothing(run, bad_file, tmp_path, how):
    if how == "option":
        result = run("up", "--config", str(bad_file), "--port", "18765")
    else:
        result = run("up", env={"ASSAY_CONFIG": str(bad_file)})
    assert result.returncode != 0
    assert result.stderr.splitlines() == [f"Invalid Assay config {bad_file}:", *BAD_ERRORS]
    assert "Assay hub starting" not in result.stdout
    assert not (tmp_path / "state").exists()
    assert not (tmp_path / "var").exists()
