"""Synthetic demo datasets (no real patient data), written under ``data.root`` at ``make up``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .config.schema import AssayConfig

SEED = 42
TISSUES = ["liver", "lung", "brain", "kidney", "heart", "skin"]
EVENTS = ["nausea", "fatigue", "neutropenia", "rash", "headache", "anaemia", "diarrhoea"]


def adverse_events(rng: np.random.Generator, n: int = 2000) -> pd.DataFrame:
    return pd.DataFrame({
        "subject_id": [f"T042-{i:05d}" for i in rng.integers(1, 400, n)],
        "arm": rng.choice(["placebo", "10mg", "20mg"], n),
        "event": rng.choice(EVENTS, n),
        "grade": rng.integers(1, 5, n),
        "serious": rng.random(n) < 0.08,
        "onset_day": rng.integers(1, 180, n),
    })


def expression(rng: np.random.Generator, genes: int = 500) -> pd.DataFrame:
    data = rng.lognormal(mean=2.0, sigma=1.0, size=(genes, len(TISSUES))).round(3)
    frame = pd.DataFrame(data, columns=TISSUES)
    frame.insert(0, "gene", [f"GENE{i:04d}" for i in range(genes)])
    return frame


def reference_genes(genes: int = 500) -> pd.DataFrame:
    return pd.DataFrame({
        "gene": [f"GENE{i:04d}" for i in range(genes)],
        "chromosome": [str(1 + i % 22) for i in range(genes)],
        "start": [1_000 + 7_919 * i for i in range(genes)],
        "strand": ["+" if i % 2 else "-" for i in range(genes)],
    })


WRITERS = {
    "trial-042-adverse-events": lambda rng: {"adverse_events.csv": adverse_events(rng)},
    "omics-expression-atlas": lambda rng: {"expression.parquet": expression(rng),
                                           "README.txt": "Synthetic expression matrix.\n"},
    "reference-genes": lambda rng: {"genes.csv": reference_genes()},
}


def _write(path: Path, content: pd.DataFrame | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_text(content)
    elif path.suffix == ".parquet":
        content.to_parquet(path, index=False)
    else:
        content.to_csv(path, index=False)


def generate(config: AssayConfig, *, base: Path | None = None,
             overwrite: bool = False) -> list[Path]:
    """Write the demo datasets that live in local folders; returns the files written.

    ``data.root`` is relative to ``base`` (default: the working directory, like the hub's).
    """
    root = ((base or Path.cwd()) / config.data.root).resolve()
    written = []
    for dataset in config.data.datasets:
        make = WRITERS.get(dataset.name)
        if make is None or dataset.is_s3:
            continue
        folder = root / dataset.location
        if folder.exists() and any(folder.iterdir()) and not overwrite:
            continue
        rng = np.random.default_rng(SEED)
        for name, content in make(rng).items():
            _write(folder / name, content)
            written.append(folder / name)
    return written
