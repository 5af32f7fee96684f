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


def predict_selection(model: LoadedModel, selection: Selection, box_source: str | None, crop: str,
                      preprocessing: Preprocessing, device: str, batch_size: int, workers: int,
                      progress: bool = True) -> DatasetPredictions:
    data = HPFile(selection.path)
    source = selection.entry.reference if box_source == "reference" else box_source or selection.entry.boxes
    boxes, fallback = resolve_boxes(data, selection.indices, source, selection.entry.reference)
    dataset = HeadPoseDataset(selection.path, selection.indices, boxes, crop, preprocessing)
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers, shuffle=False,
                        persistent_workers=False, pin_memory=device.startswith("cuda"))
    convention = get_convention(model.convention)
    outputs, forward_seconds, started = [], 0.0, time.perf_counter()
    with torch.inference_mode():
        for batch in tqdm(loader, desc=f"evaluate {selection.dataset}", unit="batch", disable=not progress):
            images = batch["image"].to(device, non_blocking=True)
            tick = time.perf_counter()
            values = model.predict(images)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            forward_seconds += time.perf_counter() - tick
            outputs.append(_checked(values, convention, len(images), data, batch["index"]))
    predicted = convention.to_canonical(np.concatenate(outputs))
    return DatasetPredictions(selection, data.keys[selection.indices], data.ypr[selection.indices].astype(np.float64),
                              predicted, fallback, source, forward_seconds, time.perf_counter() - started)


def _checked(values, convention, count: int, data: HPFile, indices) -> np.ndarray:
    if isinstance(values, (tuple, list)):
        raise HpbenchError(f"the model returned a {type(values).__name__}; it must return one tensor of angles")
    array = values.detach().float().cpu().numpy()
    if array.shape != (count, *convention.value_shape):
        raise HpbenchError(
            f"the model's output has shape {tuple(array.shape)}; the {convention.name} convention expects "
            f"{(count, *convention.value_shape)} ({convention.description}). Is --arch or --convention right?"
        )
    bad = ~np.isfinite(array.reshape(count, -1)).all(axis=1)
    if bad.any():
        key = data.keys[int(indices[int(np.argmax(bad))])]
        raise HpbenchError(f"the model's output holds NaN or infinity ({int(bad.sum())} samples, first: {key})")
    return array


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
             batch_size=64, workers=2, boxes=None, crop=None, save_predictions=None, progress=True) -> dict:
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
                                        progress)
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
                  "convention": model.convention, "parameters_m": round(model.parameters_m, 3)},
        "evaluation": {"crop": crop, "input_size": preprocessing.input_size, "colour": preprocessing.colour,
                       "boxes": boxes or "protocol", "device": device, "batch_size": batch_size},
        "environment": environment(),
        "date": utc_now(),
        "results": results,
    }


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
