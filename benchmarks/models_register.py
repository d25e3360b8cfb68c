"""``models-register``: registering a 100 MB model vs copying the same bytes to the store.

One Assay hub from the demo config runs on loopback with its Assay service; ``bob``'s
server is spawned and this process holds that server's session credential, as a kernel
does. The model is a scikit-learn ``LinearRegression`` whose ``coef_`` is 100 MB of
float64 (``--quick``: 20 MB). Per round, in alternating order:

``put``       ``ObjectStore.put`` of the serialised file (``model.skops``) into the
              service's own object store (``storage.url``): the baseline, one copy.
``hash+put``  one sha256 pass over the file, then the same ``put``: the least any store
              that records an artifact's hash must do (a second reference line).
``publish``   the registry's upload path for the same, already serialised files:
              ``POST versions`` → streamed ``PUT`` of each file (hashed on both sides)
              → ``POST commit``. Target: p50 <= 1.3x ``put`` (also reported: the
              median of the per-round ratios, both sides of a round run back to back).
``register``  ``assay.models.register(model, name)`` end to end: skops serialisation,
              signature, environment digest, then the upload path.

Run against a local-folder store, then (unless ``--quick``) against S3 on a moto server.
Stored versions and copies are deleted after each round so the disk (and moto's memory)
holds one round at a time.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "support"))

import numpy as np  # noqa: E402
import yaml  # noqa: E402

from assay.kernels import model_formats as formats  # noqa: E402
from assay.kernels import models  # noqa: E402
from assay.kernels import models_meta as meta  # noqa: E402
from assay.objects import ObjectStore, open_objects  # noqa: E402
from hubprocess import HubProcess  # noqa: E402
from motoserver import moto_server  # noqa: E402
from serverenv import server_env  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
DEMO = ROOT / "hub_config" / "assay.yaml"
USER = "bob"
SIZE, QUICK_SIZE = 100 * 1000 * 1000, 20 * 1000 * 1000
ROUNDS, QUICK_ROUNDS = 7, 2
BUCKET = "bench-models"
AWS_ENV = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
           "AWS_EC2_METADATA_DISABLED": "true", "AWS_DEFAULT_REGION": "us-east-1"}
TARGET = 1.3


def big_model(size: int) -> Any:
    from sklearn.linear_model import LinearRegression

    model = LinearRegression()
    model.coef_ = np.random.default_rng(0).random(size // 8)
    model.intercept_ = 0.0
    model.n_features_in_ = model.coef_.size
    return model


def bench_config(storage_url: str, moto_url: str | None) -> str:
    data = yaml.safe_load(DEMO.read_text())
    data["hub"]["base_url"] = "/"
    data["storage"] = {"url": storage_url}
    if moto_url:
        data["data"]["s3"] = {"endpoint_url": moto_url, "region": "us-east-1"}
    return yaml.safe_dump(data, sort_keys=False)


@contextmanager
def hub_with(work: Path, storage_url: str, moto_url: str | None) -> Iterator[HubProcess]:
    """The hub, bob's server up, and this process holding its session credential."""
    hub = HubProcess(work, bench_config(storage_url, moto_url), base_url="/", env=AWS_ENV)
    try:
        hub.start()
        hub.spawn(USER, "cpu-small")
        env = server_env(USER, hub.hub_port)
        saved = {k: os.environ.get(k) for k in ("ASSAY_SESSION_TOKEN", "ASSAY_BROKER_URL")}
        os.environ.update({k: env[k] for k in saved})
        try:
            yield hub
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            hub.stop_server(USER)
    finally:
        hub.stop()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1024 * 1024):
            digest.update(block)
    return digest.hexdigest()


def timed(action: Callable[..., Any], *args: Any) -> float:
    started = time.perf_counter()
    action(*args)
    return time.perf_counter() - started


def clean(store: ObjectStore, hub: HubProcess, storage_url: str, s3: Any) -> None:
    """Remove every stored model file and raw copy (the database keeps the versions)."""
    if s3 is not None:
        listed = s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
        for item in listed:
            s3.delete_object(Bucket=BUCKET, Key=item["Key"])
        return
    root = hub.workdir / storage_url.removeprefix("file://")
    for folder in ("models", "bench"):
        shutil.rmtree(root / folder, ignore_errors=True)


