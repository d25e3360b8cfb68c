"""Jobs REST API: submit, list, show, run now, pause/resume, delete, a job's runs.

Owners see and act on their own jobs, admins on every job; anyone else is told the
job does not exist (404), never that it belongs to someone else. A job run's own
credential may only record its run's metrics (``api_runs``). Errors are the
``JobError`` family as JSON ``{"error", "message", "problems"}``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from tornado import web
from tornado.ioloop import IOLoop

from ..errors import (
    BadRequest,
    InvalidJob,
    JobForbidden,
    JobNotFound,
    PayloadTooLarge,
    RunNotFound,
)
from ..jobs.model import Job, JobSpec, Run, RunStatus
from ..jobs.schedule import check_timezone, next_slot
from .api_base import MAX_DEPTH, BrokerHandler, _depth
from .policy import Identity

MAX_SUBMIT = 16 * 1024 * 1024  # POST jobs carries the notebook
MAX_RUNS_PAGE = 200


def _time(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def next_run_at(job: Job, now: datetime | None = None) -> datetime | None:
    """When the scheduler will claim this job's next slot (None: on demand or paused)."""
    if job.schedule is None or job.paused:
        return None
    now = now or datetime.now(UTC)
    after = max(now, job.last_slot) if job.last_slot else now
    return next_slot(job.schedule, check_timezone(job.timezone), after)


def job_json(job: Job, now: datetime | None = None) -> dict[str, Any]:
    return {
        "id": job.id, "owner": job.owner, "name": job.name,
        "notebook_path": job.notebook_path, "notebook_sha256": job.notebook_sha256,
        "parameters": job.parameters, "profile": job.profile, "schedule": job.schedule,
        "timezone": job.timezone, "timeout_s": job.timeout_s, "retries": job.retries,
        "retry_backoff_s": job.retry_backoff_s, "max_concurrency": job.max_concurrency,
        "catchup": job.catchup, "webhook": job.webhook,
        "drift_rules": [r.model_dump() for r in job.drift_rules],
        "paused": job.paused, "created_at": _time(job.created_at),
        "last_slot": _time(job.last_slot), "next_slot": _time(next_run_at(job, now)),
    }


def run_json(run: Run, *, metrics: dict[str, float] | None = None,
             progress: tuple[int, int] | None = None, job: Job | None = None,
             now: datetime | None = None) -> dict[str, Any]:
    """A run as the API shows it; parameters carry secrets as ``secret://name`` only."""
    done, total = progress if progress is not None else (run.cells_done, run.cells_total)
    elapsed = None
    if run.started_at is not None:
        end = run.finished_at or now or datetime.now(UTC)
        elapsed = round((end - run.started_at).total_seconds(), 3)
    out = {
        "id": run.id, "job_id": run.job_id, "slot": _time(run.slot), "attempt": run.attempt,
        "status": run.status.value, "created_at": _time(run.created_at),
        "not_before": _time(run.not_before), "started_at": _time(run.started_at),
        "finished_at": _time(run.finished_at),
        "duration_s": round(run.duration_s, 3) if run.duration_s is not None else None,
        "elapsed_s": elapsed, "cells_done": done, "cells_total": total,
        "parameters": run.parameters, "notebook_sha256": run.notebook_sha256,
        "profile": run.profile, "image": run.image, "error": run.error,
        "outputs": dict(run.outputs), "metrics": metrics if metrics is not None else {},
        "drift": run.drift,
    }
    if job is not None:
        out.update(job_name=job.name, owner=job.owner)
    return out


def path_id(raw: str, kind: str = "job") -> int:
    """A numeric id from the URL (the routes only match digits)."""
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if not 0 < value < 2 ** 63:
        raise (JobNotFound if kind == "job" else RunNotFound)(f"No {kind} with id {raw}.")
    return value


class JobsBase(BrokerHandler):
    """Identity and visibility shared by every jobs endpoint."""

    async def caller(self, action: str = "jobs") -> Identity:
        who = await self.identify(action)
        if who.run_id is not None:
            raise JobForbidden("A job run's credential may only record its own run's "
                               "metrics; use your own token for the jobs API.")
        return who

    async def owner(self, action: str = "jobs") -> Identity:
        """A caller who may own jobs and secrets: a user, not a service."""
        who = await self.caller(action)
        if who.user.startswith("service:"):
            raise JobForbidden("Jobs and secrets belong to users; use a user's token.")
        return who

    def visible_job(self, who: Identity, raw_id: str) -> Job:
        job = self.broker.jobs.job(path_id(raw_id))
        if job is None or not (who.admin or job.owner == who.user):
            raise JobNotFound(f"No job with id {raw_id}.")
        return job

    def visible_run(self, who: Identity, raw_id: str) -> tuple[Run, Job]:
        run = self.broker.jobs.run(path_id(raw_id, "run"))
        job = self.broker.jobs.job(run.job_id) if run is not None else None
        if run is None or job is None or not (who.admin or job.owner == who.user):
            raise RunNotFound(f"No run with id {raw_id}.")
        return run, job

    async def live_progress(self, run: Run) -> tuple[int, int] | None:
        """Cells done/total from the executor while the run executes."""
        executor = self.broker.executor
        if run.status != RunStatus.RUNNING or not run.executor_ref or executor is None:
            return None
        try:
            return await in_thread(executor.progress, run.executor_ref)
        except Exception:
            return None

    async def run_view(self, run: Run, job: Job | None = None) -> dict[str, Any]:
        return run_json(run, metrics=self.broker.jobs.metrics(run.id),
                        progress=await self.live_progress(run), job=job)


