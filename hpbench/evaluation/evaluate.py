"""``hpbench evaluate MODEL --protocol N``: predictions on a protocol's test sets, metrics, a record.

Body-pose protocols go to hpbench.evaluation.bodypose; the rest of this module is head pose.

``predict_dataset`` and ``score`` are the scoring path shared with validation during training: the
protocol's ``metrics`` list (hpbench.metrics), measured in its ``score_convention``. ``evaluate``
returns a ``ResultRecord`` (hpbench.evaluation.records).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from hpbench.data.headpose import HeadPoseDataset, dataset_for
from hpbench.errors import HpbenchError
from hpbench.evaluation.analysis import (
    error_by_yaw,
    mean_predictor_errors,
    plot_error_vs_angle,
    worst_predictions_picture,
)
from hpbench.evaluation.record_head import record_head
from hpbench.evaluation.records import DatasetResult, EvaluationSettings, ResultRecord
from hpbench.format import check_unchanged
from hpbench.io import atomic_path
from hpbench.metrics import compute_metrics
from hpbench.models.ensemble import EnsemblePredictor, EnsembleSpec
from hpbench.models.inference import checked_device, run_model
from hpbench.models.loading import load_model
from hpbench.models.torchscript import FORWARD_TIMEOUT
from hpbench.parallel import capped_workers
from hpbench.paths import output_path
from hpbench.pose import get_convention
from hpbench.protocols import Protocol, Selection, file_protocol, load_protocol, require_samples, select
from hpbench.provenance import environment, utc_now


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


def predict_dataset(dataset: HeadPoseDataset, selection: Selection, predict: Callable, convention: str, device: str,
                    batch_size: int, workers: int, progress: bool = True) -> DatasetPredictions:
    """The model's predictions (canonical) on one selection's Dataset, checked for shape and finiteness."""
    adapter = get_convention(convention)
    values, forward, total = run_model(dataset, predict, device, batch_size, workers, f"evaluate {selection.dataset}",
                                       progress, check=lambda batch, n: _check_shape(batch, n, adapter))
    keys = dataset.keys
    _check_finite(values, keys)
    return DatasetPredictions(selection, keys, dataset.ypr.astype(np.float64), adapter.to_canonical(values),
                              dataset.fallback, dataset.box_source, forward, total)


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


def score(predictions: DatasetPredictions, protocol: Protocol) -> DatasetResult:
    """The protocol's metrics on one dataset's predictions, with the counts of every selection step
    and the error by yaw range."""
    metrics = compute_metrics(protocol.metrics, predictions.predicted, predictions.truth,
                              convention=protocol.score_convention)
    counts = dict(predictions.selection.counts)
    counts.update(evaluated=len(predictions.truth), fallback=int(predictions.fallback.sum()))
    seconds = {"forward": round(predictions.seconds_forward, 3), "total": round(predictions.seconds_total, 3)}
    by_yaw = error_by_yaw(predictions.predicted, predictions.truth, protocol.score_convention)
    return DatasetResult(metrics, counts, predictions.box_source, predictions.selection.keys_sha256, seconds,
                         predictions.selection.content_sha256, by_yaw)


def evaluate(model_path, protocol_name, data_dir="data", arch=None, convention=None, trust=False, device=None,
             batch_size=64, workers=2, boxes=None, crop=None, ensemble=None, save_predictions=None,
             progress=True, cache=True, model_preprocessing=False, override_convention=False, analysis=None,
             decode=None, forward_timeout=None, log=print) -> ResultRecord:
    """Score a model file on the protocol's test split, with the protocol's crop rule and input size
    (``model_preprocessing``: the ones the model file records; ``crop``: another rule) and the model's
    normalisation. ``ensemble`` ("p=15,s=5" or an EnsembleSpec) scores an RvC model as KD's
    convolutional ensemble. ``cache``: crops from the crop cache where the crop rule allows it
    (hpbench.data.crop_cache); the scores are the same either way. ``analysis``: a folder for the
    error-against-angle plot and the worst predictions of each test set. ``decode`` (body pose only):
    "parabola" (the default) or "argmax", how belief maps become joints."""
    spec = EnsembleSpec.parse(ensemble) if isinstance(ensemble, str) else ensemble
    workers = capped_workers(workers, log=log) if workers else 0
    protocol = protocol_name if isinstance(protocol_name, Protocol) else load_protocol(protocol_name)
    device = checked_device(device)
    model = load_model(model_path, arch=arch, convention=convention, trust=trust, device=device,
                       override_convention=override_convention,
                       forward_timeout=forward_timeout or FORWARD_TIMEOUT)
    if protocol.task == "bodypose":
        from hpbench.evaluation.bodypose import evaluate_bodypose

        return evaluate_bodypose(model, protocol, data_dir, device, batch_size, workers, save_predictions, analysis,
                                 progress, decode or "parabola")
    if decode is not None:
        raise HpbenchError(f"--decode turns belief maps into joints; protocol {protocol.name} scores head pose")
    if getattr(model.module, "task", "headpose") != "headpose":
        raise HpbenchError(f"{model_path} is a body-pose model ({model.arch}); protocol {protocol.name} scores head pose")
    selections = require_samples(select(protocol, protocol.test_split, data_dir), protocol, protocol.test_split)
    preprocessing = model.preprocessing_for(protocol.input_size, own=model_preprocessing)
    crop = crop or (model.crop if model_preprocessing else None) or protocol.crop
    predict = EnsemblePredictor(model.module, spec) if spec else model.predict
    results, all_predictions = {}, []
    for selection in selections:
        dataset = dataset_for(selection, crop, preprocessing, boxes, protocol.missing_face, pad=spec.pad if spec else 0,
                              cache=cache, workers=workers, progress=progress, log=log)
        predictions = predict_dataset(dataset, selection, predict, model.convention, device, batch_size, workers,
                                      progress)
        results[selection.dataset] = score(predictions, protocol)
        all_predictions.append(predictions)
        if analysis:
            name = f"{protocol.name}-{selection.dataset}"
            plot_error_vs_angle(predictions.predicted, predictions.truth,
                                f"{Path(model_path).name} on {selection.dataset} ({protocol.name})",
                                output_path(analysis, f"{name}-error-vs-angle.png"))
            worst_predictions_picture(dataset, predictions.predicted, predictions.truth, predictions.keys,
                                      output_path(analysis, f"{name}-worst.png"))
    for selection in selections:  # what was scored is what was checked
        check_unchanged(selection.path)
    baseline, _ = mean_predictor_errors(protocol, data_dir, {p.selection.dataset: p.truth for p in all_predictions})
    for dataset, value in baseline.items():
        results[dataset].mean_predictor_mae = value
    if save_predictions:
        write_predictions(save_predictions, all_predictions)
    return ResultRecord(
        *record_head(protocol, results, model, preprocessing.input_size, device),
        evaluation=EvaluationSettings(crop, preprocessing.input_size, preprocessing.colour, boxes or "protocol", device,
                                      batch_size, {"pad": spec.pad, "stride": spec.stride, "crops": spec.size}
                                      if spec else None, preprocessing.resize_kernel,
                                      "model" if model_preprocessing else "protocol", model.convention_overridden),
        environment=environment(),
        date=utc_now(),
        results=results,
    )


def write_predictions(path, predictions: list[DatasetPredictions]) -> None:
    with atomic_path(path) as partial, open(partial, "w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["dataset", "key", "pred_yaw", "pred_pitch", "pred_roll", "true_yaw", "true_pitch", "true_roll",
                      "fallback_box"])
        for p in predictions:
            for key, pred, true, fallback in zip(p.keys, p.predicted, p.truth, p.fallback):
                out.writerow([p.selection.dataset, key, *(f"{v:.4f}" for v in pred), *(f"{v:.4f}" for v in true),
                              int(fallback)])


def results_table(record: ResultRecord) -> str:
    from tabulate import tabulate

    rows = []
    for dataset, result in record.results.items():
        m, c = result.metrics, result.counts
        values = [m.get(k, float("nan")) for k in ("mae_yaw", "mae_pitch", "mae_roll", "mae", "geodesic", "maev")]
        rows.append([dataset, *values, c["evaluated"], c["fallback"], result.box_source])
    headers = ["dataset", "yaw", "pitch", "roll", "MAE", "geodesic", "MAEV", "n", "fallback", "boxes"]
    notes = []
    for dataset, result in record.results.items():
        ranges = ", ".join(f"{name}° {v['mae']:.2f} (n {v['n']})" for name, v in (result.by_yaw or {}).items()
                           if v["n"])
        if ranges:
            notes.append(f"{dataset} MAE by |yaw|: {ranges}")
        if result.mean_predictor_mae is not None:
            notes.append(f"{dataset}: predicting the training mean instead gives MAE {result.mean_predictor_mae:.2f}")
    settings = record.evaluation
    whose = "the model's" if settings.preprocessing == "model" else "the protocol's"
    title = (f"protocol {record.protocol.name} v{record.protocol.version} · {record.model.file} · crop "
             f"{settings.crop} at {settings.input_size} px ({whose}) · outputs read as {record.model.convention}"
             + (" (overridden)" if settings.convention_overridden else ""))
    table = tabulate(rows, headers=headers, floatfmt=".2f", missingval="—")
    return "\n".join([title, table, *notes])


def evaluate_and_report(model: str, protocol: str | None = None, test: str | None = None, out: str | None = None,
                        record: str | None = None, **options) -> int:
    """``hpbench evaluate``: score on a protocol (or on one prepared file, ``test``), print the table,
    write the record (and the leaderboard's copy)."""
    if (protocol is None) == (test is None):
        raise HpbenchError("name a protocol (--protocol p1) or one prepared file (--test data/mine.h5), not both")
    if test is not None:
        if record is not None:
            raise HpbenchError("--record ranks a record under its protocol; a --test file has none")
        protocol, options["data_dir"] = file_protocol(test, options.pop("boxes", None))
    result = evaluate(model, protocol, **options)
    if any(r.per_joint for r in result.results.values()):
        from hpbench.evaluation.bodypose import bodypose_table

        print(bodypose_table(result))
    else:
        print(results_table(result))
    print(f"record: {result.write(out or result.default_path)}")
    if record is not None:
        from hpbench.evaluation.leaderboard import leaderboards_dir

        folder = Path(record) if record else leaderboards_dir() / "results"
        print(f"leaderboard record: {result.write(result.leaderboard_path(folder))} (then: hpbench leaderboard build)")
    if options.get("save_predictions"):
        print(f"predictions: {options['save_predictions']}")
    return 0
