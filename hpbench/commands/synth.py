"""``hpbench synth DATASET``: write a synthetic sample with a progress bar, then say what reads it."""

from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from hpbench.parallel import capped_workers
from hpbench.synth.writers import WRITERS, write_sample


def run(dataset: str, out: str | None = None, n: int = 200, seed: int = 0, size: int | None = None,
                     workers: int = 1) -> int:
    """``hpbench synth``: write the sample with a progress bar, then say what reads it."""
    out = Path(out or f"synth/{dataset}")
    workers = capped_workers(workers, n)
    with tqdm(total=n, unit="img", desc=f"synth {dataset}") as bar:
        records = write_sample(dataset, out, n, seed=seed, workers=workers, progress=bar.update,
                               **({"size": size} if size else {}))
    print(f"wrote {len(records):,} synthetic {dataset} samples to {out}")
    print(f"next: {WRITERS.get(dataset).next_step.format(out=out)}")
    return 0
