"""GPUs of local mode: which exist, and who holds them.

- ``inventory``: ``discover`` — the ids from the YAML inventory or ``nvidia-smi``.
- ``allocation``: the rules, pure — who gets which free GPUs, what may be restored,
  ``NotEnoughGPUs`` naming the holders.
- ``ledger``: ``GPULedger`` — the holdings in the database (``assay_gpu_holdings``),
  shared by the hub's spawners (kind ``server``) and the jobs scheduler (kind ``run``).
"""

from .allocation import KINDS, RUN, SERVER, NotEnoughGPUs
from .inventory import discover
from .ledger import GPULedger

__all__ = ["KINDS", "RUN", "SERVER", "GPULedger", "NotEnoughGPUs", "discover"]
