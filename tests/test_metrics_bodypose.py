"""PCK and PCKh on hand-worked cases and against the published evaluations' rules."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io

from hpbench.metrics import head_sizes, keypoint_accuracy, pck, pckh, torso_lengths


def test_keypoint_accuracy_hand_worked():
    truth = np.zeros((2, 3, 2))
    predicted = np.array([[[1, 0], [3, 4], [0, 2.5]], [[0, 0], [6, 8], [np.nan, 0]]], float)
    counts = np.array([[True, True, True], [True, True, False]])
    # distances: sample 0: 1, 5, 2.5 (threshold 0.5·6 = 3); sample 1: 0, 10, NaN (threshold 0.5·10 = 5)
    result = keypoint_accuracy(predicted, truth, reference=np.array([6.0, 10.0]), alpha=0.5, counts=counts)
    np.testing.assert_array_equal(result.per_joint, [1.0, 0.0, 1.0])
    np.testing.assert_array_equal(result.counted, [2, 2, 1])
    assert result.mean == pytest.approx(3 / 5)


def test_boundary_counts_as_correct_and_bad_references_count_for_nothing():
    truth = np.zeros((3, 1, 2))
    predicted = np.array([[[3.0, 4.0]], [[0.0, 0.0]], [[0.0, 0.0]]])
    result = keypoint_accuracy(predicted, truth, np.array([10.0, 0.0, np.nan]), alpha=0.5)
    assert result.per_joint[0] == 1.0 and result.counted[0] == 1  # distance 5 = 0.5 · 10


def test_pck_uses_left_shoulder_to_right_hip():
    truth = np.zeros((1, 14, 2))
    truth[0, 9] = (0, 0)  # left shoulder
    truth[0, 2] = (30, 40)  # right hip: torso = 50
    assert torso_lengths(truth)[0] == 50
    predicted = truth.copy()
    predicted[0, 0] += (6, 8)  # 10 px = 0.2 · 50: correct
    predicted[0, 1] += (6, 8.1)  # just beyond: wrong
    truth[0, 13] = np.nan  # head top not annotated: does not count
    result = pck(predicted, truth, alpha=0.2)
    assert result.per_joint[0] == 1 and result.per_joint[1] == 0 and np.isnan(result.per_joint[13])
    assert result.mean == pytest.approx(12 / 13)


def test_pckh_head_size_and_excluded_joints():
    boxes = np.array([[10, 20, 40, 60]])  # diagonal 50 → head size 30
    assert head_sizes(boxes)[0] == pytest.approx(30.0)
    truth = np.zeros((1, 16, 2))
    predicted = truth.copy()
    predicted[0, :, 0] = 15.0  # every joint 15 px off = 0.5 · 30: all correct at alpha 0.5
    predicted[0, 0, 0] = 15.01  # right ankle just beyond
    predicted[0, 6, 0] = predicted[0, 7, 0] = 100  # pelvis and thorax wrong, but excluded from the mean
    result = pckh(predicted, truth, boxes, alpha=0.5)
    assert result.per_joint[6] == 0 and result.per_joint[7] == 0
    assert result.mean == pytest.approx(13 / 14)


def test_shapes_must_match():
    with pytest.raises(ValueError, match="must both be"):
        keypoint_accuracy(np.zeros((1, 3, 2)), np.zeros((1, 4, 2)), np.ones(1), 0.5)


def eval_pck_rule(pred: np.ndarray, gt: np.ndarray, threshold: float) -> tuple[np.ndarray, float]:
    """The PCK of the MPII benchmark's MATLAB code as bearpaw/eval_pose ships it for LSP
    (utils/eval_pck.m: get_dist_pck, compute_pck), written again: arrays 2 × 14 × N, the torso is
    ‖gt(:,10) − gt(:,3)‖ (1-based: left shoulder, right hip), a joint is right when its distance over
    the torso is <= the threshold, every one of the 14 joints counts, the mean pools all joints."""
    torso = np.sqrt(((gt[:, 10 - 1, :] - gt[:, 3 - 1, :]) ** 2).sum(axis=0))
    dist = np.sqrt(((pred - gt) ** 2).sum(axis=0)) / torso  # 14 × N
    return (dist <= threshold).mean(axis=1), float((dist <= threshold).mean())


def hrnet_pckh_rule(pred: np.ndarray, gt: np.ndarray, headboxes: np.ndarray, missing: np.ndarray,
                    threshold: float) -> tuple[np.ndarray, float]:
    """PCKh as leoxiaobin/deep-high-resolution-net.pytorch computes it (lib/dataset/mpii.py,
    MPIIDataset.evaluate), written again: arrays 16 × 2 × N and head boxes 2 × 2 × N; head size 0.6 ×
    the box diagonal; the joints that count are the annotated ones (1 − jnt_missing), visible or not;
    <= the threshold; the mean weights each joint by its count with pelvis (6) and thorax (7) masked."""
    visible = 1 - missing
    err = np.linalg.norm(np.nan_to_num(pred - gt), axis=1)
    size = np.linalg.norm(headboxes[1] - headboxes[0], axis=0) * 0.6
    scaled = err / size * visible
    count = visible.sum(axis=1)
    per_joint = ((scaled <= threshold) * visible).sum(axis=1) / count
    keep = np.ones(16, bool)
    keep[6:8] = False
    return per_joint, float((per_joint * count)[keep].sum() / count[keep].sum())


def test_pck_equals_the_lsp_benchmark_code_on_the_real_lsp_joints(real_samples):
    """The real joints.mat (2,000 people; 7.3 % of joints occluded, and still scored by the benchmark)."""
    raw = scipy.io.loadmat(real_samples / "lsp" / "joints.mat")["joints"]  # 3 × 14 × 2000, row 3: 1 = occluded
    gt = raw[:2]
    torso = np.linalg.norm(gt[:, 9] - gt[:, 2], axis=0)
    pred = gt + np.random.default_rng(0).normal(0, 0.15, gt.shape) * torso  # about half within 0.2 · torso
    theirs_per_joint, theirs = eval_pck_rule(pred, gt, 0.2)
    ours = pck(pred.transpose(2, 1, 0), gt.transpose(2, 1, 0), alpha=0.2)
    np.testing.assert_allclose(ours.per_joint, theirs_per_joint, rtol=0, atol=1e-12)
    assert ours.mean == pytest.approx(theirs, abs=1e-12) and 0.3 < ours.mean < 0.7
    # scoring only the visible joints (hpbench before) gives another number on this file
    occluded = raw[2].T.astype(bool)
    assert occluded.mean() == pytest.approx(0.073, abs=1e-3)
    visible_only = keypoint_accuracy(pred.transpose(2, 1, 0), gt.transpose(2, 1, 0), torso, 0.2, counts=~occluded)
    assert abs(visible_only.mean - theirs) > 1e-4


def test_pckh_equals_hrnets_mpii_evaluation():
    rng = np.random.default_rng(1)
    n = 60
    gt = rng.uniform(0, 500, (16, 2, n))
    corner = rng.uniform(0, 400, (2, n))
    headboxes = np.stack([corner, corner + rng.uniform(20, 80, (2, n))])  # 2 (corners) × 2 × N
    size = np.linalg.norm(headboxes[1] - headboxes[0], axis=0) * 0.6
    pred = gt + rng.normal(0, 0.4, gt.shape) * size
    missing = (rng.random((16, n)) < 0.1).astype(float)
    theirs_per_joint, theirs = hrnet_pckh_rule(pred, gt, headboxes, missing, 0.5)
    truth = np.where(missing.T[:, :, None] > 0, np.nan, gt.transpose(2, 0, 1))  # not annotated: NaN in hpbench
    ours = pckh(pred.transpose(2, 0, 1), truth, headboxes.transpose(2, 0, 1).reshape(n, 4), alpha=0.5)
    np.testing.assert_allclose(ours.per_joint, theirs_per_joint, rtol=0, atol=1e-12)
    assert ours.mean == pytest.approx(theirs, abs=1e-12) and 0.3 < ours.mean < 0.9
