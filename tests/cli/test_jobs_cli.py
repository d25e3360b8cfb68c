"""``assay jobs ...`` and ``assay secrets ...``: the installed console script against a real hub.

The hub is the shared ``demo_hub``; its Assay service runs the jobs API and the scheduler
(LocalExecutor). The CLI finds the service and the credential as in a user's server:
``$ASSAY_BROKER_URL`` and a token variable. Job names start with ``cli-`` (the hub is
shared with other tests).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from hubprocess import HubProcess
from jobrun import write_notebook

ASSAY = Path(sys.executable).parent / "assay"
COMMANDS = [("jobs",), ("jobs", "submit"), ("jobs", "list"), ("jobs", "runs"),
            ("jobs", "show"), ("jobs", "logs"), ("jobs", "cancel"), ("secrets",),
            ("secrets", "set"), ("secrets", "list")]
PARAMETERS = "n = 1\nlabel = 'plain'\nrate = 0.5"


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("ASSAY_", "JUPYTERHUB_"))}


@pytest.fixture
def assay(tmp_path):
    """``assay(*args, env=None, stdin=None)`` runs the console script in tmp_path."""

    def call(*args: str, env: dict[str, str] | None = None,
             stdin: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([str(ASSAY), *args], capture_output=True, text=True,
                              timeout=120, cwd=tmp_path, input=stdin,
                              env={**clean_env(), **(env or {})})

    return call


@pytest.fixture(scope="module")
def alice_env(demo_hub: HubProcess) -> dict[str, str]:
    """alice's connection as her server has it: the broker URL and a token."""
    return {"ASSAY_BROKER_URL": demo_hub.broker_url,
            "JUPYTERHUB_API_TOKEN": demo_hub.user_token("alice")}


def rest(hub: HubProcess, env: dict[str, str], method: str, path: str) -> httpx.Response:
    return httpx.request(method, hub.broker_url + "api/v1/" + path, timeout=30,
                         headers={"Authorization": f"token {env['JUPYTERHUB_API_TOKEN']}"})


def ids(stdout: str) -> tuple[int, int | None]:
    job = int(re.search(r"^Job (\d+) ", stdout, re.M).group(1))
    run = re.search(r"^Run (\d+) ", stdout, re.M)
    return job, (int(run.group(1)) if run else None)


def rows(stdout: str) -> list[list[str]]:
    return [re.split(r"\s{2,}", line) for line in stdout.splitlines()]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help(assay, command):
    result = assay(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: assay " + " ".join(command))


def test_without_a_connection_says_what_to_set(assay, tmp_path):
    notebook = write_notebook(tmp_path / "nb.ipynb", ["1"], PARAMETERS)
    for args in (("jobs", "list"), ("jobs", "submit", str(notebook), "--profile", "cpu-small"),
                 ("secrets", "list")):
        result = assay(*args)
        assert result.returncode == 1
        assert result.stdout == ""
        assert result.stderr.splitlines() == [
            "Cannot reach the Assay service:",
            "  - no service URL: pass --url or set $ASSAY_BROKER_URL (every Assay server "
            "sets it), e.g. https://hub.example.org/services/assay/",
            "  - no credential: pass --token or set $ASSAY_SESSION_TOKEN / "
            "$JUPYTERHUB_API_TOKEN / $ASSAY_TOKEN (a hub API token from the hub's Token "
            "page works)"]


def test_a_refused_token_and_an_unreachable_service(assay, demo_hub):
    result = assay("jobs", "list", "--url", demo_hub.broker_url, "--token", "not-a-token")
    assert result.returncode == 1
    assert "did not accept the credential" in result.stderr
    assert "Traceback" not in result.stderr
    result = assay("jobs", "list", "--url", "http://127.0.0.1:9/services/assay/",
                   "--token", "x")
    assert result.returncode == 1
    assert result.stderr.startswith("Could not reach the Assay service at "
                                    "http://127.0.0.1:9/services/assay/: ConnectError")


def test_submit_with_typed_parameters_list_runs_show_logs(assay, demo_hub, alice_env,
                                                          tmp_path):
    notebook = write_notebook(
        tmp_path / "CLI Typed.ipynb",
        ["print('n', type(n).__name__, n, 'rate', type(rate).__name__, rate, label)"],
        PARAMETERS)
    result = assay("jobs", "submit", str(notebook), "-p", "n=5", "-p", "rate=2",
                   "-p", "label=007", "--profile", "cpu-small", "--timeout", "300",
                   "--wait", env=alice_env)
    assert result.returncode == 0, result.stderr
    job_id, run_id = ids(result.stdout)
    lines = result.stdout.splitlines()
    assert lines[0] == f"Job {job_id} 'cli-typed' submitted: profile cpu-small, on demand."
    assert lines[1] == f"Page: {demo_hub.broker_url}ui/jobs/{job_id}"
    assert lines[2] == f"Run {run_id} queued."
    assert re.fullmatch(rf"Run {run_id} succeeded in \d+\.\d s \(3/3 cells\)\.", lines[3])

    listed = rows(assay("jobs", "list", env=alice_env).stdout)
    assert listed[0] == ["ID", "NAME", "PROFILE", "SCHEDULE", "NEXT", "LAST RUN", "NOTEBOOK"]
    assert [str(job_id), "cli-typed", "cpu-small", "on demand", "-",
            f"{run_id} succeeded", str(notebook)] in listed

    for ref in (str(job_id), "cli-typed"):
        runs = rows(assay("jobs", "runs", ref, env=alice_env).stdout)
        assert runs[0] == ["RUN", "STATUS", "ATTEMPT", "SLOT", "STARTED", "DURATION", "CELLS"]
        assert runs[1][:4] == [str(run_id), "succeeded", "1", "on demand"]
        assert runs[1][6] == "3/3"

    shown = assay("jobs", "show", str(run_id), env=alice_env).stdout
    assert "status:          succeeded" in shown
    assert 'parameters:      {"label": "007", "n": 5, "rate": 2}' in shown
    run = json.loads(assay("jobs", "show", str(run_id), "--json", env=alice_env).stdout)
    assert run["parameters"] == {"n": 5, "rate": 2, "label": "007"}  # typed by the cell
    assert type(run["parameters"]["n"]) is int and run["job_id"] == job_id

    log = assay("jobs", "logs", str(run_id), env=alice_env)
    assert log.returncode == 0 and "run succeeded" in log.stdout
    executed = rest(demo_hub, alice_env, "GET", f"runs/{run_id}/notebook").text
    assert "n int 5 rate int 2 007" in executed


def test_bad_parameters_print_the_service_problems(assay, alice_env, tmp_path):
    notebook = write_notebook(tmp_path / "cli-bad.ipynb", ["print(n)"], PARAMETERS)
    result = assay("jobs", "submit", str(notebook), "-p", "n=abc", "-p", "nope=1",
                   "--profile", "cpu-small", env=alice_env)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "Invalid parameters:",
        '  - n: must be int (declared as `n = 1`), got "abc" (str)',
        "  - nope: unknown parameter; the notebook's parameters cell declares: n, label, "
        "rate"]
    result = assay("jobs", "submit", str(notebook), "--profile", "nope", "--schedule",
                   "61 * * * *", env=alice_env)
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == "Invalid job:"
    assert result.stderr.splitlines()[1].startswith("  - schedule: must be five cron fields")
    result = assay("jobs", "submit", str(notebook), "-p", "n", "--profile", "cpu-small",
                   env=alice_env)
    assert result.returncode == 2 and "must be NAME=VALUE, got 'n'" in result.stderr
    result = assay("jobs", "show", "99999999", env=alice_env)
    assert (result.returncode, result.stderr) == (1, "No run with id 99999999.\n")


