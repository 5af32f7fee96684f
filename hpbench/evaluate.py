"""``hpbench evaluate MODEL --protocol N``: predictions on a protocol's test sets, metrics, a record.

The record (JSON) carries what a number needs to be traced: the protocol's name, version and the
sha256 of each selected key list; the model file's sha256, architecture and convention; hpbench's
version and commit, torch's version and the device; the date; per test dataset the metrics and the
counts (in the file, selected, inside the filter, evaluated, scored on a fallback box).
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from hpbench.data import HeadPoseDataset, Preprocessing, resolve_boxes
from hpbench.errors import HpbenchError
from hpbench.format import HPFile
from hpbench.metrics import head_pose_scores
from hpbench.models.ensemble import EnsemblePredictor, EnsembleSpec
from hpbench.models.loading import LoadedModel, load_model
from hpbench.pose import get_convention
from hpbench.protocols import Protocol, Selection, load_protocol, select
from hpbench.provenance import environment, utc_now

RECORD_FORMAT = 1


@dataclass
class DatasetPredictions:
    selection: Selection
    keys: np.ndarray
    truth: np.ndarray  # canonical
    predicted: np.ndarray  # canonical
    fallback: np.ndarray
    box_source: str
    seconds_forward: float
    seconds_total: float


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def run_model(dataset, predict, device: str, batch_size: int, workers: int, desc: str, progress: bool = True,
              check=None):
    """``predict`` over a dataset in order: (outputs (N, …) float32, seconds in predict, seconds in all).
    ``check(values)`` runs on each batch's output (to stop at the first wrong one)."""
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers, shuffle=False,
                        pin_memory=device.startswith("cuda"))
    outputs, forward_seconds, started = [], 0.0, time.perf_counter()
    with torch.inference_mode():
        for batch in tqdm(loader, desc=desc, unit="batch", disable=not progress):
            images = batch["image"].to(device, non_blocking=True)
            tick = time.perf_counter()
            values = predict(images)
            if isinstance(values, (tuple, list, dict)):
                raise HpbenchError(f"the model returned a {type(values).__name__}; it must return one tensor of angles")
            values = values.detach().float().cpu()
            forward_seconds += time.perf_counter() - tick
            if check is not None:
                check(values, len(images))
            outputs.append(values.numpy())
    return np.concatenate(outputs), forward_seconds, time.perf_counter() - started


def predict_selection(model: LoadedModel, selection: Selection, box_source: str | None, crop: str,
                      preprocessing: Preprocessing, device: str, batch_size: int, workers: int,
                      ensemble: EnsembleSpec | None = None, progress: bool = True) -> DatasetPredictions:
    data = HPFile(selection.path)
    source = selection.entry.reference if box_source == "reference" else box_source or selection.entry.boxes
    boxes, fallback = resolve_boxes(data, selection.indices, source, selection.entry.reference)
    pad = ensemble.pad if ensemble else 0
    dataset = HeadPoseDataset(selection.path, selection.indices, boxes, crop, preprocessing, pad=pad)
    predict = EnsemblePredictor(model.module, ensemble) if ensemble else model.predict
    convention = get_convention(model.convention)
    values, forward, total = run_model(dataset, predict, device, batch_size, workers, f"evaluate {selection.dataset}",
                                       progress, check=lambda batch, n: _check_shape(batch, n, convention))
    _check_finite(values, data.keys[selection.indices])
    return DatasetPredictions(selection, data.keys[selection.indices], data.ypr[selection.indices].astype(np.float64),
                              convention.to_canonical(values), fallback, source, forward, total)


def _check_shape(values: torch.Tensor, count: int, convention) -> None:
    expected = (count, *convention.value_shape)
    if tuple(values.shape) != expected:
        raise HpbenchError(
            f"the model's output has shape {tuple(values.shape)}; the {convention.name} convention expects "
            f"{expected} ({convention.description}). Is --arch or --convention right?"
        )


def _check_finite(values: np.ndarray, keys) -> None:
    bad = ~np.isfinite(values.reshape(len(keys), -1)).all(axis=1)
    if bad.any():
        raise HpbenchError(f"the model's output holds NaN or infinity ({int(bad.sum())} samples, first: "
                           f"{keys[int(np.argmax(bad))]})")


def score(predictions: DatasetPredictions, protocol: Protocol) -> dict:
    truth, predicted = predictions.truth, predictions.predicted
    if protocol.score_convention == "hpbench":
        metrics = head_pose_scores(predicted, truth)
    else:
        convention = get_convention(protocol.score_convention)
        errors = np.abs(convention.from_canonical(predicted) - convention.from_canonical(truth))
        metrics = {f"mae_{name}": float(errors[:, i].mean()) for i, name in enumerate(convention.value_names)}
        metrics["mae"] = float(errors.mean())
    counts = dict(predictions.selection.counts)
    counts.update(evaluated=len(truth), fallback=int(predictions.fallback.sum()))
    return {"metrics": metrics, "counts": counts, "box_source": predictions.box_source,
            "keys_sha256": predictions.selection.keys_sha256}