def one_store(label: str, storage_url: str, *, size: int, rounds: int,
              moto_url: str | None, s3: Any) -> dict[str, Any]:
    model = big_model(size)
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="assay-bench-")))
        files = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="assay-model-")))
        started = time.perf_counter()
        hub = stack.enter_context(hub_with(work, storage_url, moto_url))
        store = open_objects(storage_url, base=work, endpoint_url=moto_url)
        saved = formats.save(model, files)
        sizes = {p: (files / p).stat().st_size for p in saved.files}
        body = {"flavor": saved.flavor, "environment": meta.environment(),
                "files": [{"path": p, "size": sizes[p]} for p in saved.files]}
        print(f"  {label}: set-up {time.perf_counter() - started:.1f}s, artifact "
              f"{sizes['model.skops'] / 1e6:.1f} MB", flush=True)
        samples: dict[str, list[float]] = {k: [] for k in ("put", "hash+put", "publish",
                                                           "register")}
        artifact = files / "model.skops"
        actions = {
            "put": lambda i: store.put(f"bench/raw-{i}/model.skops", artifact),
            "hash+put": lambda i: (sha256_of(artifact),
                                   store.put(f"bench/hashed-{i}/model.skops", artifact)),
            "publish": lambda i: models.publish(f"bench-publish-{i}", saved, body,
                                                progress=False),
            "register": lambda i: models.register(model, f"bench-register-{i}",
                                                  progress=False),
        }
        timed(actions["publish"], "warmup")  # connections, first-version paths
        for i in range(rounds):
            order = list(actions) if i % 2 == 0 else list(reversed(actions))
            for key in order:
                samples[key].append(timed(actions[key], i))
            clean(store, hub, storage_url, s3)
            print(f"    round {i + 1}/{rounds}: " + ", ".join(
                f"{k} {samples[k][-1]:.2f}s" for k in actions), flush=True)
    p50 = {k: statistics.median(v) for k, v in samples.items()}
    per_round = statistics.median(p / q for p, q in zip(samples["publish"], samples["put"],
                                                         strict=True))
    return {"store": label, "bytes": sizes["model.skops"], "rounds": rounds,
            "samples_s": samples, "p50_s": p50,
            "publish_vs_put": p50["publish"] / p50["put"],
            "publish_vs_put_per_round_p50": per_round,
            "publish_vs_hash_put": p50["publish"] / p50["hash+put"],
            "register_vs_put": p50["register"] / p50["put"]}


def run(quick: bool = False) -> None:
    """``python -m benchmarks models-register [--quick]``."""
    size, rounds = (QUICK_SIZE, QUICK_ROUNDS) if quick else (SIZE, ROUNDS)
    print(f"models-register: {size / 1e6:.0f} MB model, {rounds} rounds "
          f"(load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores)", flush=True)
    results = [one_store("local", "file://var/objects", size=size, rounds=rounds,
                         moto_url=None, s3=None)]
    if not quick:
        with tempfile.TemporaryDirectory(prefix="assay-moto-") as tmp, \
                moto_server(Path(tmp) / "moto.log") as moto_url:
            import boto3
            from botocore.config import Config

            s3 = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1",
                              aws_access_key_id="bench", aws_secret_access_key="bench",
                              config=Config(s3={"addressing_style": "path"}))
            s3.create_bucket(Bucket=BUCKET)
            for key, value in AWS_ENV.items():
                os.environ.setdefault(key, value)
            results.append(one_store("s3 (moto)", f"s3://{BUCKET}/objects", size=size,
                                     rounds=rounds, moto_url=moto_url, s3=s3))
    for result in results:
        p50 = result["p50_s"]
        verdict = "meets" if result["publish_vs_put"] <= TARGET else "MISSES"
        print(f"  {result['store']}: put {p50['put']:.3f}s, hash+put {p50['hash+put']:.3f}s, "
              f"publish {p50['publish']:.3f}s ({result['publish_vs_put']:.2f}x put, "
              f"{verdict} <= {TARGET}x; per round {result['publish_vs_put_per_round_p50']:.2f}x; "
              f"{result['publish_vs_hash_put']:.2f}x hash+put), "
              f"register {p50['register']:.3f}s ({result['register_vs_put']:.2f}x put)",
              flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "models-register.json").write_text(json.dumps(
        {"date": time.strftime("%Y-%m-%d"), "quick": quick, "results": results}, indent=2))
