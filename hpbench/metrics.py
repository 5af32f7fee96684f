"""Evaluation metrics, numpy only: head-pose errors and PCK / PCKh for body joints.

``METRICS`` holds them under the names a protocol's ``metrics:`` list uses (``mae``, ``mae_wrap180``,
``mae_wrap360``, ``geodesic``, ``maev``, ``rotation_fro``, ``pck@0.2``, ``pckh@0.5``: the number after
``@`` is the metric's parameter);
``compute_metrics`` scores predictions with such a list.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import partial
from typing import Callable

import numpy as np

from hpbench.errors import HpbenchError
from hpbench.pose import get_convention, rotation_from_ypr
from hpbench.registry import Registry
from hpbench.skeletons import LSP_TORSO, MPII_PCKH_EXCLUDED

MPII_HEAD_FACTOR = 0.6  # MPII's evaluation: head size = 0.6 × the head box diagonal


# ---------------------------------------------------------------------------------------------
# Head pose


def angle_errors(predicted, truth) -> np.ndarray:
    """|predicted − truth| per angle, in degrees, without wrapping (KD's and HopeNet's evaluation)."""
    return np.abs(np.asarray(predicted, float) - np.asarray(truth, float))


def geodesic_errors(predicted_ypr, truth_ypr) -> np.ndarray:
    """The angle of R_predᵀ·R_true in degrees (0–180): the rotation between the two poses."""
    r_pred, r_true = rotation_from_ypr(predicted_ypr), rotation_from_ypr(truth_ypr)
    trace = np.einsum("nij,nij->n", r_pred, r_true)
    return np.degrees(np.arccos(np.clip((trace - 1) / 2, -1.0, 1.0)))


def vector_errors(predicted_ypr, truth_ypr) -> np.ndarray:
    """(N, 3) angles in degrees between the head's three axes as predicted and as labelled (TriNet's
    left, down and front vectors); their mean is MAEV.

    A head point p appears in the camera at Rᵀ·p (docs/CONVENTIONS.md), so the head's axes in the
    camera are the *rows* of R: the rows are compared, as 6DRepNet's test.py does (``R[:, i]`` of its
    (B, 3, 3) batches)."""
    r_pred, r_true = rotation_from_ypr(predicted_ypr), rotation_from_ypr(truth_ypr)
    cosine = np.einsum("nij,nij->ni", r_pred, r_true)
    return np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))


def mean_absolute_errors(predicted_ypr, truth_ypr, convention: str = "hpbench") -> dict[str, float]:
    """MAE per value of ``convention`` (canonical: yaw, pitch, roll) and their mean, without wrapping.

    Values that are NaN throughout the truth (ETH-XGaze's roll) are left out of the mean (NaN in
    their own column).
    """
    adapter = get_convention(convention)
    predicted = adapter.from_canonical(np.asarray(predicted_ypr, float))
    truth = adapter.from_canonical(np.asarray(truth_ypr, float))
    errors = angle_errors(predicted, truth)
    present = ~np.isnan(truth).all(axis=0)
    scores = {f"mae_{name}": float(np.mean(errors[:, i])) if present[i] else float("nan")
              for i, name in enumerate(adapter.value_names)}
    scores["mae"] = float(np.mean(errors[:, present].mean(axis=0))) if present.any() else float("nan")
    return scores


WRAP_SHIFTS = {"mae_wrap180": (0.0, 180.0, -180.0, 360.0, -360.0), "mae_wrap360": (0.0, 360.0, -360.0)}


def wrapped_absolute_errors(predicted_ypr, truth_ypr, name: str, convention: str = "hpbench") -> dict[str, float]:
    """MAE with each error wrapped: ``mae_wrap180`` is 6DRepNet's test.py, min(|d|, |d ± 180|, |d ± 360|),
    which forgives a 180° flip; ``mae_wrap360`` takes d modulo 360 (min(|d|, |d ± 360|)). Never MAE."""
    adapter = get_convention(convention)
    difference = adapter.from_canonical(np.asarray(predicted_ypr, float)) - adapter.from_canonical(
        np.asarray(truth_ypr, float))
    errors = np.min([np.abs(difference + shift) for shift in WRAP_SHIFTS[name]], axis=0)
    present = ~np.isnan(difference).all(axis=0)
    scores = {f"{name}_{angle}": float(np.mean(errors[:, i])) if present[i] else float("nan")
              for i, angle in enumerate(adapter.value_names)}
    scores[name] = float(np.mean(errors[:, present].mean(axis=0))) if present.any() else float("nan")
    return scores


def _lacks_an_angle(truth_ypr) -> bool:
    """True when an angle is NaN throughout the truth: rotation-based errors need all three."""
    return bool(np.isnan(np.asarray(truth_ypr, float)).all(axis=0).any())


def mean_geodesic_error(predicted_ypr, truth_ypr) -> dict[str, float]:
    """The mean geodesic error (degrees); NaN where the truth lacks an angle."""
    if _lacks_an_angle(truth_ypr):
        return {"geodesic": float("nan")}
    return {"geodesic": float(np.mean(geodesic_errors(predicted_ypr, truth_ypr)))}


def mean_vector_error(predicted_ypr, truth_ypr) -> dict[str, float]:
    """MAEV, the mean of the vector errors (degrees); NaN where the truth lacks an angle."""
    if _lacks_an_angle(truth_ypr):
        return {"maev": float("nan")}
    return {"maev": float(np.mean(vector_errors(predicted_ypr, truth_ypr)))}


def mean_rotation_distance(predicted_ypr, truth_ypr) -> dict[str, float]:
    """DAD-3DHeads' pose error, the mean of ‖I − R_pred·R_trueᵀ‖_F (dad_3dheads_benchmark/benchmark.py,
    ``pose_error``). It depends only on the angle θ between the rotations, 2√2·sin(θ/2), so no frame
    convention can change it; NaN where the truth lacks an angle."""
    if _lacks_an_angle(truth_ypr):
        return {"rotation_fro": float("nan")}
    angle = np.radians(geodesic_errors(predicted_ypr, truth_ypr))
    return {"rotation_fro": float(np.mean(2 * np.sqrt(2) * np.sin(angle / 2)))}


def head_pose_scores(predicted_ypr, truth_ypr) -> dict[str, float]:
    """MAE per angle and their mean (no wrapping), mean geodesic error and MAEV, in degrees."""
    return compute_metrics(("mae", "geodesic", "maev"), predicted_ypr, truth_ypr)


# ---------------------------------------------------------------------------------------------
# Body pose


@dataclass(frozen=True)
class KeypointAccuracy:
    """Share of counted joints within the threshold, per joint (NaN where none counts) and overall."""

    per_joint: np.ndarray
    mean: float
    counted: np.ndarray  # (J,) how many joints counted


def keypoint_accuracy(
    predicted: np.ndarray,
    truth: np.ndarray,
    reference: np.ndarray,
    alpha: float,
    excluded_from_mean: tuple[int, ...] = (),
    counts: np.ndarray | None = None,
) -> KeypointAccuracy:
    """A joint is correct when ‖predicted − truth‖ ≤ alpha · reference (per sample).

    Every annotated joint (finite true coordinates) counts, visible or occluded, as in the published
    evaluations (LSP's ``eval_pck.m``, MPII's ``jnt_missing``); ``counts`` (N, J) narrows that further.
    A sample whose reference length is not positive and finite counts for nothing. The mean pools all
    counted joints except ``excluded_from_mean``.
    """
    predicted, truth = np.asarray(predicted, float), np.asarray(truth, float)
    if predicted.shape != truth.shape or predicted.shape[-1] != 2:
        raise ValueError(f"predicted {predicted.shape} and truth {truth.shape} must both be (N, J, 2)")
    reference = np.asarray(reference, float)
    valid = np.isfinite(truth).all(axis=-1) & (np.isfinite(reference) & (reference > 0))[:, None]
    if counts is not None:
        valid &= np.asarray(counts, bool)
    distance = np.linalg.norm(predicted - truth, axis=-1)
    correct = valid & (distance <= alpha * reference[:, None])  # NaN predictions are wrong
    counted = valid.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_joint = np.where(counted > 0, correct.sum(axis=0) / counted, np.nan)
    keep = np.ones(truth.shape[1], bool)
    keep[list(excluded_from_mean)] = False
    pooled = counted[keep].sum()
    mean = float(correct[:, keep].sum() / pooled) if pooled else float("nan")
    return KeypointAccuracy(per_joint, mean, counted)


def torso_lengths(truth: np.ndarray, torso: tuple[int, int] = LSP_TORSO) -> np.ndarray:
    """Distance between the torso joints (LSP: left shoulder 9 and right hip 2) per sample."""
    truth = np.asarray(truth, float)
    return np.linalg.norm(truth[:, torso[0]] - truth[:, torso[1]], axis=-1)


def pck(predicted, truth, alpha: float = 0.2, torso: tuple[int, int] = LSP_TORSO) -> KeypointAccuracy:
    """PCK@alpha normalised by the torso length; every annotated joint counts, occluded or not."""
    return keypoint_accuracy(predicted, truth, torso_lengths(truth, torso), alpha)


def head_sizes(head_boxes: np.ndarray) -> np.ndarray:
    """MPII's head size: 0.6 × the diagonal of the head box (x1, y1, x2, y2)."""
    boxes = np.asarray(head_boxes, float)
    return MPII_HEAD_FACTOR * np.hypot(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])


