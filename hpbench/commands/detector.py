"""``hpbench detector prepare-wider | train``."""

from __future__ import annotations

from pathlib import Path

from hpbench.bboxes.detector import DEFAULT_MODEL, train_detector
from hpbench.bboxes.wider import prepare_wider


def prepare_wider_dataset(src: str, out: str) -> int:
    """``hpbench detector prepare-wider``: convert, then print the counts per split."""
    for split, counts in prepare_wider(src, out).items():
        print(f"{split}: {counts.images:,} images, {counts.faces:,} faces; dropped {counts.invalid:,} invalid and "
              f"{counts.zero_size:,} zero-size boxes; kept {counts.kept:,}; "
              f"{counts.images_without_faces:,} images without faces, {counts.images_missing:,} images missing")
    print(f"dataset: {Path(out).resolve() / 'data.yaml'}")
    return 0


def train(data: str, model: str = DEFAULT_MODEL, epochs: int = 30, imgsz: int = 320, batch: int = 16,
                     device: str = "cpu", out: str | None = None, workers: int = 2, mosaic: float = 0.0,
                     trust: bool = False) -> int:
    """``hpbench detector train``: train, then print where the weights and their record are."""
    weights = train_detector(data, model, epochs=epochs, imgsz=imgsz, batch=batch, device=device,
                             out=out or "runs/detector", workers=workers, mosaic=mosaic, trust=trust)
    print(f"weights: {weights}\nrecord:  {weights.with_suffix('.json')}")
    return 0
