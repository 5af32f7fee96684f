"""Evaluation metrics, numpy only: head-pose errors and PCK / PCKh for body joints."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hpbench.pose import rotation_from_ypr
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
    """(N, 3) angles in degrees between the matching columns of the two rotation matrices (TriNet's
    left, down and front vectors); their mean is MAEV."""
    r_pred, r_true = rotation_from_ypr(predicted_ypr), rotation_from_ypr(truth_ypr)
    cosine = np.einsum("nij,nij->nj", r_pred, r_true)
    return np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))


def head_pose_scores(predicted_ypr, truth_ypr) -> dict[str, float]:
    """MAE per angle and their mean (no wrapping), mean geodesic error and MAEV, in degrees.

    Angles that are NaN in the truth (ETH-XGaze's roll) are left out of the MAE; the rotation-based
    errors need all three angles and are NaN otherwise.
    """
    errors = angle_errors(predicted_ypr, truth_ypr)
    present = ~np.isnan(np.asarray(truth_ypr, float)).all(axis=0)
    scores = {f"mae_{name}": float(np.mean(errors[:, i])) if present[i] else float("nan")
              for i, name in enumerate(("yaw", "pitch", "roll"))}
    scores["mae"] = float(np.mean(errors[:, present].mean(axis=0))) if present.any() else float("nan")
    if present.all():
        scores["geodesic"] = float(np.mean(geodesic_errors(predicted_ypr, truth_ypr)))
        scores["maev"] = float(np.mean(vector_errors(predicted_ypr, truth_ypr)))
    else:
        scores["geodesic"] = scores["maev"] = float("nan")
    return scores


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
    counts: np.ndarray,
    reference: np.ndarray,
    alpha: float,
    excluded_from_mean: tuple[int, ...] = (),
) -> KeypointAccuracy:
    """A joint is correct when ‖predicted − truth‖ ≤ alpha · reference (per sample).

    ``counts`` (N, J) selects the joints that count (e.g. visible ones); a sample whose reference
    length is not positive and finite counts for nothing. The mean pools all counted joints except
    ``excluded_from_mean``.
    """
    predicted, truth = np.asarray(predicted, float), np.asarray(truth, float)
    if predicted.shape != truth.shape or predicted.shape[-1] != 2:
        raise ValueError(f"predicted {predicted.shape} and truth {truth.shape} must both be (N, J, 2)")
    reference = np.asarray(reference, float)
    valid = np.asarray(counts, bool) & (np.isfinite(reference) & (reference > 0))[:, None]
    valid &= np.isfinite(truth).all(axis=-1)
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


def pck(predicted, truth, visible, alpha: float = 0.2, torso: tuple[int, int] = LSP_TORSO) -> KeypointAccuracy:
    """PCK@alpha normalised by the torso length; only visible joints count."""
    return keypoint_accuracy(predicted, truth, visible, torso_lengths(truth, torso), alpha)


def head_sizes(head_boxes: np.ndarray) -> np.ndarray:
    """MPII's head size: 0.6 × the diagonal of the head box (x1, y1, x2, y2)."""
    boxes = np.asarray(head_boxes, float)
    return MPII_HEAD_FACTOR * np.hypot(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])


def pckh(predicted, truth, visible, head_boxes, alpha: float = 0.5) -> KeypointAccuracy:
    """PCKh@alpha (MPII): normalised by the head size; pelvis and thorax are left out of the mean."""
    return keypoint_accuracy(predicted, truth, visible, head_sizes(head_boxes), alpha, MPII_PCKH_EXCLUDED)
