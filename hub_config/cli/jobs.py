"""``assay jobs ...`` and ``assay secrets ...``: papermill jobs through the service's REST API.

Connection options, error printing and tables: ``assay.cli.service``.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import InvalidParameters
from ..jobs.client import JobsApiError, JobsClient, job_name
from ..jobs.model import RunStatus
from ..jobs.params import Parameter, from_text, notebook_parameters, read_notebook
from ..jobs.schedule import CATCHUP_POLICIES
from .service import command, seconds, table, text, when


def parameter(pair: str) -> tuple[str, str]:
    """``-p key=value`` → ``(key, value)`` (argparse type)."""
    key, sep, value = pair.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"must be NAME=VALUE, got {pair!r}")
    return key.strip(), value


def typed(pairs: Sequence[tuple[str, str]], declared: dict[str, Parameter] | None
          ) -> dict[str, Any]:
    """Values typed as the notebook's parameters cell declares them (``n = 1`` makes
    ``-p n=5`` the int 5); undeclared names as JSON where it parses, else text, for the
    service to judge. ``secret://name`` stays a reference."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        param = (declared or {}).get(key)
        if param is None:
            param = Parameter(key, "any", None, True, key)
        out[key] = from_text(value, param)
    return out


# -- jobs ---------------------------------------------------------------------------


def _read(path: Path) -> tuple[dict[str, Any], dict[str, Parameter] | None]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise JobsApiError(f"Cannot read the notebook {path}: {exc.strerror}.") from None
    try:
        return read_notebook(data), notebook_parameters(data)
    except InvalidParameters as exc:
        raise JobsApiError(f"{path}: {exc.problems[0]}", exc.problems[1:]) from None


def submit(client: JobsClient, args: argparse.Namespace) -> int:
    path = Path(args.notebook)
    notebook, declared = _read(path)
    body: dict[str, Any] = {
        "name": args.name or job_name(path), "notebook_path": str(path),
        "notebook": notebook, "parameters": typed(args.parameters, declared),
        "profile": args.profile, "schedule": args.schedule, "timezone": args.timezone,
        "timeout_s": args.timeout, "retries": args.retries, "catchup": args.catchup,
        "webhook": args.webhook, "max_concurrency": args.max_concurrency}
    if args.backoff is not None:
        body["retry_backoff_s"] = args.backoff
    answer = client.submit({k: v for k, v in body.items() if v is not None or k in (
        "schedule", "timeout_s")})
    job, run = answer.get("job") or {}, answer.get("run")
    when_ = f"schedule '{job.get('schedule')}' ({job.get('timezone')})" \
        if job.get("schedule") else "on demand"
    print(f"Job {job.get('id')} '{job.get('name')}' submitted: profile "
          f"{job.get('profile')}, {when_}.")
    if job.get("next_slot"):
        print(f"Next run: {when(job['next_slot'])}")
    print(f"Page: {client.creds.url}ui/jobs/{job.get('id')}")
    if not run:
        return 0
    print(f"Run {run.get('id')} {run.get('status', 'queued')}.")
    if not args.wait:
        return 0
    try:
        done = client.wait(run["id"])
    except KeyboardInterrupt:
        print(f"Stopped following run {run['id']}; it goes on (`assay jobs show "
              f"{run['id']}`).", file=sys.stderr)
        return 130
    return _report(done)


def _report(run: dict[str, Any]) -> int:
    cells = f"{run.get('cells_done', 0)}/{run.get('cells_total', 0)} cells"
    print(f"Run {run.get('id')} {run.get('status')} in {seconds(run.get('duration_s'))} "
          f"({cells}).")
    if run.get("error"):
        print(f"Error: {run['error']}", file=sys.stderr)
    return 0 if run.get("status") == RunStatus.SUCCEEDED else 1


