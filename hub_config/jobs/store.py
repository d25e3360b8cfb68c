"""Jobs, runs and metrics in the database (SQLite or PostgreSQL).

Exactly once per slot: ``claim_slot`` inserts a slot's first attempt, and the unique
``(job_id, slot, attempt)`` makes any second claim (another scheduler, a restarted one)
fail harmlessly. Every state change is a guarded update (``WHERE status = ...``), so of
two schedulers racing for the same run one wins and the other does nothing. Writes run
in ``BEGIN IMMEDIATE`` on SQLite; dispatch also takes a PostgreSQL advisory lock, so the
global and per-job limits hold across scheduler processes.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import defaultdict
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from ..config.schema import AssayConfig
from ..db.engine import IMMEDIATE
from ..db.models import JobDefinition, JobRun, RunMetric
from ..errors import InvalidJob, InvalidMetric, JobExists, JobNotFound
from .model import METRIC_NAME, DriftRule, Job, JobSpec, Run, RunStatus
from .notify import check_webhook
from .params import validate_for_notebook
from .schedule import utc

RUN_SERVER_PREFIX = "job-run:"  # the ``server`` of a run's broker credential
MAX_NOTEBOOK_BYTES = 32 * 1024 * 1024
_DISPATCH_LOCK = 0x6A6F6273  # "jobs": PostgreSQL advisory lock of the dispatcher
_RUN_TIMES = ("slot", "not_before", "created_at", "started_at", "finished_at")


def run_server(run_id: int) -> str:
    return f"{RUN_SERVER_PREFIX}{run_id}"


def run_id_of_server(server: str) -> int | None:
    """The run a credential's ``server`` names (``job-run:42`` → 42), else None."""
    if not server.startswith(RUN_SERVER_PREFIX):
        return None
    number = server[len(RUN_SERVER_PREFIX):]
    return int(number) if number.isdigit() else None


def notebook_key(digest: str) -> str:
    """Where a pinned notebook is stored: content-addressed by its sha256."""
    return f"jobs/notebooks/{digest}.ipynb"


