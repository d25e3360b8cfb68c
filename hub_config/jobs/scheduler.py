"""The scheduler: claims due slots, starts queued runs, follows them to the end.

One ``tick(now)``:

1. **claim** every due slot of every unpaused scheduled job (``schedule.due_slots``);
   the database lets each slot be claimed once, whatever the number of schedulers;
2. **follow** running runs: progress, a deadline backstop (``timeout_s`` plus a grace,
   in case an executor does not enforce it), and the final result → outputs published,
   metrics stored, drift evaluated, the next attempt queued (backoff ·2^(attempt-1))
   in the same transaction, the run's credential revoked, webhooks sent;
3. **dispatch** due queued runs within ``jobs.max_concurrent_runs`` and each job's
   ``max_concurrency``: per run a broker credential (kind ``job``) bound to the owner,
   the run (``server = job-run:<id>``), the profile and its zone, then
   ``executor.start``.

``recover()`` at start-up does step 2 for runs a previous process left ``running``:
adopted while their executor runs them, finalized when it has their result, else
``interrupted`` (then retried or failed by the job's policy). A run that never got an
executor ref (the service died while starting it) is, after ``start_grace_s``, looked up
with ``executor.find``: adopted if it was launched, else interrupted. Then the GPUs of
runs no longer running are released (``assay.gpu``, the ledger shared with the hub). Only the
``Executor`` interface (``assay.jobs.executors.base``) is used.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import Engine

from ..broker.sessions import SessionStore
from ..config.schema import AssayConfig
from ..errors import AssayError, ExecutorError, JobError, RunNotCancellable, RunNotFound
from ..gpu import GPULedger
from .drift import evaluate
from .executors.base import Executor, RunResult, RunSpec
from .folders import pin_notebook, run_folder, sweep
from .model import FINAL, RETRYABLE, Job, Run, RunStatus
from .notify import Notifier, payload
from .params import for_run, secret_names
from .run_gpus import RunGPUs
from .schedule import NextSlots, check_timezone, due_slots, utc
from .secrets import SecretStore
from .store import JobStore, run_server

log = logging.getLogger("assay.jobs.scheduler")
GPU_RETRY_S = 30.0
Publish = Callable[[Run, RunResult], dict[str, str]]


def _now() -> datetime:
    return datetime.now(UTC)


def _lost(status: str, error: str) -> RunResult:
    return RunResult(status=status, error=error, cells_done=0, cells_total=0,
                     duration_s=0.0, outputs={})


class TickReport(NamedTuple):
    """Run ids touched by one tick."""

    claimed: list[int]
    finished: list[int]
    started: list[int]


FOLLOW_SECONDS = 0.2  # how often running runs are followed between full ticks
SWEEP_SECONDS = 3600.0  # how often ended runs' scratch folders are swept


class Scheduler:
    """Needs: ``engine`` (migrated), an ``executor``, ``config()`` (the current admin
    config), ``fetch(key) -> bytes`` for pinned notebooks, ``publish(run, result) ->
    {name: object key}`` to keep outputs, ``workdir_root`` for run folders and the
    ``broker_url`` runs reach the broker at (``ASSAY_BROKER_URL``)."""

    def __init__(self, engine: Engine, executor: Executor, *,
                 config: Callable[[], AssayConfig], fetch: Callable[[str], bytes],
                 publish: Publish, workdir_root: Path, broker_url: str | None = None,
                 secrets: SecretStore | None = None, notifier: Notifier | None = None,
                 gpu_ledger: GPULedger | None = None, grace_s: float = 60.0,
                 start_grace_s: float = 120.0, timeout_grace_s: float = 60.0,
                 clock: Callable[[], datetime] = _now):
        self.store = JobStore(engine)
        self.sessions = SessionStore(engine)
        self.executor = executor
        self.config, self.fetch, self.publish = config, fetch, publish
        self.workdir_root = Path(workdir_root)
        self.broker_url, self.secrets, self.notifier = broker_url, secrets, notifier
        self.gpus = RunGPUs(engine, gpu_ledger)  # local mode; shared with the hub
        self.grace_s, self.start_grace_s = grace_s, start_grace_s
        self._next_slots = NextSlots()  # skips croniter while no slot can be due
        self.timeout_grace_s = timeout_grace_s
        self.clock = clock
        self._wake = threading.Event()

    # -- the loop --------------------------------------------------------------------

    def tick(self, now: datetime | None = None) -> TickReport:
        now = utc(now or self.clock())
        return TickReport(self.claim_due(now), self.follow(now), self.dispatch(now))

    def recover(self, now: datetime | None = None) -> list[int]:
        """At start-up: adopt, finalize or interrupt runs left ``running``; returns the
        ids finalized."""
        now = utc(now or self.clock())
        running = self.store.runs_with_status(RunStatus.RUNNING)
        finished = self.follow(now)
        self.gpus.release_ended(
            lambda: {r.id for r in self.store.runs_with_status(RunStatus.RUNNING)})
        adopted = [r.id for r in running if r.id not in finished]
        if running:
            log.info("recovery: %d run(s) finalized, %d adopted", len(finished), len(adopted))
        return finished

    def serve(self, stop: threading.Event) -> None:
        """``recover()``, then ``tick()`` every ``jobs.tick_seconds`` until ``stop``."""
        self.recover()
        last_claim = last_sweep = float("-inf")
        while not stop.is_set():
            interval = self.config().jobs.tick_seconds
            try:
                if time.monotonic() - last_claim >= interval:
                    last_claim = time.monotonic()
                    self.tick()
                if time.monotonic() - last_sweep >= SWEEP_SECONDS:
                    last_sweep = time.monotonic()
                    self.sweep_folders()
                else:  # between full ticks, only follow and start runs (cheap)
                    now = utc(self.clock())
                    self.follow(now)
                    self.dispatch(now)
            except Exception:  # a bad pass must not end the scheduler
                log.exception("scheduler tick failed")
            busy = self.store.runs_with_status(RunStatus.RUNNING, RunStatus.QUEUED)
            self._wake.wait(min(FOLLOW_SECONDS, interval) if busy else interval)
            self._wake.clear()

    def sweep_folders(self, now: datetime | None = None) -> list[int]:
        """Delete the scratch folders of runs that ended ``jobs.keep_run_folders_hours``
        ago (their outputs stay in the object store); the ids of those runs."""
        keep = timedelta(hours=self.config().jobs.keep_run_folders_hours)
        return sweep(self.store, self.workdir_root, keep, utc(now or self.clock()))

    def wake(self) -> None:
        """Tick now instead of at the next interval (a run was queued)."""
        self._wake.set()

    # -- 1. claim --------------------------------------------------------------------

    def claim_due(self, now: datetime) -> list[int]:
        claimed = []
        jobs = self.store.scheduled_jobs()
        self._next_slots.keep_only({job.id for job in jobs})
        for job in jobs:
            try:
                claimed += self._claim_job(job, now)
            except Exception:
                log.exception("claiming the slots of job %d failed", job.id)
        return claimed

    def _claim_job(self, job: Job, now: datetime) -> list[int]:
        assert job.schedule is not None
        if self._next_slots.nothing_due(job.id, job.schedule, job.timezone,
                                        job.last_slot or job.created_at, now):
            return []
        due = due_slots(job.schedule, check_timezone(job.timezone),
                        after=job.last_slot or job.created_at, now=now,
                        catchup=job.catchup, grace_s=self.grace_s)
        claimed = []
        for slot in due.slots:
            run = self.store.claim_slot(job, slot, now)
            if run is not None:
                claimed.append(run.id)
                log.info("job %d: slot %s claimed as run %d", job.id, slot.isoformat(), run.id)
        if due.considered is not None:
            self.store.advance_last_slot(job.id, due.considered)
        return claimed

    # -- 2. follow -------------------------------------------------------------------

    def follow(self, now: datetime) -> list[int]:
        """Progress and results of running runs; the ids finalized by this call."""
        finished = []
        for run in self.store.runs_with_status(RunStatus.RUNNING):
            try:
                result = self._observe(run, now)
                if result is not None and self._finalize(run, result, now):
                    finished.append(run.id)
            except Exception:
                log.exception("following run %d failed", run.id)
        return finished

    def _observe(self, run: Run, now: datetime) -> RunResult | None:
        if run.executor_ref is None:
            started = run.started_at or run.created_at
            if now - started < timedelta(seconds=self.start_grace_s):
                return None  # being started, perhaps by another scheduler
            ref = self.executor.find(str(run.id), run.workdir or "")
            if ref is None or not self.store.update_run(run.id, executor_ref=ref):
                return _lost("interrupted", "The service stopped while starting the run.")
            log.info("run %d: launched before the service stopped; adopted as %s", run.id, ref)
            run = dataclasses.replace(run, executor_ref=ref)
        try:
            result = self.executor.poll(run.executor_ref)
        except ExecutorError as exc:  # the executor says it cannot know this run
            log.warning("run %d: executor cannot follow %r: %s", run.id, run.executor_ref,
                        exc.log_detail)
            return _lost("interrupted", "The executor lost the run.")
        except Exception:  # perhaps passing (an API hiccup): ask again next tick
            log.exception("run %d: polling failed", run.id)
            return self._deadline(run, now)
        if result is not None:
            return result
        self._progress(run)
        return self._deadline(run, now)

    def _progress(self, run: Run) -> None:
        try:
            done, total = self.executor.progress(run.executor_ref or "")
        except Exception:
            return
        if (done, total) != (run.cells_done, run.cells_total):
            self.store.update_run(run.id, cells_done=done, cells_total=total)

    def _deadline(self, run: Run, now: datetime) -> RunResult | None:
        job = self.store.job(run.job_id)
        if job is None or job.timeout_s is None or run.started_at is None:
            return None
        limit = timedelta(seconds=job.timeout_s + self.timeout_grace_s)
        if now - run.started_at <= limit:
            return None
        stopped = self._stop(run)
        error = f"The run exceeded its time limit of {job.timeout_s} s."
        return dataclasses.replace(stopped, status="timed_out", error=error)

    def _stop(self, run: Run) -> RunResult:
        """Cancel at the executor; its result (outputs so far) if it has one."""
        try:
            self.executor.cancel(run.executor_ref or "")
            result = self.executor.poll(run.executor_ref or "")
        except Exception as exc:
            log.warning("run %d: cancel failed: %s", run.id, exc)
            result = None
        return result or _lost("cancelled", "The run was cancelled.")

    def _finalize(self, run: Run, result: RunResult, now: datetime) -> bool:
        """Store the end of ``run``; False if another scheduler did it first."""
        job = self.store.job(run.job_id)
        status = RunStatus(result.status)
        expected = run.status  # as observed: only that state may end this way
        run = self.store.run(run.id) or run  # session id and workdir set while starting
        if run.status != expected:
            return False
        outputs = self._publish(run, result)
        metrics = [(str(m["name"]), float(m["value"])) for m in result.metrics] or None
        drift = self._drift(job, run, status, metrics)
        retry_at = self._retry_at(job, run, status, now)
        won, retry = self.store.finish(
            run, status, now, expected=expected, retry_at=retry_at, metrics=metrics,
            error=result.error, cells_done=result.cells_done, cells_total=result.cells_total,
            outputs=outputs, drift=drift)
        if not won:
            return False
        self._release(run)
        log.info("run %d %s%s", run.id, status.value,
                 f"; attempt {retry.attempt} as run {retry.id}" if retry else "")
        if job is not None:
            self._notify(job, run.id, status, retry, drift)
        return True

    def _publish(self, run: Run, result: RunResult) -> dict[str, str]:
        if not result.outputs:
            return {}
        try:
            return dict(self.publish(run, result))
        except Exception:
            log.exception("run %d: publishing outputs failed", run.id)
            return {}

    def _drift(self, job: Job | None, run: Run, status: RunStatus,
               metrics: list[tuple[str, float]] | None) -> list[dict[str, Any]] | None:
        if job is None or not job.drift_rules or status != RunStatus.SUCCEEDED:
            return None
        values = dict(metrics) if metrics is not None else self.store.metrics(run.id)
        window = max(rule.window for rule in job.drift_rules)
        history = self.store.metric_history(job.id, {r.metric for r in job.drift_rules},
                                            before_run=run.id, limit=window)
        return evaluate(job.drift_rules, values, history)

    @staticmethod
    def _retry_at(job: Job | None, run: Run, status: RunStatus,
                  now: datetime) -> datetime | None:
        if job is None or status not in RETRYABLE or run.attempt > job.retries:
            return None
        return now + timedelta(seconds=job.retry_backoff_s * 2 ** (run.attempt - 1))

    def _release(self, run: Run) -> None:
        if run.session_id:
            self.sessions.revoke(run.session_id)
        self.gpus.give_back(run.id)

    def _notify(self, job: Job, run_id: int, status: RunStatus, retry: Run | None,
                drift: list[dict[str, Any]] | None) -> None:
        if self.notifier is None or not job.webhook:
            return
        run = self.store.run(run_id)
        if run is None:
            return
        failed = status in FINAL - {RunStatus.SUCCEEDED, RunStatus.CANCELLED}
        if failed and retry is None:
            self.notifier.notify(job.webhook, payload("run.failed", job, run))
        if drift:
            self.notifier.notify(job.webhook, payload("run.drift", job, run, drift=drift))

    # -- 3. dispatch -----------------------------------------------------------------

    def dispatch(self, now: datetime) -> list[int]:
        config = self.config()
        started = []
        for run in self.store.take_queued(now, config.jobs.max_concurrent_runs):
            try:
                if self._start(run, now, config):
                    started.append(run.id)
            except Exception:
                log.exception("starting run %d failed", run.id)
        return started

    def _start(self, run: Run, now: datetime, config: AssayConfig) -> bool:
        job = self.store.job(run.job_id)
        try:
            if job is None:
                raise JobError("The job of this run was deleted.")
            spec = self._spec(job, run, config, now)
            if spec is None:
                return False  # waits for GPUs
            ref = self.executor.start(spec)
        except Exception as exc:  # an AssayError says why; anything else stays in the log
            known = isinstance(exc, AssayError)
            message = exc.user_message if known else "The run could not start (see the log)."
            log.log(logging.WARNING if known else logging.ERROR, "run %d could not start: %s",
                    run.id, exc.log_detail if known else exc, exc_info=not known)
            self._finalize(run, _lost("failed", message), now)
            return False
        if not self.store.update_run(run.id, executor_ref=ref):
            log.info("run %d was cancelled while starting; stopping it", run.id)
            self.executor.cancel(ref)
            return False
        log.info("run %d of job %d started: %s", run.id, job.id, ref)
        return True

    def _spec(self, job: Job, run: Run, config: AssayConfig, now: datetime) -> RunSpec | None:
        profile = config.profile(job.profile)
        if profile is None:
            raise JobError(f"Profile '{job.profile}' no longer exists in the admin config; "
                           "resubmit the job with one of: "
                           + ", ".join(p.slug for p in config.profiles))
        gpus = self.gpus.take(run.id, profile, config)
        if gpus is None:  # not enough free: the run waits
            self.store.requeue(run.id, now + timedelta(seconds=GPU_RETRY_S))
            return None
        workdir = run_folder(self.workdir_root, run.id)
        notebook = pin_notebook(workdir, self.fetch(job.notebook_key), job.notebook_sha256,
                                job.notebook_key)
        values = self._secrets(job, run)
        image = profile.image or (config.kubernetes.image if config.mode == "kubernetes"
                                  else None)
        session_id, token = self.sessions.mint(job.owner, run_server(run.id), profile.slug,
                                               profile.zone, f"job {job.name}", kind="job")
        self.store.update_run(run.id, session_id=session_id, workdir=str(workdir), image=image)
        env = {"ASSAY_SESSION_TOKEN": token, "ASSAY_RUN_ID": str(run.id),
               "ASSAY_JOB_ID": str(job.id)}
        if self.broker_url:
            env["ASSAY_BROKER_URL"] = self.broker_url
        return RunSpec(run_id=str(run.id), job_id=str(job.id), owner=job.owner,
                       notebook=notebook, parameters=for_run(run.parameters), secrets=values,
                       env=env, workdir=workdir, timeout_s=job.timeout_s, profile=profile,
                       gpus=gpus, image=image)

    def _secrets(self, job: Job, run: Run) -> dict[str, str]:
        names = secret_names(run.parameters)
        if not names:
            return {}
        if self.secrets is None:
            raise JobError("This service has no secret store, so secret:// parameters "
                           "cannot be resolved.")
        return self.secrets.resolve(job.owner, names)

    # -- cancel ----------------------------------------------------------------------

    def cancel(self, run_id: int, now: datetime | None = None) -> Run:
        """Cancel a queued or running run (never retried); ``RunNotFound``,
        ``RunNotCancellable`` when it has ended."""
        now = utc(now or self.clock())
        run = self.store.run(run_id)
        if run is None:
            raise RunNotFound(f"No run with id {run_id}.")
        if run.status in FINAL:
            raise RunNotCancellable(f"Run {run_id} has already ended: {run.status.value}.")
        if run.status == RunStatus.QUEUED:
            result = _lost("cancelled", "The run was cancelled before it started.")
        else:
            result = dataclasses.replace(self._stop(run), status="cancelled",
                                         error="The run was cancelled.")
        if not self._finalize(run, result, now):
            latest = self.store.run(run_id)
            if latest is not None and latest.status == RunStatus.RUNNING:
                return self.cancel(run_id, now)  # it started meanwhile: stop it there
        return self.store.run(run_id)  # type: ignore[return-value]