def list_jobs(client: JobsClient, args: argparse.Namespace) -> int:
    jobs = client.jobs()
    if args.json:
        print(json.dumps(jobs, indent=1))
        return 0
    if not jobs:
        print("No jobs yet: `assay jobs submit NOTEBOOK --profile P` makes one.")
        return 0
    rows: list[Sequence[object]] = [
        ("ID", "NAME", "PROFILE", "SCHEDULE", "NEXT", "LAST RUN", "NOTEBOOK")]
    for job in jobs:
        schedule = (f"{job['schedule']} ({job.get('timezone') or 'UTC'})"
                    if job.get("schedule") else "on demand")
        nxt = "paused" if job.get("paused") else when(job.get("next_slot"))
        last = job.get("last_run") or {}
        last_run = f"{last['id']} {last.get('status')}" if last.get("id") else "-"
        rows.append((job.get("id"), job.get("name"), job.get("profile"), schedule, nxt,
                     last_run, job.get("notebook_path")))
    print(table(rows))
    return 0


def list_runs(client: JobsClient, args: argparse.Namespace) -> int:
    job = client.find_job(args.job)
    runs = client.runs(job["id"])
    if args.json:
        print(json.dumps(runs, indent=1))
        return 0
    if not runs:
        print(f"Job {job['id']} '{job.get('name')}' has no runs yet.")
        return 0
    rows: list[Sequence[object]] = [
        ("RUN", "STATUS", "ATTEMPT", "SLOT", "STARTED", "DURATION", "CELLS")]
    for run in runs:
        rows.append((run.get("id"), run.get("status"), run.get("attempt"),
                     when(run.get("slot")) if run.get("slot") else "on demand",
                     when(run.get("started_at")), seconds(run.get("duration_s")),
                     f"{run.get('cells_done', 0)}/{run.get('cells_total', 0)}"))
    print(table(rows))
    return 0


SHOWN = (("run", "id"), ("job", "job_id"), ("status", "status"), ("attempt", "attempt"),
         ("profile", "profile"), ("slot", "slot"), ("started", "started_at"),
         ("finished", "finished_at"), ("duration", "duration_s"), ("cells", None),
         ("notebook sha256", "notebook_sha256"), ("parameters", "parameters"),
         ("metrics", "metrics"), ("drift", "drift"), ("outputs", "outputs"),
         ("error", "error"))


def _field(run: dict[str, Any], key: str | None) -> str:
    if key is None:
        return f"{run.get('cells_done', 0)}/{run.get('cells_total', 0)}"
    value = run.get(key)
    if key in ("slot", "started_at", "finished_at"):
        return when(value) if value else ("on demand" if key == "slot" else "-")
    if key == "duration_s":
        return seconds(value)
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True) if value else "-"
    return text(value)


def show(client: JobsClient, args: argparse.Namespace) -> int:
    run = client.run(args.run)
    if args.json:
        print(json.dumps(run, indent=1))
        return 0
    width = max(len(label) for label, _ in SHOWN) + 1
    for label, key in SHOWN:
        print(f"{label + ':':<{width}} {_field(run, key)}")
    return 0


def logs(client: JobsClient, args: argparse.Namespace) -> int:
    found = client.log(args.run)
    sys.stdout.write(found if found.endswith("\n") or not found else found + "\n")
    return 0


def cancel(client: JobsClient, args: argparse.Namespace) -> int:
    run = client.cancel(args.run)
    print(f"Run {run.get('id', args.run)} {run.get('status', 'cancelled')}.")
    return 0


# -- secrets -------------------------------------------------------------------------


def secret_set(client: JobsClient, args: argparse.Namespace) -> int:
    if sys.stdin.isatty():
        value = getpass.getpass(f"Value of secret {args.name} (not shown): ")
    else:
        value = sys.stdin.read()
        value = value[:-1] if value.endswith("\n") else value
        value = value[:-1] if value.endswith("\r") else value
    if not value:
        raise JobsApiError("No value: pipe the secret's value into the command, e.g. "
                           f"`assay secrets set {args.name} < file`.")
    client.set_secret(args.name, value)
    print(f"Secret '{args.name}' stored; use it as -p NAME=secret://{args.name}.")
    return 0