def _aware(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


def _job(row: Any) -> Job:
    return Job(
        id=row.id, owner=row.owner, name=row.name, notebook_key=row.notebook_key,
        notebook_sha256=row.notebook_sha256, notebook_path=row.notebook_path,
        parameters=dict(row.parameters or {}), profile=row.profile, schedule=row.schedule,
        timezone=row.timezone, timeout_s=row.timeout_s, retries=row.retries,
        retry_backoff_s=row.retry_backoff_s, max_concurrency=row.max_concurrency,
        catchup=row.catchup, webhook=row.webhook,
        drift_rules=[DriftRule.model_validate(r) for r in row.drift_rules or []],
        created_at=utc(row.created_at), paused=bool(row.paused),
        last_slot=_aware(row.last_slot))


def _run(row: Any) -> Run:
    values = {c: getattr(row, c) for c in Run.__dataclass_fields__}
    values.update({name: _aware(values[name]) for name in _RUN_TIMES})
    values.update(status=RunStatus(row.status), parameters=dict(row.parameters or {}),
                  outputs=dict(row.outputs or {}))
    return Run(**values)


def _usable_profile(config: AssayConfig, slug: str, owner: str,
                    groups: Collection[str]) -> None:
    usable = [p.slug for p in config.profiles if not p.groups or set(p.groups) & set(groups)]
    if slug not in usable:
        problem = (f"'{slug}' is not open to {owner}" if config.profile(slug)
                   else f"no profile '{slug}'")
        raise InvalidJob([f"profile: {problem}; profiles {owner} may use: "
                          f"{', '.join(usable) or '(none)'}"])


class JobStore:
    """Jobs in ``engine``'s database (migrated by ``assay.db.upgrade``)."""

    def __init__(self, engine: Engine):
        self._engine = engine

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._engine.connect().execution_options(**IMMEDIATE) as conn, conn.begin():
            yield conn

    def _read(self, query: Any) -> list[Any]:
        with self._engine.connect() as conn:
            return conn.execute(query).all()

    # -- jobs ------------------------------------------------------------------------

    def submit(self, owner: str, spec: JobSpec, notebook: bytes,
               put: Callable[[str, bytes], Any], *, config: AssayConfig,
               groups: Collection[str], now: datetime | None = None) -> tuple[Job, Run | None]:
        """Validate against the notebook and the admin config, pin the notebook (its
        bytes go to ``put(key, bytes)``), store the job; an on-demand job (no schedule)
        gets its run queued at once. Raises ``InvalidJob``, ``InvalidParameters``,
        ``WebhookRefused`` or ``JobExists``, each naming what is wrong."""
        now = utc(now or datetime.now(UTC))
        if not isinstance(notebook, bytes) or len(notebook) > MAX_NOTEBOOK_BYTES:
            raise InvalidJob([f"notebook: must be at most {MAX_NOTEBOOK_BYTES} bytes"])
        _usable_profile(config, spec.profile, owner, groups)
        if spec.webhook:
            check_webhook(spec.webhook, config.jobs.webhook_hosts)
        parameters = validate_for_notebook(spec.parameters, notebook)
        if self.job_named(owner, spec.name) is not None:
            raise JobExists(f"name: {owner} already has a job named '{spec.name}'; choose "
                            "another name or delete that job first")
        digest = hashlib.sha256(notebook).hexdigest()
        put(notebook_key(digest), notebook)
        return self._insert_job(owner, spec, digest, parameters, now)

    def _insert_job(self, owner: str, spec: JobSpec, digest: str,
                    parameters: dict[str, Any], now: datetime) -> tuple[Job, Run | None]:
        """The job and, on demand, its first run: in one transaction."""
        row = {**spec.model_dump(exclude={"drift_rules"}), "parameters": parameters,
               "drift_rules": [r.model_dump() for r in spec.drift_rules], "owner": owner,
               "notebook_key": notebook_key(digest), "notebook_sha256": digest,
               "created_at": now, "last_slot": None}
        run_id = None
        try:
            with self._write() as conn:
                job_id = conn.execute(insert(JobDefinition).values(row)).inserted_primary_key[0]
                if spec.schedule is None:
                    job = _job(conn.execute(select(JobDefinition).where(
                        JobDefinition.id == job_id)).one())
                    run_row = self._new_run(job, job_id=job_id, slot=None, attempt=1, now=now,
                                            not_before=now)
                    run_id = conn.execute(insert(JobRun).values(run_row)).inserted_primary_key[0]
        except IntegrityError:
            raise JobExists(f"name: {owner} already has a job named '{spec.name}'") from None
        return self.job(job_id), (self.run(run_id) if run_id else None)  # type: ignore[return-value]

    def job(self, job_id: int) -> Job | None:
        rows = self._read(select(JobDefinition).where(JobDefinition.id == job_id))
        return _job(rows[0]) if rows else None

    def job_named(self, owner: str, name: str) -> Job | None:
        rows = self._read(select(JobDefinition).where(JobDefinition.owner == owner,
                                                      JobDefinition.name == name))
        return _job(rows[0]) if rows else None

    def jobs(self, owner: str | None = None) -> list[Job]:
        """Every job (of ``owner``), oldest first."""
        query = select(JobDefinition).order_by(JobDefinition.id)
        if owner is not None:
            query = query.where(JobDefinition.owner == owner)
        return [_job(r) for r in self._read(query)]

    def scheduled_jobs(self) -> list[Job]:
        """Jobs with a schedule that is not paused."""
        query = select(JobDefinition).where(JobDefinition.schedule.is_not(None),
                                            JobDefinition.paused.is_(False))
        return [_job(r) for r in self._read(query.order_by(JobDefinition.id))]

    def set_paused(self, job_id: int, paused: bool, now: datetime | None = None) -> Job:
        """Pause (no new slots are claimed; queued runs still start) or resume. Slots
        that fell while paused are skipped whatever ``catchup`` says: the schedule
        resumes from ``now``."""
        with self._write() as conn:
            done = conn.execute(update(JobDefinition).where(JobDefinition.id == job_id)
                                .values(paused=paused)).rowcount
        if not done:
            raise JobNotFound(f"No job with id {job_id}.")
        if not paused:
            self.advance_last_slot(job_id, now or datetime.now(UTC))
        return self.job(job_id)  # type: ignore[return-value]

    def delete_job(self, job_id: int) -> bool:
        """Delete a job with its runs and metrics; refused while a run executes."""
        with self._write() as conn:
            runs = select(JobRun.id).where(JobRun.job_id == job_id)
            if conn.execute(runs.where(JobRun.status == RunStatus.RUNNING)).first():
                raise JobExists("The job has a run executing; cancel it first.")
            conn.execute(delete(RunMetric).where(RunMetric.run_id.in_(runs)))
            conn.execute(delete(JobRun).where(JobRun.job_id == job_id))
            return conn.execute(delete(JobDefinition).where(JobDefinition.id == job_id)
                                ).rowcount > 0

    def advance_last_slot(self, job_id: int, slot: datetime) -> bool:
        """Move ``last_slot`` forward to ``slot`` (never back)."""
        slot = utc(slot)
        statement = update(JobDefinition).where(
            JobDefinition.id == job_id,
            (JobDefinition.last_slot.is_(None)) | (JobDefinition.last_slot < slot),
        ).values(last_slot=slot)
        with self._write() as conn:
            return conn.execute(statement).rowcount > 0

    # -- runs --------------------------------------------------------------------------

    @staticmethod
    def _new_run(job: Job | Run, *, job_id: int, slot: datetime | None, attempt: int,
                 now: datetime, not_before: datetime) -> dict[str, Any]:
        return {"job_id": job_id, "slot": slot, "attempt": attempt,
                "status": RunStatus.QUEUED.value, "not_before": not_before,
                "created_at": now, "parameters": job.parameters,
                "notebook_sha256": job.notebook_sha256, "profile": job.profile,
                "cells_done": 0, "cells_total": 0, "outputs": {}}

    def claim_slot(self, job: Job, slot: datetime, now: datetime) -> Run | None:
        """Queue the first attempt of ``slot``; None if it was claimed before."""
        row = self._new_run(job, job_id=job.id, slot=utc(slot), attempt=1, now=utc(now),
                            not_before=utc(now))
        try:
            with self._write() as conn:
                run_id = conn.execute(insert(JobRun).values(row)).inserted_primary_key[0]
        except IntegrityError:
            return None
        return self.run(run_id)

    def queue_run(self, job: Job, now: datetime | None = None) -> Run:
        """An on-demand run of ``job`` (no slot), queued now."""
        now = utc(now or datetime.now(UTC))
        row = self._new_run(job, job_id=job.id, slot=None, attempt=1, now=now, not_before=now)
        with self._write() as conn:
            run_id = conn.execute(insert(JobRun).values(row)).inserted_primary_key[0]
        return self.run(run_id)  # type: ignore[return-value]

    def run(self, run_id: int) -> Run | None:
        rows = self._read(select(JobRun).where(JobRun.id == run_id))
        return _run(rows[0]) if rows else None

    def runs(self, job_id: int, *, limit: int = 50, before_id: int | None = None) -> list[Run]:
        """A job's runs, newest first (page with ``before_id``)."""
        query = select(JobRun).where(JobRun.job_id == job_id)
        if before_id is not None:
            query = query.where(JobRun.id < before_id)
        return [_run(r) for r in self._read(query.order_by(JobRun.id.desc()).limit(limit))]

    def runs_with_status(self, *statuses: RunStatus) -> list[Run]:
        query = select(JobRun).where(JobRun.status.in_([s.value for s in statuses]))
        return [_run(r) for r in self._read(query.order_by(JobRun.id))]

    def take_queued(self, now: datetime, max_running: int) -> list[Run]:
        """Mark due queued runs ``running`` within the global limit and each job's
        ``max_concurrency``, oldest first; the caller then starts them."""
        now = utc(now)
        with self._write() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _DISPATCH_LOCK})
            busy = dict(conn.execute(select(JobRun.job_id, func.count()).where(
                JobRun.status == RunStatus.RUNNING).group_by(JobRun.job_id)).all())
            free = max_running - sum(busy.values())
            if free <= 0:
                return []
            due = conn.execute(
                select(JobRun.id, JobRun.job_id, JobDefinition.max_concurrency)
                .join(JobDefinition, JobDefinition.id == JobRun.job_id)
                .where(JobRun.status == RunStatus.QUEUED, JobRun.not_before <= now)
                .order_by(JobRun.not_before, JobRun.id).limit(max(free * 20, 100))).all()
            chosen = _within_limits(due, busy, free)
            if chosen:  # a run cancelled meanwhile is no longer queued: RETURNING skips it
                chosen = sorted(conn.execute(update(JobRun).where(
                    JobRun.id.in_(chosen), JobRun.status == RunStatus.QUEUED,
                ).values(status=RunStatus.RUNNING.value, started_at=now)
                    .returning(JobRun.id)).scalars())
        return [r for r in (self.run(i) for i in chosen) if r is not None]

    def update_run(self, run_id: int, **values: Any) -> bool:
        """Set fields of a run that is still running (ref, workdir, session, progress…);
        False if it is not running any more."""
        with self._write() as conn:
            return conn.execute(update(JobRun).where(
                JobRun.id == run_id, JobRun.status == RunStatus.RUNNING,
            ).values(**values)).rowcount > 0

    def requeue(self, run_id: int, not_before: datetime) -> bool:
        """Put a run that could not start yet (no free GPU) back in the queue."""
        return self._set_status(run_id, RunStatus.RUNNING, status=RunStatus.QUEUED.value,
                                started_at=None, not_before=utc(not_before))

    def _set_status(self, run_id: int, expected: RunStatus, **values: Any) -> bool:
        with self._write() as conn:
            return conn.execute(update(JobRun).where(
                JobRun.id == run_id, JobRun.status == expected.value,
            ).values(**values)).rowcount > 0

    def finish(self, run: Run, status: RunStatus, now: datetime, *,
               expected: RunStatus = RunStatus.RUNNING, retry_at: datetime | None = None,
               metrics: list[tuple[str, float]] | None = None,
               **values: Any) -> tuple[bool, Run | None]:
        """End ``run`` with ``status`` and ``values`` if it is still ``expected``; with
        ``retry_at``, queue the next attempt in the same transaction. ``metrics``
        replace the ones stored live. Returns (this call ended it, the retry run)."""
        now = utc(now)
        with self._write() as conn:
            done = conn.execute(update(JobRun).where(
                JobRun.id == run.id, JobRun.status == expected.value,
            ).values(status=status.value, finished_at=now, **values)).rowcount
            if not done:
                return False, None
            if metrics is not None:
                self._replace_metrics(conn, run.id, metrics, now)
            retry_id = None
            if retry_at is not None:
                row = self._new_run(run, job_id=run.job_id, slot=run.slot,
                                    attempt=run.attempt + 1, now=now, not_before=utc(retry_at))
                retry_id = conn.execute(insert(JobRun).values(row)).inserted_primary_key[0]
        return True, (self.run(retry_id) if retry_id is not None else None)

    # -- metrics -----------------------------------------------------------------------

    @staticmethod
    def _replace_metrics(conn: Connection, run_id: int, metrics: list[tuple[str, float]],
                         now: datetime) -> None:
        conn.execute(delete(RunMetric).where(RunMetric.run_id == run_id))
        rows = [{"run_id": run_id, "name": n, "value": v, "recorded_at": now}
                for n, v in metrics]
        if rows:
            conn.execute(insert(RunMetric), rows)

    def record_metric(self, run_id: int, name: str, value: float,
                      now: datetime | None = None) -> None:
        """Store a metric of a running run (the broker's ``POST runs/{id}/metrics``)."""
        if not isinstance(name, str) or not re.fullmatch(METRIC_NAME, name):
            raise InvalidMetric(f"name: must be 1-64 ASCII letters, digits, '_', '.' and "
                                f"'-', got {name!r}")
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(
                value):
            raise InvalidMetric(f"value: must be a finite number, got {value!r}")
        row = {"run_id": run_id, "name": name, "value": float(value),
               "recorded_at": utc(now or datetime.now(UTC))}
        with self._write() as conn:
            status = conn.execute(select(JobRun.status).where(JobRun.id == run_id)).scalar()
            if status != RunStatus.RUNNING:
                raise InvalidMetric(f"run {run_id} is not running; metrics are recorded "
                                    "while a run executes")
            conn.execute(insert(RunMetric).values(row))

    def metrics(self, run_id: int) -> dict[str, float]:
        """The run's metrics, the last value of each name."""
        query = select(RunMetric.name, RunMetric.value).where(
            RunMetric.run_id == run_id).order_by(RunMetric.id)
        return {name: value for name, value in self._read(query)}

    def metric_history(self, job_id: int, names: Collection[str], *, before_run: int,
                       limit: int) -> dict[str, list[float]]:
        """Each metric's value in the job's last ``limit`` succeeded runs before
        ``before_run`` that recorded it, oldest first."""
        query = (select(RunMetric.run_id, RunMetric.name, RunMetric.value)
                 .join(JobRun, JobRun.id == RunMetric.run_id)
                 .where(JobRun.job_id == job_id, JobRun.id < before_run,
                        JobRun.status == RunStatus.SUCCEEDED, RunMetric.name.in_(list(names)))
                 .order_by(RunMetric.run_id, RunMetric.id))
        per_run: dict[str, dict[int, float]] = defaultdict(dict)
        for run_id, name, value in self._read(query):
            per_run[name][run_id] = value  # the last value a run recorded
        return {name: list(values.values())[-limit:] for name, values in per_run.items()}


def _within_limits(due: list[Any], busy: dict[int, int], free: int) -> list[int]:
    """Run ids to start: oldest first, at most ``free``, each job under its limit."""
    running = dict(busy)
    chosen = []
    for run_id, job_id, limit in due:
        if len(chosen) >= free:
            break
        if running.get(job_id, 0) < limit:
            chosen.append(run_id)
            running[job_id] = running.get(job_id, 0) + 1
    return chosen
