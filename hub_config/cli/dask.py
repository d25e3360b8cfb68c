"""``assay dask list`` and ``assay dask delete NAME``: Kubernetes-mode Dask clusters the
Assay service made for notebook servers. Users see and delete theirs; an Assay admin sees
and deletes everyone's (a cluster left behind). Creating one is ``assay.dask.cluster()``
in a notebook. Connection options: ``assay.cli.service``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

from ..jobs.client import JobsClient
from .service import command, table, when

ENDPOINT = ("dask", "clusters")


def _size(cluster: dict[str, Any]) -> str:
    memory = cluster.get("memory_limit")
    gib = f"{memory / 1024**3:.1f} GiB" if isinstance(memory, int) else "-"
    gpus = cluster.get("gpu_workers")
    extra = f" + {gpus} GPU" if gpus else ""
    return (f"{cluster.get('n_workers', '-')} x {cluster.get('threads_per_worker', '-')} "
            f"threads, {gib}{extra}")


def list_clusters(client: JobsClient, args: argparse.Namespace) -> int:
    clusters = client.json("GET", *ENDPOINT).get("clusters") or []
    if args.json:
        print(json.dumps(clusters, indent=1))
        return 0
    if not clusters:
        print("No Dask clusters: assay.dask.cluster() in a notebook on a Dask profile "
              "starts one.")
        return 0
    rows: list[Sequence[object]] = [
        ("NAME", "USER", "SERVER", "PROFILE", "STATUS", "WORKERS", "CREATED")]
    for c in clusters:
        rows.append((c.get("name"), c.get("user"), c.get("server") or "(default)",
                     c.get("profile"), c.get("status"), _size(c), when(c.get("created"))))
    print(table(rows))
    return 0


def delete_cluster(client: JobsClient, args: argparse.Namespace) -> int:
    gone = client.json("DELETE", *ENDPOINT, args.name)
    owner = gone.get("user")
    print(f"Deleted Dask cluster {gone.get('name', args.name)}"
          + (f" of {owner}" if owner else "") + ": its scheduler and workers stop.")
    return 0


def register(sub: Any) -> None:
    """Add ``dask`` to the ``assay`` subparsers ``sub``."""
    dask = sub.add_parser("dask", help="Dask clusters (Kubernetes mode)",
                          description="Dask clusters the Assay service made for notebook "
                                      "servers: yours, or everyone's for an Assay admin.")
    actions = dask.add_subparsers(dest="action", metavar="ACTION", required=True)
    command(actions, "list", list_clusters, "list Dask clusters",
            "List your Dask clusters (an Assay admin: everyone's).", True)
    p = command(actions, "delete", delete_cluster, "delete a Dask cluster",
                "Delete a Dask cluster: its scheduler and workers stop (an Assay admin "
                "may delete anyone's; it is audited).")
    p.add_argument("name", metavar="NAME", help="the cluster's name, from `assay dask list`")
