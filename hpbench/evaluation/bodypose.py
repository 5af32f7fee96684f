"""``hpbench evaluate MODEL --protocol lsp-cpm``: body-pose models scored on a protocol's test sets.

Each test crop (hpbench.data.bodypose, the protocol's input size, the model's normalisation) goes
through the model once: the last stage's maps decode to joints (hpbench.data.bodypose.
decode_heatmaps), mapped back to original-image pixels and scored by the protocol's metrics —
``pck@α`` (the torso: left shoulder to right hip) or ``pckh@α`` (0.6 × the head box's diagonal,
pelvis and thorax out of the mean) — overall and per joint. The report's own metric is the loss on
the same crops (hpbench.training.losses.belief_map_loss, in the CPM release's unit). The record is
a ``ResultRecord`` as for head pose, with ``per_joint`` filled.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from hpbench.data.bodypose import BodyPoseDataset, decode_heatmaps
from hpbench.errors import HpbenchError
from hpbench.evaluation.analysis import training_selections
from hpbench.evaluation.record_head import record_head
from hpbench.evaluation.records import DatasetResult, EvaluationSettings, ResultRecord
from hpbench.format import check_unchanged
from hpbench.io import atomic_path
from hpbench.metrics import compute_metrics, keypoint_scores
from hpbench.paths import output_path
from hpbench.protocols import Protocol, Selection, require_samples, select
from hpbench.provenance import environment, utc_now
from hpbench.training.losses import belief_map_loss


@dataclass
class BodyPredictions:
    selection: Selection
    dataset: BodyPoseDataset
    predicted: np.ndarray  # (n, k, 2) original-image pixels
    losses: np.ndarray  # (n,) the belief-map loss of each sample (nan for models without maps)
    seconds_forward: float
    seconds_total: float


DECODINGS = ("parabola", "argmax")  # hpbench.data.bodypose.decode_heatmaps with and without refine


def predict_bodies(module: torch.nn.Module, selection: Selection, dataset: BodyPoseDataset, device: str,
                   batch_size: int = 16, workers: int = 0, progress: bool = True,
                   decode: str = "parabola") -> BodyPredictions:
    """Joints (original pixels) and per-sample losses of a CPM-like module over one selection's
    Dataset, in order; ``decode`` one of DECODINGS."""
    if decode not in DECODINGS:
        raise HpbenchError(f"decode {decode!r}: one of {', '.join(DECODINGS)}")
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers, shuffle=False)
    joints, losses, forward, started = [], [], 0.0, time.perf_counter()
    was_training = module.training
    module.eval()
    with torch.inference_mode():
        for batch in tqdm(loader, desc=f"evaluate {selection.dataset}", unit="batch", disable=not progress):
            images = dataset.preprocessing.normalise(batch["image"].to(device))
            tick = time.perf_counter()
            stages = module(images)
            forward += time.perf_counter() - tick
            if stages.dim() != 5 or stages.shape[2] < module.joints:
                raise HpbenchError(f"the model gave outputs of shape {tuple(stages.shape)}; a body-pose model gives "
                                   "(stages, N, maps, H, W) belief maps")
            joints.append(decode_heatmaps(stages[-1][:, : module.joints].float(), module.stride,
                                          refine=decode == "parabola").cpu().numpy())
            losses.append(belief_map_loss(stages.float(), batch["heatmaps"].to(device), reduce=False).cpu().numpy())
    module.train(was_training)
    crop_joints = np.concatenate(joints).astype(np.float64)
    return BodyPredictions(selection, dataset, dataset.to_original(crop_joints), np.concatenate(losses), forward,
                           time.perf_counter() - started)


def score_bodies(predictions: BodyPredictions, protocol: Protocol) -> DatasetResult:
    """The protocol's metrics, overall and per joint, and the mean loss, on one test set."""
    data = predictions.dataset
    if data.truth_joints.shape[1] != predictions.predicted.shape[1]:
        raise HpbenchError(f"the model predicts {predictions.predicted.shape[1]} joints; "
                           f"{predictions.selection.dataset} has {data.truth_joints.shape[1]}")
    context = {"head_boxes": data.head_boxes}
    metrics = compute_metrics(protocol.metrics, predictions.predicted, data.truth_joints, **context)
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


def mean_pose_scores(protocol: Protocol, data_dir, test_sets: list[BodyPoseDataset]) -> tuple[dict[str, dict], str]:
    """The protocol's metrics on each test set of predicting, in every test crop, the mean joints of the
    training split's crops (unaugmented, in crop pixels), and what that mean was taken from (or why
    there is none): the body-pose counterpart of head pose's mean predictor."""
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