def test_cancel_a_running_run(assay, demo_hub, alice_env, tmp_path):
    notebook = write_notebook(tmp_path / "cli-sleepy.ipynb",
                              ["import time\nfor _ in range(600):\n    time.sleep(0.1)"])
    result = assay("jobs", "submit", str(notebook), "--profile", "cpu-small", env=alice_env)
    assert result.returncode == 0, result.stderr
    _, run_id = ids(result.stdout)
    deadline = time.monotonic() + 60
    while rest(demo_hub, alice_env, "GET", f"runs/{run_id}").json()["status"] != "running":
        assert time.monotonic() < deadline, "the run did not start"
        time.sleep(0.2)
    result = assay("jobs", "cancel", str(run_id), env=alice_env)
    assert (result.returncode, result.stdout) == (0, f"Run {run_id} cancelled.\n")
    shown = json.loads(assay("jobs", "show", str(run_id), "--json", env=alice_env).stdout)
    assert shown["status"] == "cancelled"
    again = assay("jobs", "cancel", str(run_id), env=alice_env)
    assert (again.returncode, again.stderr) == (
        1, f"Run {run_id} has already ended: cancelled.\n")


def test_secrets_from_stdin_only_and_used_by_reference(assay, demo_hub, alice_env, tmp_path):
    value = "s3cr3t-cli-value-42"
    result = assay("secrets", "set", "cli-warehouse", env=alice_env, stdin=value + "\n")
    assert result.returncode == 0, result.stderr
    assert value not in result.stdout
    assert "cli-warehouse" in assay("secrets", "list", env=alice_env).stdout.split()
    empty = assay("secrets", "set", "cli-empty", env=alice_env, stdin="")
    assert empty.returncode == 1 and empty.stderr.startswith("No value: pipe the secret's")
    assert assay("secrets", "set", "x", value, env=alice_env).returncode == 2  # not argv

    notebook = write_notebook(tmp_path / "cli-secret.ipynb", ["print('token is', label)"],
                              PARAMETERS)
    result = assay("jobs", "submit", str(notebook), "-p", "label=secret://cli-warehouse",
                   "--profile", "cpu-small", "--wait", env=alice_env)
    assert result.returncode == 0, result.stdout + result.stderr
    _, run_id = ids(result.stdout)
    run = json.loads(assay("jobs", "show", str(run_id), "--json", env=alice_env).stdout)
    assert run["parameters"] == {"label": "secret://cli-warehouse"}
    executed = rest(demo_hub, alice_env, "GET", f"runs/{run_id}/notebook").text
    assert "token is [secret]" in executed and value not in executed
