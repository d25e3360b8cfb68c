"""The embedded default: each user's JupyterLab as a local process, sized by its profile."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from jupyterhub import orm
from jupyterhub.spawner import SimpleLocalProcessSpawner
from traitlets import List, Unicode, default

from ..config.schema import Profile, memory_bytes
from ..errors import GPUUnavailable
from ..gpu import SERVER, GPULedger, NotEnoughGPUs, discover
from ..profiles import summary
from .base import AssayProfileMixin

OFFLINE_LAB_ARGS = [
    "--LabApp.news_url=None",
    "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
]
# The server extensions: Assay's (catalog proxy, taint-on-save, export guard) and
# jupyter-server-proxy (the Dask dashboard at proxy/PORT/). A regular install
# enables them through etc/jupyter/jupyter_server_config.d/assay.json; an editable one
# (pip install -e .) does not install data files, so they are named here as well (Jupyter
# Server merges this with the extensions its config files enable).
EXTENSION_ARGS = ["--ServerApp.jpserver_extensions="
                  "{'assay.extensions': True, 'jupyter_server_proxy': True}"]


class AssayLocalSpawner(AssayProfileMixin, SimpleLocalProcessSpawner):
    """A local process per server: profile env and limits, exclusive GPUs, progress events.

    Like ``SimpleLocalProcessSpawner`` it gives no isolation between users: it is
    the single-machine demo and development backend. Production runs on Kubernetes.
    """

    home_dir_template = Unicode(
        config=True,
        help="Home of each user; {username} is expanded. Default: <state_dir>/home/{username}.",
    )

    extra_lab_args = List(
        Unicode(),
        config=True,
        help="Arguments added to every single-user server command line.",
    )

    @default("home_dir_template")
    def _default_home(self) -> str:
        state = Path(self.assay_config().hub.state_dir).resolve()
        return str(state / "home" / "{username}")

    @default("cmd")
    def _default_cmd(self) -> list[str]:
        return [sys.executable, "-m", "jupyterhub.singleuser"]

    @default("default_url")
    def _default_url(self) -> str:
        return "/lab"

    @default("extra_lab_args")
    def _default_lab_args(self) -> list[str]:
        root = ["--ServerApp.allow_root=True"] if os.geteuid() == 0 else []
        return root + OFFLINE_LAB_ARGS + EXTENSION_ARGS

    def get_args(self) -> list[str]:
        return super().get_args() + list(self.extra_lab_args)

    # -- GPUs -----------------------------------------------------------------

    @property
    def ledger(self) -> GPULedger:
        """The hub's ledger on ``database.url`` (shared with the Assay service's jobs);
        opening it releases what servers that no longer run still held."""
        config = self.assay_config()
        ledger = GPULedger.shared(config.database.url,
                                  on_open=lambda opened: _release_stopped(opened, self.user.db))
        ledger.set_devices(discover(config.gpus))
        return ledger

    @property
    def gpu_holder(self) -> str:
        return _holder(self.user.name, self.name)

    assigned_gpus: list[str] = []

    async def _assign_gpus(self, profile: Profile) -> list[str]:
        """Off the event loop: a claim may wait on the database's write lock."""
        ledger = self.ledger  # opened here: its start-up pass uses the hub's db session
        try:
            return await asyncio.to_thread(ledger.allocate, self.gpu_holder, profile.gpus)
        except NotEnoughGPUs as exc:
            error = GPUUnavailable(profile.slug, exc.wanted, exc.free, exc.total,
                                   exc.describe_holders())
            if self.requester_is_admin():
                error.jupyterhub_message = error.admin_message
            raise error from None

    # -- lifecycle ------------------------------------------------------------

    def _apply_profile(self, profile: Profile) -> None:
        self.cpu_limit = profile.cpu.limit
        self.cpu_guarantee = profile.cpu.guarantee
        self.mem_limit = memory_bytes(profile.memory.limit)
        self.mem_guarantee = (memory_bytes(profile.memory.guarantee)
                              if profile.memory.guarantee else None)

    async def start(self) -> Any:
        self.reset_progress()
        profile = self.assay_profile or self.resolve_profile(self.user_options)
        self.assay_profile = profile
        self._apply_profile(profile)
        self.emit_progress(10, f"Profile {profile.display_name} chosen: {summary(profile)}")
        self.assigned_gpus = await self._assign_gpus(profile)
        if self.assigned_gpus:
            self.emit_progress(30, "GPUs assigned: " + ", ".join(self.assigned_gpus))
        try:
            url = await super().start()
        except BaseException:
            await self._release_gpus()
            raise
        self.emit_progress(60, f"Server starting (process {self.pid}); waiting for JupyterLab")
        return url

    async def stop(self, now: bool = False) -> None:
        try:
            await super().stop(now=now)
        finally:
            await self._release_gpus()

    async def _release_gpus(self) -> None:
        ledger = self.ledger
        await asyncio.to_thread(ledger.release, self.gpu_holder)
        self.assigned_gpus = []

    def get_env(self) -> dict[str, str]:
        env = super().get_env()
        profile = self.assay_profile
        if profile is not None:
            env["ASSAY_PROFILE"] = profile.slug
            env["ASSAY_ZONE"] = profile.zone
            env["ASSAY_DASK_WORKERS"] = str(profile.dask_workers)
            env["ASSAY_GPUS"] = str(profile.gpus)
        env["CUDA_VISIBLE_DEVICES"] = ",".join(self.assigned_gpus)
        return env

    # -- state survives hub restarts -----------------------------------------

    def get_state(self) -> dict[str, Any]:
        state = super().get_state()
        if self.assigned_gpus:
            state["gpus"] = list(self.assigned_gpus)
        if self.assay_profile is not None:
            state["profile"] = self.assay_profile.slug
        return state

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        gpus = list(state.get("gpus", []))
        if gpus and self.pid:
            self.assigned_gpus = gpus
            self.ledger.claim(self.gpu_holder, gpus)

    def clear_state(self) -> None:
        super().clear_state()
        if self.assigned_gpus:
            self.ledger.release(self.gpu_holder)
        self.assigned_gpus = []
        self.assay_profile = None


# -- GPU holdings of servers that no longer run ----------------------------------------


def _holder(user: str, server: str) -> str:
    """A server's name in the GPU ledger: ``user`` or ``user:server``."""
    return f"{user}:{server}" if server else user


def _release_stopped(ledger: GPULedger, db: Any) -> None:
    """When the hub opens its ledger (loading the servers that ran before a restart, or
    at its first spawn): release GPUs held by servers JupyterHub's database does not
    list as running. The hub is the only writer of ``server`` holdings and allocates
    only for a server that is already recorded, so this cannot take a live holding;
    servers that stopped while the hub was down are listed and stopped by JupyterHub,
    which releases theirs through ``stop``."""
    query = (db.query(orm.User.name, orm.Spawner.name).join(orm.Spawner.user)
             .filter(orm.Spawner.server_id.isnot(None)))
    running = {_holder(user, server or "") for user, server in query}
    for holder in sorted(ledger.holders(SERVER) - running):
        ledger.release(holder, SERVER)
