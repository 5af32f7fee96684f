"""Head pose: crops of a face, three angles out, errors in degrees (MAE, geodesic, MAEV …).

A model's outputs are read in its convention and converted to the canonical one (hpbench.pose); the
protocol's metrics are measured in its ``score_convention``. The trivial baseline predicts, for every
test face, the mean pose of the protocol's training split. ``--analysis`` draws the error against each
true angle and the worst predictions with their axes.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np
import torch

from hpbench.data.crops import checked_kernel
from hpbench.data.headpose import MISSING_FACE_RULES, HeadPoseDataset, dataset_for, resolve_boxes
from hpbench.errors import HpbenchError
from hpbench.evaluation.analysis import (
    error_by_yaw,
    plot_error_vs_angle,
    training_mean_pose,
    worst_predictions_picture,
)
from hpbench.evaluation.predictions import checked_keys, column, indexed, run_times
from hpbench.evaluation.records import DatasetResult
from hpbench.io import atomic_path
from hpbench.metrics import Column, compute_metrics, mean_columns, metric_columns
from hpbench.models.ensemble import EnsemblePredictor
from hpbench.models.inference import run_model
from hpbench.pose import get_convention
from hpbench.protocols import Protocol, Selection
from hpbench.tasks import CHANGES, EvaluationOptions, Setup, Task, register_task
from hpbench.training.headpose import head_pose_run


MATRIX_COLUMNS = tuple(f"r{row}{col}" for row in (1, 2, 3) for col in (1, 2, 3))  # a rotation matrix, row-major


@dataclass(frozen=True)
class AnglePredictor:
    """Images → values in ``convention`` (the model's), converted to canonical angles after the run."""

    predict: Callable[[torch.Tensor], torch.Tensor]
    convention: str


@dataclass
class HeadPredictions:
    selection: Selection
    keys: np.ndarray
    truth: np.ndarray  # canonical
    predicted: np.ndarray  # canonical
    fallback: np.ndarray
    box_source: str
    seconds_forward: float
    seconds_total: float


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


@register_task
class HeadPose(Task):
    name = "headpose"
    title = "head pose"
    missing_face = MISSING_FACE_RULES
    angle_filter = True
    file_convention = "hpbench"
    options = ("crop", "boxes", "ensemble", "model_preprocessing", *CHANGES)
    counts = (Column("evaluated", "n_eval", "n", 0), Column("fallback", "n_fallback", "fallback", 0))
    kept = metric_columns(["geodesic"])  # reported tables give it beside the MAE

    def setup(self, model, protocol: Protocol, options: EvaluationOptions) -> Setup:
        spec = options.ensemble
        preprocessing = model.preprocessing_for(options.input_size or protocol.input_size,
                                                own=options.model_preprocessing)
        if options.resize_kernel:
            preprocessing = replace(preprocessing, resize_kernel=checked_kernel(options.resize_kernel))
        if options.swap_channels:
            preprocessing = replace(preprocessing, colour="bgr" if preprocessing.colour == "rgb" else "rgb")
        crop = options.crop or (model.crop if options.model_preprocessing else None) or protocol.crop
        predict = EnsemblePredictor(model.module, spec) if spec else model.predict
        ensemble = {"pad": spec.pad, "stride": spec.stride, "crops": spec.size} if spec else None
        return Setup(preprocessing, crop, AnglePredictor(predict, model.convention),
                     {"boxes": options.boxes or "protocol", "ensemble": ensemble,
                      "preprocessing": "model" if options.model_preprocessing else "protocol",
                      "convention_overridden": model.convention_overridden, "changes": options.changes()})

    def predictor(self, module, convention: str = "hpbench") -> AnglePredictor:
        return AnglePredictor(module.predict, convention)

    def dataset(self, selection: Selection, setup: Setup, protocol: Protocol, options: EvaluationOptions,
                workers: int = 0, progress: bool = True) -> HeadPoseDataset:
        pad = options.ensemble.pad if options.ensemble else 0
        return dataset_for(selection, setup.crop, setup.preprocessing, options.boxes, protocol.missing_face, pad=pad,
                           cache=options.cache, workers=workers, progress=progress, box_change=options.box_change,
                           degrade=options.degrade)

    def predict(self, dataset: HeadPoseDataset, selection: Selection, predictor: AnglePredictor, device: str,
                batch_size: int, workers: int, progress: bool = True) -> HeadPredictions:
        adapter = get_convention(predictor.convention)
        values, forward, total = run_model(dataset, predictor.predict, device, batch_size, workers,
                                           f"evaluate {selection.dataset}", progress,
                                           check=lambda batch, n: _check_shape(batch, n, adapter))
        keys = dataset.keys
        _check_finite(values, keys)
        return HeadPredictions(selection, keys, dataset.ypr.astype(np.float64), adapter.to_canonical(values),
                               dataset.fallback, dataset.box_source, forward, total)

    def score(self, predictions: HeadPredictions, protocol: Protocol) -> DatasetResult:
        """The protocol's metrics, with the counts of every selection step and the error by yaw range."""
        metrics = compute_metrics(protocol.metrics, predictions.predicted, predictions.truth,
                                  convention=protocol.score_convention)
        counts = dict(predictions.selection.counts)
        counts.update(evaluated=len(predictions.truth), fallback=int(predictions.fallback.sum()))
        seconds = {"forward": round(predictions.seconds_forward, 3), "total": round(predictions.seconds_total, 3)}
        by_yaw = error_by_yaw(predictions.predicted, predictions.truth, protocol.score_convention)
        return DatasetResult(metrics, counts, predictions.box_source, predictions.selection.keys_sha256, seconds,
                             predictions.selection.content_sha256, by_yaw)

    def baseline(self, protocol: Protocol, data_dir, predictions: list[HeadPredictions]):
        """Always predicting the mean pose of the protocol's training split."""
        mean, source = training_mean_pose(protocol, data_dir)
        if mean is None:
            return {}, source
        return {p.selection.dataset: compute_metrics(protocol.metrics, np.broadcast_to(mean, p.truth.shape), p.truth,
                                                     convention=protocol.score_convention)
                for p in predictions}, source

    def handed_out(self, selection: Selection, protocol: Protocol) -> list[dict]:
        entry = selection.entry
        boxes, fallback = resolve_boxes(selection.data, selection.indices, entry.boxes or entry.reference,
                                        entry.reference)
        if protocol.missing_face == "refuse" and fallback.any():
            raise HpbenchError(f"{selection.path}: {int(fallback.sum())} selected samples have no '{entry.boxes}' box "
                               "and the protocol refuses a fallback")
        return [{"key": str(key), **dict(zip(("x1", "y1", "x2", "y2"), map(repr, map(float, box)))),
                 "fallback_box": int(used)}
                for key, box, used in zip(selection.data.keys[selection.indices], boxes, fallback)]

    def rows_of(self, predictions, selection: Selection, convention: str | None) -> list[dict]:
        adapter = get_convention(convention or self.file_convention)
        names = MATRIX_COLUMNS if adapter.value_shape == (3, 3) else adapter.value_names
        rows = []
        for key, values in predictions.items():
            values = np.asarray(values, dtype=np.float64).reshape(-1)
            if len(values) != len(names):
                raise HpbenchError(f"the prediction of {key} has {len(values)} values; the {adapter.name} convention "
                                   f"gives {len(names)} ({', '.join(names)})")
            rows.append({"key": str(key), **{name: repr(float(v)) for name, v in zip(names, values)}})
        return rows

    def from_file(self, path, selection: Selection, rows: list[dict], protocol: Protocol,
                  convention: str | None) -> HeadPredictions:
        """A predictions file's rows of one test set: three angles in ``convention`` (hpbench's by
        default), or a rotation matrix ``r11 … r33`` for a matrix convention."""
        adapter = get_convention(convention or self.file_convention)
        table = indexed(path, selection.dataset, rows, ("key",))
        take, present = checked_keys(path, selection, [key for (key,) in table])
        names = MATRIX_COLUMNS if adapter.value_shape == (3, 3) else adapter.value_names
        chosen = [table[(key,)] for key in present]
        values = column(chosen, names, path, selection.dataset, present).reshape(len(present), *adapter.value_shape)
        seconds = run_times(path, selection.dataset, chosen, present) or 0.0
        indices = selection.indices[take]
        return HeadPredictions(selection, selection.data.keys[indices], selection.truth[take].astype(np.float64),
                               adapter.to_canonical(values), np.zeros(len(take), bool),
                               selection.entry.boxes or selection.entry.reference or "", seconds, seconds)

    def draw(self, predictions: HeadPredictions, dataset: HeadPoseDataset, title: str, stem) -> list:
        return [plot_error_vs_angle(predictions.predicted, predictions.truth, title,
                                    stem.with_name(f"{stem.name}-error-vs-angle.png")),
                worst_predictions_picture(dataset, predictions.predicted, predictions.truth, predictions.keys,
                                          stem.with_name(f"{stem.name}-worst.png"))]

    def write_predictions(self, path, predictions: list[HeadPredictions]) -> None:
        with atomic_path(path) as partial, open(partial, "w", newline="") as handle:
            out = csv.writer(handle)
            out.writerow(["dataset", "key", "pred_yaw", "pred_pitch", "pred_roll", "true_yaw", "true_pitch",
                          "true_roll", "fallback_box"])
            for p in predictions:
                for key, pred, true, fallback in zip(p.keys, p.predicted, p.truth, p.fallback):
                    out.writerow([p.selection.dataset, key, *map(repr, map(float, pred)), *map(repr, map(float, true)),
                                  int(fallback)])

    def describe(self, record) -> str:
        whose = "the model's" if record.evaluation.preprocessing == "model" else "the protocol's"
        return (f"({whose}) · outputs read as {record.model.convention}"
                + (" (overridden)" if record.evaluation.convention_overridden else ""))

    def notes(self, record) -> list[str]:
        notes = []
        columns = mean_columns(record.protocol.metrics)
        shown = "geodesic" if record.protocol.metrics[0] == "geodesic" else "mae"  # what the protocol ranks by
        for dataset, result in record.results.items():
            ranges = ", ".join(f"{name}° {v[shown]:.2f} (n {v['n']})" for name, v in (result.by_yaw or {}).items()
                               if v["n"] and v.get(shown) is not None)
            if ranges:
                notes.append(f"{dataset} {'MAE' if shown == 'mae' else shown} by |yaw|: {ranges}")
            if result.mean_predictor_scores:
                shown = ", ".join(f"{c.header} {result.mean_predictor_scores[c.key]:.2f}" for c in columns
                                  if c.key in result.mean_predictor_scores)
                notes.append(f"{dataset}: predicting the training mean instead gives {shown}")
        return notes

    def training_run(self, recipe, protocol, model, data_dir, pretrained, processes, workers, progress, cache):
        return head_pose_run(self, recipe, protocol, model, data_dir, pretrained, processes, workers, progress, cache)
