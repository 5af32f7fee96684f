"""Synthetic samples the benchmarks share: written and prepared once under the work folder."""

from __future__ import annotations

import shutil
from pathlib import Path

from hpbench.converters.prepare import prepare
from hpbench.synth.writers import write_sample


def prepared_sample(dataset: str, n: int, work: Path, seed: int = 0) -> Path:
    """The data folder holding ``DATASET.h5`` of ``n`` synthetic samples (made now if it is not there)."""
    raw, data = work / f"{dataset}-raw-{n}-{seed}", work / f"{dataset}-data-{n}-{seed}"
    if not raw.exists():
        write_sample(dataset, raw, n, seed=seed, workers=2)
    if not (data / f"{dataset}.h5").exists():
        shutil.rmtree(data, ignore_errors=True)
        prepare(dataset, raw, data, progress=False)
    return data