def secret_list(client: JobsClient, args: argparse.Namespace) -> int:
    found = client.secrets()
    if not found:
        print("No secrets yet: `assay secrets set NAME` stores one (value from stdin).")
        return 0
    print(table([("NAME",), *((s.get("name"),) for s in found)]))
    return 0


# -- parsers -------------------------------------------------------------------------


def _submit_parser(sub: Any) -> None:
    p = command(sub, "submit", submit, "submit a notebook as a job",
                 "Pin a notebook and run it on a profile: once now, or on a cron schedule. "
                 "-p values take the types of the notebook's parameters cell.")
    p.add_argument("notebook", metavar="NOTEBOOK", help="the .ipynb file")
    p.add_argument("-p", "--parameter", dest="parameters", action="append", default=[],
                   type=parameter, metavar="NAME=VALUE",
                   help="a parameter (repeat); secret://NAME passes a stored secret")
    p.add_argument("--profile", required=True, help="compute profile slug")
    p.add_argument("--name", help="job name (default: from the notebook's file name)")
    p.add_argument("--schedule", metavar="CRON", help="cron, e.g. '30 6 * * 1-5' "
                   "(default: run once now)")
    p.add_argument("--timezone", default="UTC", metavar="TZ",
                   help="IANA zone of the schedule (default UTC)")
    p.add_argument("--timeout", type=int, default=3600, metavar="S",
                   help="seconds before a run is stopped (default 3600)")
    p.add_argument("--retries", type=int, default=0, metavar="N",
                   help="retries of a failed run (default 0)")
    p.add_argument("--backoff", type=float, metavar="S",
                   help="seconds before the first retry, doubling after (default 60)")
    p.add_argument("--catchup", choices=CATCHUP_POLICIES, default="latest",
                   help="missed slots after downtime: none, latest (default) or all")
    p.add_argument("--max-concurrency", type=int, metavar="N",
                   help="runs of this job at once (default 1)")
    p.add_argument("--webhook", metavar="URL", help="POSTed to on failure or drift")
    p.add_argument("--wait", action="store_true",
                   help="follow the first run to its end; exit 1 unless it succeeded")


def register(sub: Any) -> None:
    """Add ``jobs`` and ``secrets`` to the ``assay`` subparsers ``sub``."""
    jobs = sub.add_parser("jobs", help="papermill jobs", description="Submit notebooks as "
                          "jobs and follow their runs, through the Assay service.")
    jobs_sub = jobs.add_subparsers(dest="action", metavar="ACTION", required=True)
    _submit_parser(jobs_sub)
    command(jobs_sub, "list", list_jobs, "list your jobs", "List your jobs.", True)
    p = command(jobs_sub, "runs", list_runs, "list a job's runs",
                 "List a job's runs, newest first.", True)
    p.add_argument("job", metavar="JOB", help="job id or name")
    p = command(jobs_sub, "show", show, "show a run", "Show a run: status, progress, "
                 "parameters, timing, metrics, drift, outputs, error.", True)
    p.add_argument("run", metavar="RUN", type=int, help="run id")
    p = command(jobs_sub, "logs", logs, "print a run's log", "Print a run's log.")
    p.add_argument("run", metavar="RUN", type=int, help="run id")
    p = command(jobs_sub, "cancel", cancel, "cancel a run",
                 "Cancel a queued or running run (it is not retried).")
    p.add_argument("run", metavar="RUN", type=int, help="run id")

    secrets = sub.add_parser("secrets", help="job secrets", description="Secrets for "
                             "jobs, passed as -p NAME=secret://SECRET; stored encrypted.")
    secrets_sub = secrets.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = command(secrets_sub, "set", secret_set, "store a secret",
                 "Store or replace a secret. The value is read from stdin (prompted for, "
                 "not echoed, on a terminal), never from the command line.")
    p.add_argument("name", metavar="NAME", help="secret name")
    command(secrets_sub, "list", secret_list, "list your secrets' names",
             "List the names of your secrets (never their values).")
