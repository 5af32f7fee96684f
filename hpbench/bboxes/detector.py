"""The face detector: ultralytics YOLO, used fully offline.

ultralytics reaches for the network in several places: a font (Arial.ttf) on every dataset check,
model assets by name, an AMP check model on CUDA, usage events. hpbench sets ``YOLO_OFFLINE=1``,
points ``YOLO_CONFIG_DIR`` at a private folder holding a font (matplotlib's DejaVuSans, saved as
``Ultralytics/Arial.ttf``) and settings with ``sync`` off, trains with ``amp=False, plots=False``,
and writes dataset YAMLs with absolute paths and no ``download:`` key. Arrays given to ``predict``
are BGR; a list is one batch, so callers chunk it. ultralytics also sets torch's CPU thread count to
cores − 1 whenever it picks a device (1 on a 2-core machine, for everything that runs afterwards in
the process); hpbench puts the count back after each call.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from contextlib import contextmanager
from pathlib import Path

from hpbench.errors import HpbenchError
from hpbench.io import write_text_atomic
from hpbench.provenance import file_sha256, utc_now

DEFAULT_MODEL = "yolov5n.yaml"


def config_dir() -> Path:
    return Path(os.environ.get("HPBENCH_CACHE", Path.home() / ".cache" / "hpbench")) / "ultralytics"


def ultralytics():
    """Import ultralytics with the offline environment (set before its first import)."""
    if "ultralytics" not in sys.modules:
        folder = config_dir()
        font = folder / "Ultralytics" / "Arial.ttf"
        if not font.is_file():
            from matplotlib import font_manager

            font.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(font_manager.findfont("DejaVu Sans"), font)
        settings = folder / "Ultralytics" / "settings.json"
        if not settings.is_file():
            settings.write_text(json.dumps({"sync": False}))
        os.environ["YOLO_OFFLINE"] = "1"
        os.environ["YOLO_CONFIG_DIR"] = str(folder)
    try:
        import ultralytics as module
    except ImportError:
        raise HpbenchError("the detector needs ultralytics: pip install -e '.[yolo]'") from None
    module.settings.update({"sync": False})
    return module


@contextmanager
def _torch_threads_kept():
    """Restore torch's CPU thread count after an ultralytics call that changes it."""
    import torch

    threads = torch.get_num_threads()
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def train_detector(data: str | Path, model: str = DEFAULT_MODEL, epochs: int = 30, imgsz: int = 160,
                   batch: int = 16, device: str = "cpu", out: str | Path = "runs/detector", workers: int = 2,
                   mosaic: float = 0.0, seed: int = 0) -> Path:
    """Train (or fine-tune, from a ``.pt``) a YOLO detector; returns the weights, with a JSON beside them
    naming the data's hash, the command and the final metrics."""
    data = Path(data).resolve()
    if not data.is_file():
        raise HpbenchError(f"--data {data}: no such file (make it with hpbench detector prepare-wider)")
    if "download:" in data.read_text():
        raise HpbenchError(f"{data}: has a download: key; hpbench trains offline only")
    if model.endswith(".pt") and not Path(model).is_file():
        raise HpbenchError(f"--model {model}: no such file (hpbench never downloads weights)")
    out = Path(out).resolve()
    yolo = ultralytics().YOLO(model)
    with _torch_threads_kept():
        yolo.train(data=str(data), epochs=epochs, imgsz=imgsz, batch=batch, device=device, workers=workers,
                   project=str(out.parent), name=out.name, exist_ok=True, amp=False, plots=False, mosaic=mosaic,
                   seed=seed, deterministic=True, verbose=False, val=True)
    weights = out / "weights" / "best.pt"
    if not weights.is_file():
        weights = out / "weights" / "last.pt"
    metrics = {k: float(v) for k, v in (getattr(yolo.trainer, "metrics", None) or {}).items()
               if isinstance(v, (int, float))}
    record = {"weights": weights.name, "weights_sha256": file_sha256(weights), "model": model,
              "data": str(data), "data_sha256": _dataset_hash(data), "epochs": epochs, "imgsz": imgsz,
              "batch": batch, "device": device, "mosaic": mosaic, "seed": seed, "metrics": metrics,
              "command": " ".join(["hpbench detector train", f"--data {data}", f"--model {model}",
                                   f"--epochs {epochs}", f"--imgsz {imgsz}", f"--batch {batch}", f"--device {device}"]),
              "date": utc_now(), "ultralytics_version": ultralytics().__version__}
    write_text_atomic(weights.with_suffix(".json"), json.dumps(record, indent=2) + "\n")
    return weights


def train_and_report(data: str, model: str = DEFAULT_MODEL, epochs: int = 30, imgsz: int = 320, batch: int = 16,
                     device: str = "cpu", out: str | None = None, workers: int = 2, mosaic: float = 0.0) -> int:
    """``hpbench detector train``: train, then print where the weights and their record are."""
    weights = train_detector(data, model, epochs=epochs, imgsz=imgsz, batch=batch, device=device,
                             out=out or "runs/detector", workers=workers, mosaic=mosaic)
    print(f"weights: {weights}\nrecord:  {weights.with_suffix('.json')}")
    return 0


def _dataset_hash(data_yaml: Path) -> str:
    """sha256 over the dataset YAML and every label file (sorted), identifying the training data."""
    digest = hashlib.sha256(data_yaml.read_bytes())
    for label in sorted(data_yaml.parent.glob("labels/**/*.txt")):
        digest.update(label.relative_to(data_yaml.parent).as_posix().encode())
        digest.update(label.read_bytes())
    return digest.hexdigest()


class Detector:
    """Batched face detection with a trained YOLO weights file."""

    def __init__(self, weights: str | Path, imgsz: int | None = None, conf: float = 0.25, iou: float = 0.5,
                 device: str = "cpu"):
        """``imgsz`` None: the size the weights were trained at (a detector does best there)."""
        weights = Path(weights)
        if not weights.is_file():
            raise HpbenchError(f"--weights {weights}: no such file")
        self.model = ultralytics().YOLO(str(weights))
        self.sha256 = file_sha256(weights)
        trained = (getattr(self.model, "ckpt", None) or {}).get("train_args", {}).get("imgsz")
        self.imgsz = int(imgsz or trained or 640)
        self.conf, self.iou, self.device = conf, iou, device

    def __call__(self, images_bgr: list) -> list[tuple]:
        """Per image: (boxes (k, 4) x1 y1 x2 y2, scores (k,))."""
        with _torch_threads_kept():
            results = self.model.predict(images_bgr, imgsz=self.imgsz, conf=self.conf, iou=self.iou,
                                         device=self.device, verbose=False)
        return [(r.boxes.xyxy.cpu().numpy(), r.boxes.conf.cpu().numpy()) for r in results]