def pckh(predicted, truth, head_boxes, alpha: float = 0.5) -> KeypointAccuracy:
    """PCKh@alpha (MPII): normalised by the head size; every annotated joint counts, occluded or not;
    pelvis and thorax are left out of the mean."""
    return keypoint_accuracy(predicted, truth, head_sizes(head_boxes), alpha, MPII_PCKH_EXCLUDED)


def _pck_score(predicted, truth, alpha: float) -> dict[str, float]:
    return {f"pck@{alpha:g}": pck(predicted, truth, alpha).mean}


def _pckh_score(predicted, truth, head_boxes, alpha: float) -> dict[str, float]:
    return {f"pckh@{alpha:g}": pckh(predicted, truth, head_boxes, alpha).mean}


# ---------------------------------------------------------------------------------------------
# The registry a protocol's ``metrics:`` list names


ANGLES = ("yaw", "pitch", "roll")  # the per-angle columns of an MAE, in canonical order


@dataclass(frozen=True)
class Column:
    """One number a table shows: its key in a record's ``metrics`` (or ``counts``), its key in a
    leaderboard row (and the suffix of its CSV column), its header, the digits a table prints, its
    direction, and for a chart the axis label (``unit``) and title (``title``)."""

    key: str
    board: str
    header: str
    digits: int
    higher_is_better: bool = False
    unit: str = ""
    title: str = ""


