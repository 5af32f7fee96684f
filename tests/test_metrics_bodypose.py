"""PCK and PCKh on hand-worked cases."""

from __future__ import annotations

import numpy as np
import pytest

from hpbench.metrics import head_sizes, keypoint_accuracy, pck, pckh, torso_lengths


def test_keypoint_accuracy_hand_worked():
    truth = np.zeros((2, 3, 2))
    predicted = np.array([[[1, 0], [3, 4], [0, 2.5]], [[0, 0], [6, 8], [np.nan, 0]]], float)
    counts = np.array([[True, True, True], [True, True, False]])
    # distances: sample 0: 1, 5, 2.5 (threshold 0.5·6 = 3); sample 1: 0, 10, NaN (threshold 0.5·10 = 5)
    result = keypoint_accuracy(predicted, truth, counts, reference=np.array([6.0, 10.0]), alpha=0.5)
    np.testing.assert_array_equal(result.per_joint, [1.0, 0.0, 1.0])
    np.testing.assert_array_equal(result.counted, [2, 2, 1])
    assert result.mean == pytest.approx(3 / 5)


def test_boundary_counts_as_correct_and_bad_references_count_for_nothing():
    truth = np.zeros((3, 1, 2))
    predicted = np.array([[[3.0, 4.0]], [[0.0, 0.0]], [[0.0, 0.0]]])
    result = keypoint_accuracy(predicted, truth, np.ones((3, 1), bool), np.array([10.0, 0.0, np.nan]), alpha=0.5)
    assert result.per_joint[0] == 1.0 and result.counted[0] == 1  # distance 5 = 0.5 · 10


def test_pck_uses_left_shoulder_to_right_hip():
    truth = np.zeros((1, 14, 2))
    truth[0, 9] = (0, 0)  # left shoulder
    truth[0, 2] = (30, 40)  # right hip: torso = 50
    assert torso_lengths(truth)[0] == 50
    predicted = truth.copy()
    predicted[0, 0] += (6, 8)  # 10 px = 0.2 · 50: correct
    predicted[0, 1] += (6, 8.1)  # just beyond: wrong
    visible = np.ones((1, 14), bool)
    visible[0, 13] = False  # head top does not count
    result = pck(predicted, truth, visible, alpha=0.2)
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
    result = pckh(predicted, truth, np.ones((1, 16), bool), boxes, alpha=0.5)
    assert result.per_joint[6] == 0 and result.per_joint[7] == 0
    assert result.mean == pytest.approx(13 / 14)


def test_shapes_must_match():
    with pytest.raises(ValueError, match="must both be"):
        keypoint_accuracy(np.zeros((1, 3, 2)), np.zeros((1, 4, 2)), np.ones((1, 3), bool), np.ones(1), 0.5)