def evaluate_bodypose(model, protocol: Protocol, data_dir, device: str, batch_size: int, workers: int,
                      save_predictions=None, analysis=None, progress: bool = True,
                      decode: str = "parabola") -> ResultRecord:
    """Score a loaded body-pose model (hpbench.models.loading.LoadedModel) on the protocol's test split;
    ``decode``: each joint at its map's argmax cell, refined by a parabola (the default) or not."""
    if getattr(model.module, "task", "headpose") != "bodypose":
        raise HpbenchError(f"protocol {protocol.name} scores body pose; {model.path} is a head-pose model "
                           f"({model.arch})")
    preprocessing = model.preprocessing_for(protocol.input_size)
    results, all_predictions = {}, []
    selections = require_samples(select(protocol, protocol.test_split, data_dir), protocol, protocol.test_split)
    for selection in selections:
        dataset = BodyPoseDataset(selection.data, selection.indices, preprocessing)
        predictions = predict_bodies(model.module, selection, dataset, device, batch_size, workers, progress, decode)
        results[selection.dataset] = score_bodies(predictions, protocol)
        all_predictions.append(predictions)
        if analysis:
            from hpbench.evaluation.skeleton_pictures import worst_skeletons_picture

            worst_skeletons_picture(predictions, output_path(analysis, f"{protocol.name}-{selection.dataset}-worst.png"))
    for selection in selections:  # what was scored is what was checked
        check_unchanged(selection.path)
    baseline, _ = mean_pose_scores(protocol, data_dir, [p.dataset for p in all_predictions])
    for dataset, scores in baseline.items():
        results[dataset].mean_predictor_scores = scores
    if save_predictions:
        write_body_predictions(save_predictions, all_predictions)
    return ResultRecord(
        *record_head(protocol, results, model, preprocessing.input_size, device),
        evaluation=EvaluationSettings(protocol.crop, preprocessing.input_size, preprocessing.colour, "protocol",
                                      device, batch_size, None, preprocessing.resize_kernel, decode=decode),
        environment=environment(), date=utc_now(), results=results)


def write_body_predictions(path, predictions: list[BodyPredictions]) -> None:
    """One row per sample and joint: dataset, key, joint, predicted and true x, y, visible."""
    with atomic_path(path) as partial, open(partial, "w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["dataset", "key", "joint", "pred_x", "pred_y", "true_x", "true_y", "visible", "loss"])
        for p in predictions:
            data = p.dataset
            for key, predicted, truth, visible, loss in zip(data.keys, p.predicted, data.truth_joints, data.visible,
                                                            p.losses):
                for name, (px, py), (tx, ty), seen in zip(data.joint_names, predicted, truth, visible):
                    out.writerow([p.selection.dataset, key, name, f"{px:.2f}", f"{py:.2f}", f"{tx:.2f}", f"{ty:.2f}",
                                  int(seen), f"{loss:.3f}"])


def bodypose_table(record: ResultRecord) -> str:
    """The printed result: per test set the metrics, the loss and n; then each joint's accuracy."""
    from tabulate import tabulate

    rows, joints = [], []
    for dataset, result in record.results.items():
        scores = [(k, v) for k, v in result.metrics.items() if k != "loss"]
        rows.append([dataset, *(f"{100 * v:.1f} %" for _, v in scores), f"{result.metrics['loss']:.1f}",
                     result.counts["evaluated"]])
        headers = ["dataset", *(k.upper() for k, _ in scores), "loss (CPM release's unit)", "n"]
        for metric, values in (result.per_joint or {}).items():
            joints.append(f"{dataset} {metric.upper()} per joint: " + ", ".join(
                f"{name} {'—' if v is None else f'{100 * v:.0f}'}" for name, v in values.items()))
    title = (f"protocol {record.protocol.name} v{record.protocol.version} · {record.model.file} · crop "
             f"{record.evaluation.crop} at {record.evaluation.input_size} px · joints decoded by "
             f"{record.evaluation.decode or 'parabola'}")
    baseline = [f"{dataset}: predicting the training crops' mean joints instead gives "
                + ", ".join(f"{k.upper()} {100 * v:.1f} %" for k, v in result.mean_predictor_scores.items())
                for dataset, result in record.results.items() if result.mean_predictor_scores]
    return "\n".join([title, tabulate(rows, headers=headers), *joints, *baseline])