@dataclass(frozen=True)
class Metric:
    """``compute(predicted, truth, **context)`` → named scores. ``context`` names what it needs besides
    predictions and truth (e.g. MPII head boxes); ``parameter`` the keyword the ``@`` number sets.

    What it means travels with it: the task it scores, whether higher is better, its unit, the largest
    value it can take (1 for shares of joints), the header of its column and, for an MAE, a column per
    angle before the mean. Tables, leaderboards, ``compare`` and record validation read these."""

    name: str
    task: str  # "headpose" (canonical angles) or "bodypose" (joint coordinates)
    compute: Callable[..., dict[str, float]]
    header: str
    unit: str
    title: str = ""  # what a chart of it is called (default: its header)
    higher_is_better: bool = False
    upper: float = math.inf
    per_angle: bool = False
    context: tuple[str, ...] = ()
    parameter: str | None = None
    per_joint: Callable[..., KeypointAccuracy] | None = None  # body pose: the accuracy of each joint

    def columns(self, text: str) -> tuple[Column, ...]:
        """The columns of ``text`` (this metric as a protocol names it, e.g. "pck@0.2"): an MAE's
        yaw, pitch and roll, then the mean, which is always the last column."""
        share = self.upper <= 1
        digits, suffix, up = (4 if share else 2), text[len(self.name):], self.higher_is_better
        header, title = self.header + suffix, (self.title or self.header) + suffix
        mean = Column(text, text.removeprefix("mae_") if self.per_angle and text != "mae" else text, header, digits,
                      up, self.unit if share else f"{header} ({self.unit})", title)
        if not self.per_angle:
            return (mean,)
        prefix = "" if text == "mae" else f"{text.removeprefix('mae_')}_"
        return (*(Column(f"{text}_{angle}", f"{prefix}{angle}", f"{prefix}{angle}".replace("_", " "), digits, up,
                         f"{header} {angle} ({self.unit})", f"{title} {angle}") for angle in ANGLES), mean)