def evaluate(model_path, protocol_name, data_dir="data", arch=None, convention=None, trust=False, device=None,
             batch_size=64, workers=2, boxes=None, crop=None, ensemble=None, save_predictions=None,
             progress=True) -> dict:
    """Score a model file on the protocol's test split; returns the result record (see the module docstring).
    ``ensemble`` ("p=15,s=5" or an EnsembleSpec) scores an RvC model as KD's convolutional ensemble."""
    spec = EnsembleSpec.parse(ensemble) if isinstance(ensemble, str) else ensemble
    protocol = load_protocol(protocol_name)
    if protocol.task != "headpose":
        raise HpbenchError(f"protocol {protocol.name} scores body pose; hpbench evaluate scores head-pose models")
    device = device or default_device()
    selections = select(protocol, protocol.test_split, data_dir)
    model = load_model(model_path, arch=arch, convention=convention, trust=trust, device=device)
    preprocessing = model.preprocessing or Preprocessing(input_size=protocol.input_size)
    crop = crop or model.crop or protocol.crop
    results, all_predictions = {}, []
    for selection in selections:
        predictions = predict_selection(model, selection, boxes, crop, preprocessing, device, batch_size, workers,
                                        spec, progress)
        results[selection.dataset] = score(predictions, protocol)
        results[selection.dataset]["seconds"] = {"forward": round(predictions.seconds_forward, 3),
                                                 "total": round(predictions.seconds_total, 3)}
        all_predictions.append(predictions)
    if save_predictions:
        write_predictions(save_predictions, all_predictions)
    return {
        "record_format": RECORD_FORMAT,
        "protocol": {"name": protocol.name, "version": protocol.version, "split": protocol.test_split,
                     "keys_sha256": {d: r["keys_sha256"] for d, r in results.items()}},
        "model": {"file": model.path.name, "sha256": model.sha256, "arch": model.arch, "kind": model.kind,
                  "convention": model.convention, "parameters_m": round(model.parameters_m, 3),
                  "gflops": gflops(model, preprocessing.input_size, device)},
        "evaluation": {"crop": crop, "input_size": preprocessing.input_size, "colour": preprocessing.colour,
                       "boxes": boxes or "protocol", "device": device, "batch_size": batch_size,
                       "ensemble": {"pad": spec.pad, "stride": spec.stride, "crops": spec.size} if spec else None},
        "environment": environment(),
        "date": utc_now(),
        "results": results,
    }


def gflops(model: LoadedModel, input_size: int, device: str) -> float | None:
    """GFLOPs of one forward pass at the input size (torch's counter: a multiply-add is 2 FLOPs)."""
    from torch.utils.flop_counter import FlopCounterMode

    try:
        with torch.inference_mode(), FlopCounterMode(display=False) as counter:
            model.predict(torch.zeros(1, 3, input_size, input_size, device=device))
    except RuntimeError:
        return None  # e.g. a TorchScript module the counter cannot see into
    total = counter.get_total_flops()
    return round(total / 1e9, 3) if total else None


def write_predictions(path, predictions: list[DatasetPredictions]) -> None:
    with open(path, "w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["dataset", "key", "pred_yaw", "pred_pitch", "pred_roll", "true_yaw", "true_pitch", "true_roll",
                      "fallback_box"])
        for p in predictions:
            for key, pred, true, fallback in zip(p.keys, p.predicted, p.truth, p.fallback):
                out.writerow([p.selection.dataset, key, *(f"{v:.4f}" for v in pred), *(f"{v:.4f}" for v in true),
                              int(fallback)])


def results_table(record: dict) -> str:
    from tabulate import tabulate

    rows = []
    for dataset, result in record["results"].items():
        m, c = result["metrics"], result["counts"]
        values = [m.get(k, float("nan")) for k in ("mae_yaw", "mae_pitch", "mae_roll", "mae", "geodesic", "maev")]
        rows.append([dataset, *values, c["evaluated"], c["fallback"], result["box_source"]])
    headers = ["dataset", "yaw", "pitch", "roll", "MAE", "geodesic", "MAEV", "n", "fallback", "boxes"]
    title = f"protocol {record['protocol']['name']} v{record['protocol']['version']} · {record['model']['file']}"
    return title + "\n" + tabulate(rows, headers=headers, floatfmt=".2f", missingval="—")


def write_record(record: dict, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return path
