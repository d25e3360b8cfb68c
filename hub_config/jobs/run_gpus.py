"""GPUs of job runs in local mode, taken from the database ledger the hub's spawners
share (``assay.gpu``), so a GPU job and a user's server never get the same device.
In Kubernetes mode the cluster's scheduler places GPU pods instead."""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy.engine import Engine

from ..config.schema import AssayConfig, Profile
from ..errors import GPULedgerBusy
from ..gpu import RUN, GPULedger, NotEnoughGPUs, discover
from .store import run_server

log = logging.getLogger("assay.jobs")


class RunGPUs:
    """``ledger`` None: a ledger on ``engine`` whose inventory follows ``config.gpus``."""

    def __init__(self, engine: Engine, ledger: GPULedger | None = None):
        self.ledger = ledger or GPULedger(engine)
        self._from_config = ledger is None

    def take(self, run_id: int, profile: Profile, config: AssayConfig) -> list[str] | None:
        """GPU ids for the run; None when not enough are free now (the run waits)."""
        if profile.gpus == 0 or config.mode != "local":
            return []
        if self._from_config:
            self.ledger.set_devices(discover(config.gpus))
        try:
            return self.ledger.allocate(run_server(run_id), profile.gpus, RUN)
        except (NotEnoughGPUs, GPULedgerBusy):
            return None

    def give_back(self, run_id: int) -> None:
        try:
            self.ledger.release(run_server(run_id), RUN)
        except Exception:  # kept until the next recovery releases it
            log.exception("run %d: releasing its GPUs failed", run_id)

    def release_ended(self, running: Callable[[], set[int]]) -> None:
        """Recovery: release what runs no longer running hold (they ended while no service
        followed them). The holders are read before ``running()`` is asked: a run that
        allocates in between is running by then and keeps its GPUs."""
        try:
            held = self.ledger.holders(RUN)
            for holder in sorted(held - {run_server(i) for i in running()}):
                ids = self.ledger.release(holder, RUN)
                log.info("recovery: GPUs %s of ended %s released", ",".join(ids), holder)
        except Exception:  # the next start tries again; runs still end and release
            log.exception("recovery: releasing the GPUs of ended runs failed")
