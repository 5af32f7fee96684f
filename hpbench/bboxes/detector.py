"""The face detector: ultralytics YOLO, used fully offline.

ultralytics reaches for the network in several places: a font (Arial.ttf) on every dataset check,
model assets by name, an AMP check model on CUDA, usage events. hpbench sets ``YOLO_OFFLINE=1``,
points ``YOLO_CONFIG_DIR`` at a private folder holding a font (matplotlib's DejaVuSans, saved as
``Ultralytics/Arial.ttf``) and settings with ``sync`` off, trains with ``amp=False, plots=False``,
and writes dataset YAMLs with absolute paths and no ``download:`` key. Arrays given to ``predict``
are BGR; a list is one batch, so callers chunk it. ultralytics also sets torch's CPU thread count to
cores − 1 whenever it picks a device (1 on a 2-core machine, for everything that runs afterwards in
the process); hpbench puts the count back after each call.

Weights are untrusted: an ultralytics ``.pt`` is a pickle, and ultralytics unpickles it with
``weights_only=False`` (running any code it holds) unless ``ULTRALYTICS_SAFE_LOAD`` is set. hpbench
sets it before the first import and loads with ultralytics' allow-list of its own classes; only
``--trust-checkpoint`` turns it off, for that call. The logging integrations ultralytics switches
on by default (ClearML, Comet, DVC, MLflow, Ray Tune …), which would connect if installed, are off
in hpbench's private settings.
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
from hpbench.resources import cache_dir

DEFAULT_MODEL = "yolov5n.yaml"


def config_dir() -> Path:
    return cache_dir() / "ultralytics"


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
            settings.write_text(json.dumps(_QUIET_SETTINGS))
        os.environ["YOLO_OFFLINE"] = "1"
        os.environ["YOLO_CONFIG_DIR"] = str(folder)
        os.environ["ULTRALYTICS_SAFE_LOAD"] = "1"
    try:
        import ultralytics as module
    except ImportError:
        raise HpbenchError("the detector needs ultralytics: pip install -e '.[yolo]'") from None
    module.settings.update({key: value for key, value in _QUIET_SETTINGS.items() if key in module.settings})
    return module


_QUIET_SETTINGS = {"sync": False, "clearml": False, "comet": False, "dvc": False, "hub": False, "mlflow": False,
                   "neptune": False, "raytune": False, "tensorboard": False, "wandb": False}


@contextmanager
def _loading_mode(weights: str | Path, trust: bool):
    """Inside the block, ultralytics loads weights with its safe loader, or with pickle when trusted."""
    ultralytics()  # the offline environment first
    import ultralytics.nn.tasks as tasks

    safe_loader = getattr(getattr(tasks, "_SafeLoad", None), "SUPPORTED", False) and hasattr(tasks, "SAFE_LOAD")
    if not trust and not safe_loader:
        raise HpbenchError(f"{weights}: this ultralytics ({ultralytics().__version__}) cannot load weights without "
                           "running code they contain; upgrade it, or pass --trust-checkpoint if you trust the file")
    previous = getattr(tasks, "SAFE_LOAD", None)
    tasks.SAFE_LOAD = not trust
    try:
        yield
    finally:
        tasks.SAFE_LOAD = previous


def _load_yolo(weights: str | Path, trust: bool):
    """``YOLO(weights)`` (inside ``_loading_mode``); a file refused or unreadable is an error naming it."""
    try:
        return ultralytics().YOLO(str(weights))
    except Exception as err:  # noqa: BLE001 - ultralytics reports a refused or damaged file in many types
        hint = "" if trust else ("; the safe loader reads only ultralytics' own model classes: if you trust the "
                                 "file, --trust-checkpoint loads it with pickle, which runs any code it contains")
        first_line = (str(err).strip().splitlines() or [""])[0]
        raise HpbenchError(f"{weights}: cannot be loaded as a YOLO model ({type(err).__name__}: {first_line})"
                           f"{hint}") from None


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
                   mosaic: float = 0.0, seed: int = 0, trust: bool = False) -> Path:
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
    with _loading_mode(model, trust), _torch_threads_kept():
        yolo = _load_yolo(model, trust)
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
                 device: str = "cpu", trust: bool = False):
        """``imgsz`` None: the size the weights were trained at (a detector does best there);
        ``trust``: load the weights with pickle (runs code they contain) instead of the safe loader."""
        weights = Path(weights)
        if not weights.is_file():
            raise HpbenchError(f"--weights {weights}: no such file")
        with _loading_mode(weights, trust):
            self.model = _load_yolo(weights, trust)
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
