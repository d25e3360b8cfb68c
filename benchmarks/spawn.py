"""Login-to-server-ready through the REST API: Assay's spawner vs stock JupyterHub.

Both hubs run side by side on loopback; rounds alternate between them so machine
load hits both alike. Each sample is one user's time from the spawn request (with
the user's own token) to the server reported ready by the hub. Target: <= 1.05x.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "support"))

import yaml  # noqa: E402

from hubprocess import HubProcess  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


def bench_config(users: list[str]) -> str:
    config = yaml.safe_load((ROOT / "hub_config" / "assay.yaml").read_text())
    config["groups"]["analytics"] = users
    return yaml.safe_dump(config, sort_keys=False)


def time_spawn(hub: HubProcess, user: str, token: str, profile: str | None) -> float:
    started = time.perf_counter()
    r = hub.request_spawn(user, profile, token=token)
    if r.status_code not in (201, 202):
        raise RuntimeError(f"spawn of {user} refused: {r.status_code} {r.text}")
    hub.wait_ready(user)
    return time.perf_counter() - started


def one_round(hub: HubProcess, tokens: dict[str, str], profile: str | None) -> list[float]:
    samples = [time_spawn(hub, user, token, profile) for user, token in tokens.items()]
    for user in tokens:
        hub.stop_server(user)
    return samples


def main(quick: bool = False, users: int = 3) -> dict:
    rounds = 2 if quick else 6
    names = [f"user{i}" for i in range(users)]
    with tempfile.TemporaryDirectory() as tmp:
        stock = HubProcess(Path(tmp) / "stock", base_url="/", stock=True)
        assay = HubProcess(Path(tmp) / "assay", bench_config(names), base_url="/")
        hubs = {"stock": stock, "assay": assay}
        samples: dict[str, list[float]] = {"stock": [], "assay": []}
        try:
            for hub in hubs.values():
                hub.start()
            for name in names:  # stock allows everyone but needs the users to exist
                stock.api("POST", f"users/{name}")
            tokens = {k: {u: h.user_token(u) for u in names} for k, h in hubs.items()}
            one_round(stock, tokens["stock"], None)  # warm-up of both, not measured
            one_round(assay, tokens["assay"], "cpu-small")
            for i in range(rounds):
                order = ["stock", "assay"] if i % 2 == 0 else ["assay", "stock"]
                for kind in order:
                    profile = "cpu-small" if kind == "assay" else None
                    samples[kind] += one_round(hubs[kind], tokens[kind], profile)
        finally:
            for hub in hubs.values():
                hub.stop()
    result = {
        "benchmark": "spawn: REST request to server ready",
        "users": users, "rounds": rounds,
        "stock_median_s": statistics.median(samples["stock"]),
        "assay_median_s": statistics.median(samples["assay"]),
        "samples": samples,
    }
    result["ratio"] = result["assay_median_s"] / result["stock_median_s"]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "spawn.json").write_text(json.dumps(result, indent=2))
    print(f"spawn: stock median {result['stock_median_s']:.3f}s, "
          f"assay median {result['assay_median_s']:.3f}s, ratio {result['ratio']:.3f}x "
          f"({users} users x {rounds} rounds)")
    return result
