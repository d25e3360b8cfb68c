"""``models-list``: listing and searching the model registry with 10,000 versions.

One Assay hub from the demo config runs on loopback with its Assay service. 10,000
ready versions (100 models x 100 versions, each with two files and one input dataset;
``--quick``: 20 models, 2,000 versions) are inserted directly through the registry's
store (``ModelStore.create_version`` / ``record_upload`` / ``commit``, as the service
does) into the service's database. Then, through the real service with ``bob``'s hub
token (identity resolved by the hub, cached 2 s, as for the CLI and the page), one
keep-alive client issues the patterns below in rotation, one request at a time:

``whoami``     ``GET whoami``: identity only, the baseline of the same service.
``list``       ``GET models`` (first page of 50).
``q-name``     ``GET models?q=<one model's name>``: one hit.
``q-desc``     ``GET models?q=tissue``: a word in 1 model in 10's description.
``q-none``     ``GET models?q=no-such-thing``: no hit (the whole table is matched).
``show``       ``GET models/{name}``: a model with its newest 100 versions (files, lineage,
               aliases) and pending approvals.
``latest``     ``GET models/{name}/versions/latest``.

Target: p50 <= 50 ms for list/search and show; ratios against ``whoami`` are reported.
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

import httpx  # noqa: E402

from assay.db import make_engine  # noqa: E402
from assay.registry import Registry  # noqa: E402
from assay.registry.rules import Input, check_registration  # noqa: E402
from hubprocess import HubProcess  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
DEMO = ROOT / "hub_config" / "assay.yaml"
MODELS, QUICK_MODELS, PER_MODEL = 100, 20, 100
SAMPLES, QUICK_SAMPLES = 200, 40
TARGET_MS = 50.0
SHA = "ab" * 32


def populate(registry: Registry, models: int) -> float:
    """``models`` x ``PER_MODEL`` ready versions; seconds per version."""
    started = time.perf_counter()
    for m in range(models):
        name = f"model-{m:03d}"
        words = "tissue classifier" if m % 10 == 0 else "churn regression"
        for v in range(PER_MODEL):
            reg = check_registration({
                "flavor": "skops", "description": f"{words} v{v}", "metrics": {"auc": 0.8},
                "params": {"C": v}, "files": [{"path": "model.skops", "size": 1000},
                                              {"path": "columns.json", "size": 10}]},
                2**31, 2**33)
            version = registry.models.create_version(
                name, reg, registrant="alice",
                inputs=[Input("omics-expression-atlas", "internal")],
                classification="internal", run_id=None, session_id=None, kernel_id=None)
            for f in version.files:
                registry.models.record_upload(version.id, f.path, f.size, SHA)
            registry.models.commit(version.id, {f.path: SHA for f in version.files})
        registry.aliases.set(registry.models.model(name).id, "staging", PER_MODEL, "alice")
    return (time.perf_counter() - started) / (models * PER_MODEL)


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def measure(client: httpx.Client, patterns: dict[str, str], samples: int
            ) -> dict[str, list[float]]:
    """Each pattern ``samples`` times, rotating the order every round; 5 warm-ups each."""
    names = list(patterns)
    out: dict[str, list[float]] = {n: [] for n in names}
    for round_no in range(samples + 5):
        shift = round_no % len(names)
        for name in names[shift:] + names[:shift]:
            started = time.perf_counter()
            r = client.get(patterns[name])
            took = time.perf_counter() - started
            if r.status_code != 200:
                raise RuntimeError(f"{name}: {r.status_code} {r.text[:300]}")
            if round_no >= 5:
                out[name].append(took)
    return out


def listing(quick: bool = False) -> dict:
    models = QUICK_MODELS if quick else MODELS
    samples = QUICK_SAMPLES if quick else SAMPLES
    with tempfile.TemporaryDirectory(prefix="assay-bench-models-") as tmp:
        work = Path(tmp)
        hub = HubProcess(work, DEMO.read_text(), base_url="/")
        hub.start()
        try:
            engine = make_engine(f"sqlite:///{work / 'var' / 'assay.sqlite'}")
            per_version = populate(Registry.on(engine), models)
            engine.dispose()
            token = hub.user_token("bob")
            target = f"model-{models // 2:03d}"
            patterns = {"whoami": "whoami", "list": "models",
                        "q-name": f"models?q={target}", "q-desc": "models?q=tissue",
                        "q-none": "models?q=no-such-thing", "show": f"models/{target}",
                        "latest": f"models/{target}/versions/latest"}
            with httpx.Client(base_url=hub.broker_url + "api/v1/", trust_env=False,
                              headers={"Authorization": f"token {token}"},
                              timeout=60) as client:
                shown = client.get(f"models/{target}").json()
                assert len(shown["versions"]) == PER_MODEL, shown.keys()
                assert client.get("models?q=tissue").json()["total"] == models // 10
                times = measure(client, patterns, samples)
        finally:
            hub.stop()
    return report(times, models * PER_MODEL, per_version)


def report(times: dict[str, list[float]], versions: int, per_version: float) -> dict:
    base = statistics.median(times["whoami"])
    rows = {name: {"p50_ms": round(statistics.median(t) * 1000, 2),
                   "p90_ms": round(pct(t, 0.9) * 1000, 2),
                   "ratio_p50_vs_whoami": round(statistics.median(t) / base, 2)}
            for name, t in times.items()}
    result = {"versions": versions, "insert_ms_per_version": round(per_version * 1000, 2),
              "samples": len(times["whoami"]), "target_p50_ms": TARGET_MS, "rows": rows,
              "raw_ms": {n: [round(x * 1000, 3) for x in t] for n, t in times.items()}}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "models-list.json").write_text(json.dumps(result, indent=2))
    print(f"models-list: {versions} versions (inserted at "
          f"{result['insert_ms_per_version']} ms each through the store)")
    print(f"  {'pattern':8} {'p50 ms':>8} {'p90 ms':>8} {'x whoami':>9}")
    for name, row in rows.items():
        flag = "" if name == "whoami" or row["p50_ms"] <= TARGET_MS else "  OVER TARGET"
        print(f"  {name:8} {row['p50_ms']:8.2f} {row['p90_ms']:8.2f} "
              f"{row['ratio_p50_vs_whoami']:9.2f}{flag}")
    return result
