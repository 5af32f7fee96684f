"""Body pose: person crops, belief maps out, joints scored by PCK / PCKh, overall and per joint.

Each test crop (hpbench.data.bodypose, the protocol's input size, the model's normalisation) goes
through the model once: the last stage's maps decode to joints (hpbench.data.bodypose.
decode_heatmaps), mapped back to original-image pixels and scored by the protocol's metrics —
``pck@α`` (the torso: left shoulder to right hip) or ``pckh@α`` (0.6 × the head box's diagonal,
pelvis and thorax out of the mean) — overall and per joint. The task's own column is the loss on the
same crops (hpbench.training.losses.belief_map_loss, in the CPM release's unit). The trivial baseline
predicts, in every test crop, the mean joints of the training split's crops.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
import numpy as np
import torch

from hpbench.data.bodypose import BodyPoseDataset, decode_heatmaps
from hpbench.data.transforms import Preprocessing
from hpbench.errors import HpbenchError
from hpbench.evaluation.analysis import training_selections
from hpbench.evaluation.predictions import checked_keys, column, indexed, run_times
from hpbench.evaluation.records import DatasetResult
from hpbench.evaluation.skeleton_pictures import worst_skeletons_picture
from hpbench.io import atomic_path
from hpbench.metrics import Column, compute_metrics, keypoint_scores, mean_columns
from hpbench.models.inference import run_batches
from hpbench.protocols import Protocol, Selection
from hpbench.tasks import EvaluationOptions, Setup, Task, register_task
from hpbench.training.bodypose import bodypose_run
from hpbench.training.losses import belief_map_loss

DECODINGS = ("parabola", "argmax")  # hpbench.data.bodypose.decode_heatmaps with and without refine


def checked_decoding(decode: str) -> str:
    if decode not in DECODINGS:
        raise HpbenchError(f"decode {decode!r}: one of {', '.join(DECODINGS)}")
    return decode


@dataclass(frozen=True)
class MapPredictor:
    """A CPM-like module (``joints``, ``stride``; belief maps out) and how its maps become joints."""

    module: torch.nn.Module
    decode: str = "parabola"


@dataclass
class BodyPredictions:
    selection: Selection
    dataset: BodyPoseDataset
    predicted: np.ndarray  # (n, k, 2) original-image pixels
    losses: np.ndarray | None  # (n,) the belief-map loss of each sample (None: predictions from a file)
    seconds_forward: float
    seconds_total: float


@register_task
class BodyPose(Task):
    name = "bodypose"
    title = "body pose"
    missing_face = ("none",)
    file_convention = "joints"
    options = ("decode",)
    columns = (Column("loss", "loss", "loss", 2, unit="loss (the CPM release's unit)", title="loss"),)
    counts = (Column("evaluated", "n_eval", "n", 0),)
    kept = columns

    def setup(self, model, protocol: Protocol, options: EvaluationOptions) -> Setup:
        decode = checked_decoding(options.decode or "parabola")
        return Setup(model.preprocessing_for(protocol.input_size), protocol.crop, MapPredictor(model.module, decode),
                     {"decode": decode})

    def predictor(self, module, convention: str = "joints") -> MapPredictor:
        return MapPredictor(module)

    def dataset(self, selection: Selection, setup: Setup, protocol: Protocol, options: EvaluationOptions,
                workers: int = 0, progress: bool = True) -> BodyPoseDataset:
        return BodyPoseDataset(selection.data, selection.indices, setup.preprocessing)

    def predict(self, dataset: BodyPoseDataset, selection: Selection, predictor: MapPredictor, device: str,
                batch_size: int, workers: int, progress: bool = True) -> BodyPredictions:
        """Joints (original pixels) and per-sample losses over one selection's Dataset, in order."""
        module = predictor.module

        def step(images: torch.Tensor, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
            stages = module(images)
            if stages.dim() != 5 or stages.shape[2] < module.joints:
                raise HpbenchError(f"the model gave outputs of shape {tuple(stages.shape)}; a body-pose model gives "
                                   "(stages, N, maps, H, W) belief maps")
            joints = decode_heatmaps(stages[-1][:, : module.joints].float(), module.stride,
                                     refine=predictor.decode == "parabola")
            return joints, belief_map_loss(stages.float(), batch["heatmaps"].to(images.device), reduce=False)

        was_training = module.training
        module.eval()
        try:
            (joints, losses), forward, total = run_batches(dataset, step, device, batch_size, workers,
                                                           f"evaluate {selection.dataset}", progress)
        finally:
            module.train(was_training)
        return BodyPredictions(selection, dataset, dataset.to_original(joints.astype(np.float64)), losses, forward,
                               total)

    def score(self, predictions: BodyPredictions, protocol: Protocol) -> DatasetResult:
        """The protocol's metrics, overall and per joint, and the mean loss, on one test set."""
        data = predictions.dataset
        if data.truth_joints.shape[1] != predictions.predicted.shape[1]:
            raise HpbenchError(f"the model predicts {predictions.predicted.shape[1]} joints; "
                               f"{predictions.selection.dataset} has {data.truth_joints.shape[1]}")
        context = {"head_boxes": data.head_boxes}
        metrics = compute_metrics(protocol.metrics, predictions.predicted, data.truth_joints, **context)
        if predictions.losses is not None:
            metrics["loss"] = float(np.mean(predictions.losses))
        per_joint = {}
        for name in protocol.metrics:
            accuracy = keypoint_scores(name, predictions.predicted, data.truth_joints, **context)
            per_joint[name] = {joint: None if np.isnan(v) else float(v)
                               for joint, v in zip(data.joint_names, accuracy.per_joint)}
        counts = dict(predictions.selection.counts)
        counts.update(evaluated=len(data), fallback=0)
        seconds = {"forward": round(predictions.seconds_forward, 3), "total": round(predictions.seconds_total, 3)}
        return DatasetResult(metrics, counts, "person", predictions.selection.keys_sha256, seconds,
                             predictions.selection.content_sha256, per_joint=per_joint)

    def handed_out(self, selection: Selection, protocol: Protocol) -> list[dict]:
        """Each person's key and the joint names to predict (the ``square`` crop is on the person centre
        and scale the prepared file holds: docs/PROTOCOLS.md)."""
        joints = " ".join(selection.data.layout.joint_names)
        return [{"key": str(key), "joints": joints} for key in selection.data.keys[selection.indices]]

    def rows_of(self, predictions, selection: Selection, convention: str | None) -> list[dict]:
        names = selection.data.layout.joint_names
        rows = []
        for key, joints in predictions.items():
            joints = np.asarray(joints, dtype=np.float64)
            if joints.shape != (len(names), 2):
                raise HpbenchError(f"the prediction of {key} has shape {joints.shape}; {selection.dataset} has "
                                   f"{len(names)} joints of (x, y)")
            rows += [{"key": str(key), "joint": name, "x": repr(float(x)), "y": repr(float(y))}
                     for name, (x, y) in zip(names, joints)]
        return rows

    def from_file(self, path, selection: Selection, rows: list[dict], protocol: Protocol,
                  convention: str | None) -> BodyPredictions:
        """A predictions file's rows of one test set: one per sample and joint, ``x`` and ``y`` in
        original-image pixels (``convention`` does not apply)."""
        table = indexed(path, selection.dataset, rows, ("key", "joint"))
        take, present = checked_keys(path, selection, [key for key, _ in table])
        dataset = BodyPoseDataset(selection.data, selection.indices[take], Preprocessing(input_size=protocol.input_size))
        names = list(dataset.joint_names)
        unknown = sorted({joint for _, joint in table} - set(names))
        lacking = [f"{key}/{joint}" for key in present for joint in names if (key, joint) not in table]
        if unknown or lacking:
            raise HpbenchError(f"{path}: {selection.dataset}: "
                               + (f"joints it does not have: {', '.join(unknown[:3])}; " if unknown else "")
                               + (f"joints without a row: {', '.join(lacking[:3])}" if lacking else "").rstrip("; "))
        chosen = [table[(key, joint)] for key in present for joint in names]
        labels = [f"{key}/{joint}" for key in present for joint in names]
        joints = column(chosen, ("x", "y"), path, selection.dataset, labels).reshape(len(present), len(names), 2)
        seconds = run_times(path, selection.dataset, chosen[:: len(names)] if names else [], present) or 0.0
        return BodyPredictions(selection, dataset, joints, None, seconds, seconds)

    def baseline(self, protocol: Protocol, data_dir, predictions: list[BodyPredictions]):
        return mean_pose_scores(protocol, data_dir, [p.dataset for p in predictions])

    def draw(self, predictions: BodyPredictions, dataset: BodyPoseDataset, title: str, stem) -> list:
        return [worst_skeletons_picture(predictions, stem.with_name(f"{stem.name}-worst.png"))]

    def write_predictions(self, path, predictions: list[BodyPredictions]) -> None:
        """One row per sample and joint: dataset, key, joint, predicted and true x, y, visible."""
        with atomic_path(path) as partial, open(partial, "w", newline="") as handle:
            out = csv.writer(handle)
            out.writerow(["dataset", "key", "joint", "pred_x", "pred_y", "true_x", "true_y", "visible", "loss"])
            for p in predictions:
                data = p.dataset
                losses = p.losses if p.losses is not None else [None] * len(data)
                for key, predicted, truth, visible, loss in zip(data.keys, p.predicted, data.truth_joints,
                                                                data.visible, losses):
                    for name, (px, py), (tx, ty), seen in zip(data.joint_names, predicted, truth, visible):
                        out.writerow([p.selection.dataset, key, name, repr(float(px)), repr(float(py)),
                                      repr(float(tx)), repr(float(ty)), int(seen), "" if loss is None else repr(float(loss))])

    def describe(self, record) -> str:
        return f"· joints decoded by {record.evaluation.decode or 'parabola'}"

    def notes(self, record) -> list[str]:
        notes = []
        for dataset, result in record.results.items():
            for metric, values in (result.per_joint or {}).items():
                notes.append(f"{dataset} {metric.upper()} per joint: " + ", ".join(
                    f"{name} {'—' if v is None else f'{100 * v:.0f}'}" for name, v in values.items()))
        columns = mean_columns(record.protocol.metrics)
        for dataset, result in record.results.items():
            if result.mean_predictor_scores:
                notes.append(f"{dataset}: predicting the training crops' mean joints instead gives " + ", ".join(
                    f"{c.header} {100 * result.mean_predictor_scores[c.key]:.1f} %" for c in columns
                    if c.key in result.mean_predictor_scores))
        return notes

    def training_run(self, recipe, protocol, model, data_dir, pretrained, processes, workers, progress, cache):
        return bodypose_run(self, recipe, protocol, model, data_dir, processes.device, workers)


def mean_pose_scores(protocol: Protocol, data_dir, test_sets: list[BodyPoseDataset]) -> tuple[dict[str, dict], str]:
    """The protocol's metrics on each test set of predicting, in every test crop, the mean joints of the
    training split's crops (unaugmented, in crop pixels), and what that mean was taken from (or why
    there is none)."""
    selections, why = training_selections(protocol, data_dir, "mean pose")
    if not selections:
        return {}, why
    preprocessing = test_sets[0].preprocessing
    crops = [BodyPoseDataset(s.data, s.indices, preprocessing) for s in selections]
    crops = [train.to_crop(train.truth_joints) for train in crops]
    joints = {c.shape[1] for c in crops} | {t.truth_joints.shape[1] for t in test_sets}
    if len(joints) != 1:
        return {}, f"no mean pose: the training and test sets have {sorted(joints)} joints"
    crops = np.concatenate(crops)
    mean = np.nanmean(crops, axis=0)
    scores = {}
    for test in test_sets:
        predicted = test.to_original(np.broadcast_to(mean, (len(test), *mean.shape)))
        scores[str(test.data.layout.dataset)] = compute_metrics(protocol.metrics, predicted, test.truth_joints,
                                                                head_boxes=test.head_boxes)
    return scores, (f"the mean joints of {len(crops):,} training crops at {preprocessing.input_size} px "
                    f"({', '.join(s.dataset for s in selections)})")
