"""Writers of small synthetic samples in each dataset's raw on-disk format.

Each writer renders synthetic heads (or bodies) and stores them exactly as the real dataset ships
them, quirks included, so the converters are exercised end to end. Each returns the ground truth it
wrote, one ``TruthRecord`` per sample the converter should produce. A writer is one module of this
package with its ``@register_writer``; the registry imports every module of the package.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from hpbench.errors import HpbenchError
from hpbench.parallel import ordered_map
from hpbench.registry import Registry


@dataclass
class TruthRecord:
    key: str  # the sample key the converter must produce
    ypr: Any = None  # canonical degrees, as the raw file stores them
    landmarks: Any = None  # as stored, with missing points as NaN
    head_box: Any = None  # x1 y1 x2 y2 of the rendered head
    boxes: dict[str, Any] = field(default_factory=dict)  # box source → x1 y1 x2 y2 the converter must give
    joints: Any = None  # (J, 2) body joints as stored
    visible: Any = None  # (J,) bool, 1 = visible
    center: Any = None  # (2,) person centre, where the raw format stores one
    scale: Any = None  # person scale (height / 200 px), where the raw format stores one
    meta: dict[str, Any] = field(default_factory=dict)
    excluded: str = ""  # why the converter must leave this sample out ("" = it converts it)


@dataclass(frozen=True)
class SyntheticWriter:
    write: Callable[..., list[TruthRecord]]  # (out, n, seed, size=…, workers=…, progress=…) → truth records
    next_step: str  # the command that reads what it wrote ({out} is filled in)


WRITERS: Registry[SyntheticWriter] = Registry("synthetic sample writer", package=__name__)


def register_writer(name: str, next_step: str = "hpbench prepare {name} --src {out}"):
    def add(write):
        WRITERS.register(name)(SyntheticWriter(write, next_step.replace("{name}", name)))
        return write

    return add


def prepare_output_folder(out: str | Path) -> Path:
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise HpbenchError(f"{out} already holds files; choose another --out or remove it first")
    out.mkdir(parents=True, exist_ok=True)
    return out


def write_sample(name: str, out: str | Path, n: int, seed: int = 0, **options) -> list[TruthRecord]:
    """Write ``n`` synthetic samples of dataset ``name`` under ``out`` in its raw format."""
    writer = WRITERS.get(name)
    if n < 1:
        raise HpbenchError("--n must be at least 1")
    return writer.write(prepare_output_folder(out), n, seed, **options)


def render_records(render, tasks: list, workers: int, progress=None, chunk_size: int = 8) -> list[TruthRecord]:
    """Run ``render`` (task → TruthRecord or list of them) over the tasks in order, reporting progress."""
    records: list[TruthRecord] = []
    for result in ordered_map(render, tasks, workers=workers, chunk_size=chunk_size):
        batch = result if isinstance(result, list) else [result]
        records += batch
        if progress is not None:
            progress(len(batch))
    return records


def sample_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of one sample: the same whatever the worker count or order of rendering."""
    return np.random.default_rng([seed, index])