DEGREES, SHARE = "degrees", "share of joints within the threshold"
METRICS: Registry[Metric] = Registry("metric")
for _metric in (
    Metric("mae", "headpose", mean_absolute_errors, "MAE", DEGREES, "mean absolute error", per_angle=True,
           context=("convention",)),
    Metric("mae_wrap180", "headpose", partial(wrapped_absolute_errors, name="mae_wrap180"), "MAE wrap180", DEGREES,
           per_angle=True, context=("convention",)),
    Metric("mae_wrap360", "headpose", partial(wrapped_absolute_errors, name="mae_wrap360"), "MAE wrap360", DEGREES,
           per_angle=True, context=("convention",)),
    Metric("geodesic", "headpose", mean_geodesic_error, "geodesic", DEGREES, "mean geodesic error"),
    Metric("maev", "headpose", mean_vector_error, "MAEV", DEGREES),
    Metric("rotation_fro", "headpose", mean_rotation_distance, "‖I−R·Rᵀ‖", "Frobenius norm, 0–2√2",
           "DAD-3DHeads pose error ‖I − R_pred·R_trueᵀ‖_F", upper=2 * np.sqrt(2)),
    Metric("pck", "bodypose", _pck_score, "PCK", SHARE, higher_is_better=True, upper=1.0, parameter="alpha",
           per_joint=pck),
    Metric("pckh", "bodypose", _pckh_score, "PCKh", SHARE, higher_is_better=True, upper=1.0,
           context=("head_boxes",), parameter="alpha", per_joint=pckh),
):
    METRICS.register(_metric.name)(_metric)

_WITH_PARAMETER = re.compile(r"^(?P<name>[a-z_]+)@(?P<value>[0-9.]+)$")


def parse_metric(text: str) -> tuple[Metric, dict[str, float]]:
    """``"pck@0.2"`` → (the pck metric, {"alpha": 0.2}); ``"mae"`` → (mae, {})."""
    match = _WITH_PARAMETER.match(text)
    metric = METRICS.get(match["name"] if match else text)
    if match and metric.parameter is None:
        raise HpbenchError(f"metric {metric.name!r} takes no @ parameter (got {text!r})")
    if metric.parameter is not None and not match:
        raise HpbenchError(f"metric {metric.name!r} needs its {metric.parameter}: write e.g. {metric.name}@0.5")
    return metric, ({metric.parameter: float(match["value"])} if match else {})


def metric_columns(names) -> tuple[Column, ...]:
    """The columns of a protocol's ``metrics:`` list, in its order."""
    return tuple(column for text in names for column in parse_metric(text)[0].columns(text))


def mean_columns(names) -> tuple[Column, ...]:
    """The one number of each metric of a protocol's ``metrics:`` list (an MAE's mean, not its angles)."""
    return tuple(parse_metric(text)[0].columns(text)[-1] for text in names)


def primary_column(names) -> Column:
    """The column that ranks: the mean of the first metric of a protocol's ``metrics:`` list."""
    return mean_columns(names)[0]


def keypoint_scores(text: str, predicted, truth, **context) -> KeypointAccuracy:
    """The KeypointAccuracy (overall and per joint) of a body-pose metric named as in a protocol."""
    metric, parameters = parse_metric(text)
    if metric.per_joint is None:
        raise HpbenchError(f"metric {text!r} does not score joints")
    return metric.per_joint(predicted, truth, **{k: context[k] for k in metric.context}, **parameters)


def compute_metrics(names, predicted, truth, **context) -> dict[str, float]:
    """Every metric of ``names`` on the predictions; ``context`` supplies what they need (a head-pose
    MAE takes the ``convention`` its errors are measured in, "hpbench" unless given)."""
    context.setdefault("convention", "hpbench")
    scores: dict[str, float] = {}
    for text in names:
        metric, parameters = parse_metric(text)
        missing = [name for name in metric.context if name not in context]
        if missing:
            raise HpbenchError(f"metric {text!r} needs {', '.join(missing)}")
        scores.update(metric.compute(predicted, truth, **{k: context[k] for k in metric.context}, **parameters))
    return scores