async def in_thread(fn: Any, *args: Any, **kwargs: Any) -> Any:
    return await IOLoop.current().run_in_executor(None, lambda: fn(*args, **kwargs))


def _notebook_bytes(value: object) -> bytes:
    """The submitted ``.ipynb``: a JSON object (or its text), as the bytes to pin."""
    if isinstance(value, str):
        return value.encode("utf-8")
    if not isinstance(value, dict):
        raise InvalidJob(["notebook: required: the .ipynb file's JSON object, got "
                          + ("nothing" if value is None else type(value).__name__)])
    try:
        return (json.dumps(value, indent=1, ensure_ascii=False) + "\n").encode("utf-8")
    except (RecursionError, ValueError):
        raise InvalidJob(["notebook: nested too deeply to store"]) from None


def parse_submit(raw: bytes) -> tuple[dict[str, Any], bytes]:
    """``(job fields, notebook bytes)`` of a submit body."""
    try:
        body = json.loads(raw or b"{}")
    except RecursionError:
        raise BadRequest("Request body nested too deeply.") from None
    except ValueError:
        raise BadRequest("Request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise BadRequest("Request body must be a JSON object.")
    notebook = _notebook_bytes(body.pop("notebook", None))
    if _depth(body) > MAX_DEPTH:
        raise BadRequest(f"Job fields nested deeper than {MAX_DEPTH} levels.")
    return body, notebook


@web.stream_request_body
class JobsHandler(JobsBase):
    """``GET jobs``: yours (admins: all). ``POST jobs``: submit (body up to 16 MiB)."""

    max_body = MAX_SUBMIT

    async def prepare(self) -> None:
        self._chunks: list[bytes] = []
        self._size = 0
        if self.request.method == "POST":
            self.request.connection.set_max_body_size(MAX_SUBMIT + 1)
        await super().prepare()

    def data_received(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size <= MAX_SUBMIT:
            self._chunks.append(chunk)

    async def get(self) -> None:
        who = await self.caller()
        jobs = self.broker.jobs.jobs(None if who.admin else who.user)
        views = []
        for job in jobs:
            view = job_json(job)
            last = self.broker.jobs.runs(job.id, limit=1)
            view["last_run"] = await self.run_view(last[0]) if last else None
            views.append(view)
        self.write_json({"jobs": views})

    async def post(self) -> None:
        who = await self.owner("submit-job")
        if self._size > MAX_SUBMIT:
            raise PayloadTooLarge(f"Request body larger than {MAX_SUBMIT} bytes.")
        fields, notebook = await in_thread(parse_submit, b"".join(self._chunks))
        self._chunks = []
        spec = JobSpec.parse(fields)
        broker = self.broker
        job, run = await in_thread(broker.jobs.submit, who.user, spec, notebook,
                                   broker.objects.put, config=broker.config(),
                                   groups=who.groups)
        if run is not None and broker.scheduler is not None:
            broker.scheduler.wake()  # start it now, not at the next tick
        self.write_json({"job": job_json(job),
                         "run": run_json(run, job=job) if run is not None else None}, 201)


class JobHandler(JobsBase):
    async def get(self, job_id: str) -> None:
        job = self.visible_job(await self.caller(), job_id)
        view = job_json(job)
        last = self.broker.jobs.runs(job.id, limit=1)
        view["last_run"] = await self.run_view(last[0]) if last else None
        self.write_json(view)

    async def delete(self, job_id: str) -> None:
        job = self.visible_job(await self.caller(), job_id)
        self.broker.jobs.delete_job(job.id)
        self.set_status(204)
        self.finish()


class JobRunsHandler(JobsBase):
    """``GET jobs/{id}/runs?limit=&before=``: newest first. ``POST``: run now."""

    async def get(self, job_id: str) -> None:
        job = self.visible_job(await self.caller(), job_id)
        try:
            limit = int(self.get_query_argument("limit", "50"))
            before = self.get_query_argument("before", None)
            before_id = int(before) if before else None
        except ValueError:
            raise BadRequest("'limit' and 'before' must be whole numbers.") from None
        runs = self.broker.jobs.runs(job.id, limit=max(1, min(limit, MAX_RUNS_PAGE)),
                                     before_id=before_id)
        self.write_json({"runs": [await self.run_view(r) for r in runs]})

    async def post(self, job_id: str) -> None:
        job = self.visible_job(await self.caller(), job_id)
        run = self.broker.jobs.queue_run(job)
        if self.broker.scheduler is not None:
            self.broker.scheduler.wake()
        self.write_json({"run": run_json(run, job=job)}, 201)


class JobPauseHandler(JobsBase):
    """``POST jobs/{id}/pause`` and ``POST jobs/{id}/resume``."""

    async def post(self, job_id: str, action: str) -> None:
        job = self.visible_job(await self.caller(), job_id)
        job = self.broker.jobs.set_paused(job.id, action == "pause")
        self.write_json({"job": job_json(job)})
