"""Synthetic samples the benchmarks share: written and prepared once under the work folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

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


def aflw2000_protocol(work: Path, name: str, input_size: int, metrics: tuple[str, ...] = ("mae",)) -> Path:
    """A protocol file that scores every AFLW2000 sample inside ±99° on its landmark box, kd crop."""
    path = work / f"{name}.yaml"
    path.write_text(yaml.safe_dump({
        "name": name, "version": 1, "task": "headpose", "filter": {"limit": 99}, "crop": "kd",
        "input_size": input_size, "metrics": list(metrics), "changelog": [{"version": 1}],
        "splits": {"test": [{"dataset": "aflw2000", "select": "all", "boxes": "landmarks", "reference": "landmarks"}]},
    }))
    return path
